"""What a call and its transport need of each other, as two narrow protocols.

A transport (``webrtc_link.WebRtcLink``, ``websocket_link.WebSocketLink``)
drives a :class:`CallCore` (opened, a client message, a 20 ms frame of 16 kHz
input, close) and is a :class:`Link` to it: it carries events and reply audio
out, says whether it is playing, and closes.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from audio.server.audio_out import AudioOut


class CallCore(Protocol):
    """What a transport drives of a call."""

    def opened(self) -> None: ...

    def receive(self, message: str | bytes) -> None: ...

    def take_input(self, frame: np.ndarray) -> None: ...

    def is_connecting(self) -> bool: ...

    async def close(self, reason: str = "closed") -> None: ...


class Link(Protocol):
    """What a call needs of its transport."""

    @property
    def kind(self) -> str: ...

    @property
    def accepts_appended_audio(self) -> bool: ...

    @property
    def audio_out(self) -> AudioOut: ...

    def attach(self, core: CallCore) -> None: ...

    def now_playing(self) -> str | None: ...

    def stop_playing(self) -> str | None: ...

    def send_raw(self, text: str) -> None: ...

    async def drain(self) -> None: ...

    async def close(self) -> None: ...
