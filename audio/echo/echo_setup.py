"""Which defence against the assistant hearing itself a conversation uses, and wiring it up.

``echo_cancellation`` on the realtime-conversation node:

* ``aec``: WebRTC echo cancellation between the speaker and the microphone
  (:mod:`audio.echo.echo_cancel`); the service's VAD hears the cleaned microphone
  and the echo guard is open, so the person can interrupt the assistant. While
  the canceller converges (its first ~3 s of the assistant's voice, during
  which AEC3 still leaks some echo) its own double-talk gate mutes what is no
  louder than the echo predicted from the speaker's reference.
* ``guard``: the playback-aware echo guard (mutes probable echo).
* ``off``: neither (headphones).
* ``auto`` (default): ``aec`` when the microphone and the speaker are real
  devices; the guard until a speaker attaches, and the guard (with a one-line
  notice) when the echo-cancellation package is missing. With an input file
  (no room, so no echo) neither: a guard there would only mute a person who
  talks while the reply plays.

With the canceller, a local barge-in (:mod:`audio.echo.local_barge_in`)
listens to the cleaned microphone and holds playback as soon as the person
talks over the assistant, until the service's ``speech_started`` confirms it.

Cancellation needs both ends: the microphone's capture hook (a file input has
none: there is no room, so no echo) and a speaker playing the assistant's pipe
(a file or null output never attaches, so nothing is cancelled).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from audio.echo.echo_cancel import INSTALL_HINT, MISSING_NOTICE, EchoCanceller, apm_available
from audio.base.errors import VoxflowError
from audio.echo.echo_guard import EchoGuard

if TYPE_CHECKING:
    from audio.echo.local_barge_in import LocalBargeIn

EchoMode = Literal["auto", "aec", "guard", "off"]


def has_capture_hook(source: Any) -> bool:
    """A real microphone (it can run a processor right after capture)."""
    return source is not None and hasattr(source, "capture_processor")


@dataclass
class EchoSetup:
    """The plan for one conversation: whether the guard starts on, the canceller, a notice to show."""

    mode: EchoMode
    guard: bool
    canceller: EchoCanceller | None = None
    notice: str | None = None
    barge_in: LocalBargeIn | None = None
    """Holds playback when the cleaned microphone hears the person (None: no canceller, or push-to-talk)."""

    @property
    def label(self) -> str:
        """What is defending right now: ``aec``, ``guard`` or ``off`` (for the connection panel)."""
        if self.canceller is not None and self.canceller.active:
            return "aec" if self.canceller.converged else "aec (converging)"
        if self.guard:
            return "guard"
        return "off"

    @property
    def erle_db(self) -> float | None:
        """The live estimate of the echo removed (None without cancellation or before any echo)."""
        return self.canceller.erle_db if self.canceller is not None and self.canceller.active else None

    def attach(
        self, microphone: Any, pipe: Any, guard: EchoGuard, *, allow_guard: bool = True, vad_threshold: float | None = 0.5
    ) -> None:
        """Clean ``microphone``'s capture against whatever speaker plays ``pipe``; open ``guard`` when one attaches.

        From then on the canceller's :class:`~audio.echo.echo_cancel.ConvergenceGate`
        covers its first seconds instead of the guard (``allow_guard=False``, the
        node's ``echo_guard: false``, turns that gate off too). ``vad_threshold``
        is the session's speech threshold for the local barge-in (None: none, as
        with push-to-talk, where nobody barges in by voice).
        """
        canceller = self.canceller
        if canceller is None:
            return

        def speaker_attached() -> None:
            self.guard = guard.enabled = False

        if not allow_guard:
            canceller.gate = None
        canceller.on_reference = speaker_attached
        microphone.capture_processor = canceller.process
        pipe.playback_taps.append(canceller.note_played)
        pipe.on_speaker.append(canceller.attach_speaker)
        if vad_threshold is not None and hasattr(pipe, "hold"):
            from audio.echo.local_barge_in import LocalBargeIn

            self.barge_in = LocalBargeIn(pipe, vad_threshold)
            self.barge_in.warm_up()
            pipe.playback_taps.append(self.barge_in.played)
            microphone.capture_processor = self._process

    def _process(self, block: Any, rate: int) -> Any:
        """The canceller, then the local barge-in's detector on what it cleaned (the microphone's event loop)."""
        assert self.canceller is not None
        cleaned = self.canceller.process(block, rate)
        if self.barge_in is not None and self.canceller.active:
            self.barge_in.heard(cleaned, rate)
        return cleaned

    def detach(self, microphone: Any) -> None:
        if self.canceller is not None and getattr(microphone, "capture_processor", None) in (
            self.canceller.process,
            self._process,
        ):
            microphone.capture_processor = None
        if self.barge_in is not None:
            self.barge_in.close()


def plan_echo(
    mode: EchoMode,
    microphone: Any,
    *,
    noise_suppression: bool = False,
    available: Callable[[], bool] = apm_available,
) -> EchoSetup:
    """Resolve ``mode`` against the microphone and the installed packages (see the module docstring)."""
    if mode == "off":
        return EchoSetup(mode, guard=False)
    if mode == "guard":
        return EchoSetup(mode, guard=True)
    real_mic = has_capture_hook(microphone)
    if mode == "aec":
        if not available():
            raise VoxflowError("echo_cancellation: aec needs the livekit package", hint=f"Install it: {INSTALL_HINT}")
        if not real_mic:
            return EchoSetup(mode, guard=False)  # no room, no echo: nothing to cancel
        return EchoSetup(mode, guard=False, canceller=EchoCanceller(noise_suppression=noise_suppression))
    if not real_mic:
        return EchoSetup(mode, guard=False)  # a file or scripted input has no room: a guard would only mute speech
    if not available():
        return EchoSetup(mode, guard=True, notice=MISSING_NOTICE)
    return EchoSetup(mode, guard=True, canceller=EchoCanceller(noise_suppression=noise_suppression))
