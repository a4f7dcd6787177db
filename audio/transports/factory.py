"""Which transport a session uses: the factory the session core calls for each new connection.

``webrtc`` and ``websocket`` are the two :class:`RealtimeTransport`
implementations; ``auto`` is :class:`AutoTransport`, which tries WebRTC and,
when ICE does not connect within ``fallback_after`` seconds (UDP blocked,
a strict firewall), closes it and opens a WebSocket instead, saying why.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from audio.base.errors import VoxflowError
from audio.wire.config import SessionConfig
from audio.transports.secrets import EphemeralSecret
from audio.transports.transport import AudioPaths, RealtimeTransport, TransportCallbacks, TransportFactory

if TYPE_CHECKING:
    from audio.transports.tracks import SourceTrack


def _webrtc(config: SessionConfig, callbacks: TransportCallbacks) -> RealtimeTransport:
    from audio.transports.webrtc import WebRtcTransport  # aiortc: imported when a session connects

    return WebRtcTransport(config.base_url, callbacks, ice_servers=config.ice_servers)


def _websocket(config: SessionConfig, callbacks: TransportCallbacks) -> RealtimeTransport:
    from audio.transports.websocket import WebSocketTransport

    return WebSocketTransport(config.base_url, config.model, callbacks)


def transport_factory(config: SessionConfig, notice: Callable[[str], None]) -> TransportFactory:
    """The factory for ``config.transport``; ``notice`` tells the user about a fallback."""
    if config.transport == "websocket":
        return lambda callbacks: _websocket(config, callbacks)
    if config.transport == "auto":
        return lambda callbacks: AutoTransport(config, callbacks, notice)
    return lambda callbacks: _webrtc(config, callbacks)


class AutoTransport:
    """WebRTC first; WebSocket when ICE has not connected within ``config.fallback_after`` seconds."""

    def __init__(self, config: SessionConfig, callbacks: TransportCallbacks, notice: Callable[[str], None]) -> None:
        self._config = config
        self._callbacks = callbacks
        self._notice = notice
        self._trying_webrtc = False
        self._webrtc_failed = asyncio.Event()
        self._webrtc_failure = ""
        self.fallback_reason: str | None = None
        self.current: RealtimeTransport | None = None

    @property
    def name(self) -> str:
        return self.current.name if self.current is not None else "WebRTC"

    @property
    def server_playback(self) -> bool:
        return self.current.server_playback if self.current is not None else True

    @property
    def is_open(self) -> bool:
        return self.current is not None and self.current.is_open

    @property
    def appends_input(self) -> bool:
        return self.current.appends_input if self.current is not None else False

    @property
    def max_event_bytes(self) -> int | None:
        return self.current.max_event_bytes if self.current is not None else None

    def _webrtc_closed(self, reason: str, error: bool) -> None:
        if self._trying_webrtc:  # while we still may fall back, an ICE failure is a reason to, not an end
            self._webrtc_failure = reason
            self._webrtc_failed.set()
        else:
            self._callbacks.on_closed(reason, error)

    async def open(self, secret: EphemeralSecret, audio: AudioPaths) -> str:
        callbacks = TransportCallbacks(self._callbacks.on_message, self._callbacks.on_state, self._webrtc_closed)
        self.current = rtc = _webrtc(self._config, callbacks)
        self._trying_webrtc = True
        try:
            call_id = await rtc.open(secret, audio)
            why = await self._wait_connected(rtc)
        finally:
            self._trying_webrtc = False
        if why is None:
            if self._webrtc_failed.is_set():  # failed in the instant after opening: report it as the end
                self._callbacks.on_closed(self._webrtc_failure, True)
            return call_id
        await rtc.close()
        self.fallback_reason = why
        self._notice(f"WebRTC did not connect ({why}): using WebSocket instead.")
        self.current = ws = _websocket(self._config, self._callbacks)
        return await ws.open(secret, audio)

    async def _wait_connected(self, rtc: RealtimeTransport) -> str | None:
        """None once the event channel is open; else why WebRTC is given up."""
        opened = asyncio.ensure_future(rtc.wait_open())
        failed = asyncio.ensure_future(self._webrtc_failed.wait())
        try:
            done, _ = await asyncio.wait({opened, failed}, timeout=self._config.fallback_after,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in (opened, failed):
                future.cancel()
            await asyncio.gather(opened, failed, return_exceptions=True)
        if opened in done and not opened.cancelled() and opened.exception() is None:
            return None
        if self._webrtc_failed.is_set():
            return self._webrtc_failure
        ice = getattr(rtc, "ice_state", "new")
        return f"ICE still {ice} after {self._config.fallback_after:g} s; UDP may be blocked"

    async def wait_open(self) -> None:
        if self.current is None:
            raise VoxflowError("the session is not connected: connect first")
        await self.current.wait_open()

    def send(self, event: dict[str, Any]) -> None:
        if self.current is None:
            raise VoxflowError("the session is not connected: connect first")
        self.current.send(event)

    def move_send(self, track: SourceTrack | None) -> None:
        if self.current is not None:
            self.current.move_send(track)

    async def close(self) -> None:
        current, self.current = self.current, None
        if current is not None:
            await current.close()
