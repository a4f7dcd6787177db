"""The media paths of one connection: microphone → sending track, received audio → playback pipe.

The microphone goes through the :class:`~audio.session.input_gate.InputGate`
(levels, echo guard) into a paced :class:`~audio.transports.tracks.SourceTrack` whose gate
is mute/push-to-talk; the transport takes frames from that track. Received
audio arrives, already decoded by the transport, in an
:class:`~audio.dsp.pipe.AudioPipe` registered for downstream nodes (speaker,
recorder). Every played frame feeds the levels, the echo guard, the turn
latency, the recorder and any playback listeners (e.g. an echo canceller's
reference), so transports and features plug in here without touching the
session core.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from audio.base.clock import Clock
from audio.base.errors import VoxflowError
from audio.dsp.frames import FRAME_MS, AudioSource
from audio.dsp.levels import LevelMeter, rms_dbfs
from audio.dsp.pipe import AudioPipe
from audio.echo.echo_guard import AUDIBLE_DBFS, EchoGuard
from audio.session.events import Levels, SessionEvent
from audio.session.heard_audio import HeardAudio
from audio.session.input_gate import InputGate
from audio.session.reply_cuts import ReplyCuts
from audio.transports.transport import AudioPaths
from audio.session.turn_latency import TurnLatencyMeter
from audio.base.registry import AudioRegistry

if TYPE_CHECKING:
    from audio.transports.tracks import SourceTrack

log = logging.getLogger(__name__)

LEVELS_INTERVAL = 0.1  # publish levels at most ~10 times a second
AUDIBLE_RECENTLY = 2 * FRAME_MS / 1000  # reply audio this recent is still being heard
OUTPUT_PIPE_MS = 2000
BURST_PIPE_MS = 300_000
"""Where the reply arrives faster than real time (WebSocket), the pipe holds it whole: 5 minutes, 14 MB at 24 kHz."""

MAX_INPUT_MARKS = 10_000  # schedule restarts remembered per connection (each one a stall of half a second)

PlaybackListener = Callable[[np.ndarray], None]


class Recorder(Protocol):
    """Where both sides of the conversation are recorded (``audio/io/recorder.py``), each chunk at its clock time."""

    def write_user(self, pcm: np.ndarray, rate: int, at: float | None = None) -> None:
        """A frame the sending track took, ``at`` the clock time it was sent."""

    def write_assistant(self, pcm: np.ndarray, rate: int, at: float | None = None) -> None:
        """A frame of the reply, ``at`` the clock time it was handed to playback."""

    def cut_assistant(self, at: float | None = None) -> None:
        """Playback was flushed at ``at``: reply audio queued after that was never played."""


def resolve_input(registry: AudioRegistry, source: AudioSource | None, stream_id: str | None) -> AudioSource | None:
    """The microphone: a source given directly, or the stream an ``audio-input`` node registered."""
    if source is not None:
        return source
    if stream_id is not None:
        stream = registry.get(stream_id)
        if not hasattr(stream, "read"):
            raise VoxflowError(
                f"audio stream {stream_id!r} is not an audio source",
                hint="Connect an audio-input node to the realtime-conversation node's audio-in.",
            )
        return stream  # type: ignore[no-any-return]
    return None


class MediaPaths:
    """The audio of one connection; :meth:`close` releases what it created (not the upstream source)."""

    def __init__(
        self,
        *,
        clock: Clock,
        registry: AudioRegistry,
        echo_guard: EchoGuard,
        latency: TurnLatencyMeter,
        publish: Callable[[SessionEvent], None],
        source: AudioSource | None,
        gate_open: bool,
        output_sample_rate: int,
        output_channels: int,
        recorder: Recorder | None = None,
        on_user_audio: Callable[[float], None] | None = None,
        playback_listeners: tuple[PlaybackListener, ...] = (),
        output: tuple[AudioPipe, str] | None = None,
        echo_status: Callable[[], tuple[str, float | None]] | None = None,
        barge_ins: Callable[[], int] | None = None,
    ) -> None:
        self._clock = clock
        self._registry = registry
        self._echo_guard = echo_guard
        self._latency = latency
        self._publish = publish
        self._recorder = recorder
        self._on_user_audio = on_user_audio
        self.playback_listeners: list[PlaybackListener] = list(playback_listeners)
        self._echo_status = echo_status
        self._barge_ins = barge_ins
        self.sent_seconds = 0.0  # audio sent and received on this connection (published with the levels)
        self.played_seconds = 0.0
        self.output_sample_rate = output_sample_rate
        self.output_channels = output_channels
        self._input_meter = LevelMeter()
        self._output_meter = LevelMeter()
        self._levels_published_at = float("-inf")
        self.played_at: float | None = None  # clock time of the last received frame
        self.audible_at: float | None = None  # clock time of the last received frame loud enough to hear
        self._bursts = False  # the reply arrives faster than real time: it plays back to back from the pipe
        self._playing_until = 0.0  # with bursts: when what the pipe holds will have played (for the recording)
        self.heard = HeardAudio()  # per-item audio received, for truncation where the server does not track playback
        self.cuts = ReplyCuts()  # responses a barge-in cut: their late audio is dropped

        self._owns_output = output is None  # a handed-over stream belongs to the session, not to this connection
        if output is None:  # a new playback stream; ``output``: the one a previous connection handed over
            pipe = AudioPipe(output_sample_rate, output_channels, max_ms=OUTPUT_PIPE_MS)
            output = (pipe, registry.register(pipe, hint="realtime-out"))
        self.output_pipe: AudioPipe | None = output[0]
        self.output_stream_id: str | None = output[1]
        self._unlisten_flush = self.output_pipe.add_flush_listener(self._on_flush)
        self.input_gate: InputGate | None = None
        self.send_track: SourceTrack | None = None
        self._input_marks: list[tuple[float, float]] = []
        """(input position in ms on the live connection, clock time that frame was sent): at the first frame
        and wherever the track's schedule jumped (it restarts after a stall rather than send a burst)."""
        self._frames_before_connection = 0  # frames the track had sent before it fed the live connection
        if source is not None:
            from audio.transports.tracks import SourceTrack  # aiortc + PyAV: imported when a session connects

            self.input_gate = InputGate(source, echo_guard=echo_guard, on_frame=self._on_input_frame)
            self.send_track = SourceTrack(self.input_gate, clock=clock, on_frame=self._on_sent_frame, gate_open=gate_open)

    def paths(self, *, send_later: bool = False) -> AudioPaths:
        """What a transport needs; ``send_later``: a connection opened ahead, sent the track at the handover."""
        assert self.output_pipe is not None, "the media paths are closed"
        return AudioPaths(
            send=None if send_later else self.send_track,
            send_later=send_later and self.send_track is not None,
            receive=self.output_pipe,
            receive_rate=self.output_sample_rate,
            receive_channels=self.output_channels,
            on_received=self._on_output_frame,
            on_item_audio=self.heard.received,
            wanted_response=self.cuts.wanted,
        )

    @property
    def input_ended(self) -> bool:
        return self.input_gate is not None and self.input_gate.ended.is_set()

    def set_gate(self, open_: bool) -> None:
        if self.send_track is not None:
            self.send_track.set_gate(open_)

    def expect_bursts(self) -> None:
        """The transport delivers replies faster than real time: queue a whole reply instead of dropping its start."""
        self._bursts = True
        if self.output_pipe is not None:
            self.output_pipe.max_frames = max(self.output_pipe.max_frames, BURST_PIPE_MS // FRAME_MS)

    def truncations(self) -> list[dict[str, Any]]:
        """The ``conversation.item.truncate`` events for cutting playback now (what is queued was never heard)."""
        return self.heard.truncations(self.output_pipe.playout_ms if self.output_pipe is not None else 0.0)

    def flush_playback(self) -> None:
        if self.output_pipe is not None:
            self.output_pipe.flush()  # also resets the echo guard and cuts the recording (flush listener)
        else:
            self._on_flush()

    def input_moved(self) -> None:
        """The sending track feeds a new connection from its next frame (a handover): that connection's audio time starts there."""
        self._input_marks = []
        self._frames_before_connection = self.send_track.frames_sent if self.send_track is not None else 0

    def input_time(self, ms: float) -> float | None:
        """When the live connection's input audio at ``ms`` (the service's ``audio_start_ms``/``audio_end_ms``) was sent.

        The track sends a 20 ms frame every 20 ms, silence included when the
        source has nothing, so positions follow its schedule; None before the first frame.
        """
        if not self._input_marks:
            return None
        position, at = self._input_marks[0]
        for mark_position, mark_at in self._input_marks:
            if mark_position > ms:
                break
            position, at = mark_position, mark_at
        return at + (ms - position) / 1000.0

    def audible_now(self) -> bool:
        """Reply audio is being heard: an audible frame came within the last two frames' time."""
        return self.audible_at is not None and self._clock.monotonic() - self.audible_at <= AUDIBLE_RECENTLY

    def hand_over_output(self) -> tuple[AudioPipe, str] | None:
        """Give the playback stream to the next connection (renewal): :meth:`close` then leaves it registered."""
        if self.output_pipe is None or self.output_stream_id is None:
            return None
        output = (self.output_pipe, self.output_stream_id)
        self._unlisten_flush()
        self.output_pipe = self.output_stream_id = None
        return output

    async def close(self) -> None:
        """Stop the microphone path and the send track; unregister the playback pipe."""
        if self.input_gate is not None:
            self.input_gate.stop()
        track, self.send_track = self.send_track, None
        if track is not None:
            await track.aclose()
        stream_id, self.output_stream_id = self.output_stream_id, None
        self.output_pipe = None
        self._unlisten_flush()
        if stream_id is not None and self._owns_output:
            self._registry.unregister(stream_id)

    # --- hooks ------------------------------------------------------------------
    def _on_input_frame(self, raw: np.ndarray) -> None:
        """Every microphone frame (before echo guard and gate): the input level."""
        self._input_meter.update(raw)
        self._maybe_publish_levels()

    def _on_sent_frame(self, pcm: np.ndarray, gated: bool) -> None:
        """Every frame the track takes from the source, as it is sent: push-to-talk capture, the input's time, the recording."""
        track = self.send_track
        rate = track.sample_rate if track is not None else 48_000
        sent = track.due if track is not None else self._clock.monotonic()  # its place in the paced stream
        if track is not None:
            position = float((track.frames_sent - self._frames_before_connection) * FRAME_MS)
            expected = self.input_time(position)
            if (expected is None or abs(sent - expected) > 0.002) and len(self._input_marks) < MAX_INPUT_MARKS:
                self._input_marks.append((position, sent))
        self.sent_seconds += pcm.shape[0] / rate
        if not gated and self._on_user_audio is not None:
            self._on_user_audio(pcm.shape[0] * 1000.0 / rate)
        if self._recorder is not None:
            self._recorder.write_user(np.zeros_like(pcm) if gated else pcm, rate, sent)

    def _on_output_frame(self, pcm: np.ndarray) -> None:
        self.played_seconds += pcm.shape[0] / self.output_sample_rate
        self._output_meter.update(pcm)
        self._echo_guard.note_playback(pcm)
        self._latency.played(pcm)
        self.played_at = now = self._clock.monotonic()
        if rms_dbfs(pcm) > AUDIBLE_DBFS:
            self.audible_at = now
        if self._recorder is not None:
            at = now
            if self._bursts:  # it plays when what was queued before it has played
                at = max(now, self._playing_until)
                self._playing_until = at + pcm.shape[0] / self.output_sample_rate
            self._recorder.write_assistant(pcm, self.output_sample_rate, at)
        for listener in tuple(self.playback_listeners):
            try:
                listener(pcm)
            except Exception:
                log.exception("a playback listener failed")
        self._maybe_publish_levels()

    def _on_flush(self) -> None:
        """Local playback was cut (barge-in): the echo guard starts over, the recording drops what was never played."""
        self._echo_guard.reset()
        self.cuts.flushed()
        self._playing_until = 0.0
        if self._recorder is not None:
            self._recorder.cut_assistant(self._clock.monotonic())

    def _maybe_publish_levels(self) -> None:
        now = self._clock.monotonic()
        if now - self._levels_published_at >= LEVELS_INTERVAL:
            self._levels_published_at = now
            heard, played = self._input_meter.level, self._output_meter.level
            echo, removed = self._echo_status() if self._echo_status is not None else (None, None)
            barge_ins = self._barge_ins() if self._barge_ins is not None else 0
            self._publish(Levels(heard.rms_dbfs, heard.peak_dbfs, played.rms_dbfs, played.peak_dbfs, echo, removed,
                                 round(self.sent_seconds, 3), round(self.played_seconds, 3), barge_ins))

