"""The transport seam: what the session core needs from a connection to a Realtime service.

A transport carries JSON events both ways and the audio both ways, and reports
its state and its end; it knows nothing about conversation semantics. WebRTC
(``webrtc.py``) and WebSocket (``websocket.py``) both implement
:class:`RealtimeTransport`; the session core, the app and the headless runner
cannot tell them apart except by :attr:`RealtimeTransport.name`, which the
connection panel shows. A renewal or reconnection is simply a new transport
under the same session; a handover opens it while the old one still talks and
then moves the microphone track to it (:meth:`RealtimeTransport.move_send`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from audio.dsp.frames import AudioSink
from audio.transports.secrets import EphemeralSecret

if TYPE_CHECKING:
    from audio.transports.tracks import SourceTrack


@dataclass(frozen=True)
class TransportCallbacks:
    """How a transport reports to the session (all called on the event loop)."""

    on_message: Callable[[str | bytes], None]  # one server event, as received
    on_state: Callable[[str, str], None]  # (link state, event-channel state) for the connection panel
    on_closed: Callable[[str, bool], None]  # (reason, error): the connection ended without close()


@dataclass(frozen=True)
class AudioPaths:
    """The media the session hands a transport: a paced, gated microphone track and a playback sink."""

    send: "SourceTrack | None"
    receive: AudioSink  # receives PCM16 frames in ``receive_rate`` / ``receive_channels``
    receive_rate: int
    receive_channels: int
    on_received: Callable[[np.ndarray], None] | None = None  # each frame written to ``receive`` (levels, echo guard)
    send_later: bool = False  # no track yet, but negotiate sending: the microphone moves here later (``move_send``)
    on_item_audio: Callable[[str, int, float], None] | None = None
    """(item id, content index, ms) per audio delta, where the reply arrives as events (WebSocket): ``heard_audio.py``."""
    wanted_response: Callable[[str], bool] | None = None
    """Whether audio of this response id is still to be played (False: a barge-in cut it), where audio names its response."""


class RealtimeTransport(Protocol):
    """One connection to a Realtime service."""

    @property
    def name(self) -> str:
        """Shown in the connection panel: "WebRTC", "WebSocket"."""

    @property
    def server_playback(self) -> bool:
        """The server tracks playback (``output_audio_buffer.*`` events, ``output_audio_buffer.clear``)."""

    @property
    def is_open(self) -> bool: ...

    @property
    def appends_input(self) -> bool:
        """The microphone travels as ``input_audio_buffer.append`` events (WebSocket), not a media track (WebRTC)."""

    @property
    def max_event_bytes(self) -> int | None:
        """The largest client event the event channel carries (a WebRTC data channel's message size); None: no limit."""

    async def open(self, secret: EphemeralSecret, audio: AudioPaths) -> str:
        """Connect and start the audio paths; returns the call id ("" if the service names none). May raise VoxflowError."""

    async def wait_open(self) -> None:
        """Until the event channel can carry client events."""

    def send(self, event: dict[str, Any]) -> None:
        """Send one client event (raises if the channel is not open)."""

    def move_send(self, track: "SourceTrack | None") -> None:
        """Send this microphone track from now on (None: send nothing), without renegotiating.

        A handover (``handover.py``) opens the next connection with
        ``send_later`` and moves the live track to it at a turn boundary.
        """

    async def close(self) -> None:
        """Release everything (idempotent, never raises); no ``on_closed`` after this."""


TransportFactory = Callable[[TransportCallbacks], RealtimeTransport]


@dataclass(frozen=True)
class LinkStats:
    """What a transport can tell of its link: round trip, receive jitter buffer, concealed frames."""

    rtt_ms: float | None = None
    jitter_buffer_ms: float | None = None
    jitter_target_ms: float | None = None
    concealed_frames: int = 0


@runtime_checkable
class LinkStatsSource(Protocol):
    """A transport that measures its link (WebRTC does; the latency budget samples it)."""

    async def link_stats(self) -> LinkStats: ...
