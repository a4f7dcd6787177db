"""An in-process transport for session-core tests: it answers like a minimal service, with no network.

It implements :class:`~audio.transports.transport.RealtimeTransport` (mypy checks
it), sends ``session.created`` when opened, records every client event and the
microphone track it is sending, and can be told to fail in ``open()`` or to
hang in ``close()`` so failures and cancellation during teardown can be tested.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

from audio.base.errors import VoxflowError
from audio.transports.secrets import EphemeralSecret
from audio.transports.transport import AudioPaths, RealtimeTransport, TransportCallbacks

if TYPE_CHECKING:
    from audio.transports.tracks import SourceTrack


class LoopbackTransport:
    name = "Loopback"
    server_playback = False
    appends_input = False
    max_event_bytes: int | None = None

    def __init__(self, callbacks: TransportCallbacks, call_id: str = "loop_1") -> None:
        self.callbacks = callbacks
        self.call_id = call_id
        self.fail_open: VoxflowError | None = None  # set: open() raises it (a refused or unreachable service)
        self.sent: list[dict[str, Any]] = []
        self.opened = False
        self.closed = False
        self.hang_in_close: asyncio.Event | None = None  # set: close() waits for it
        self.close_started = asyncio.Event()
        self.refuse: set[str] = set()  # client event types answered with an error (like a stricter server)
        self.send_track: SourceTrack | None = None  # the microphone track this connection sends now
        self.sends = False

    @property
    def is_open(self) -> bool:
        return self.opened and not self.closed

    async def open(self, secret: EphemeralSecret, audio: AudioPaths) -> str:
        if self.fail_open is not None:
            raise self.fail_open
        self.audio = audio
        self.send_track = audio.send
        self.sends = audio.send is not None or audio.send_later
        self.opened = True
        self.callbacks.on_state("connected", "open")
        loop = asyncio.get_running_loop()
        loop.call_soon(self.server, {"type": "session.created", "session": {"model": "gpt-realtime"}})
        return self.call_id

    async def wait_open(self) -> None:
        return None

    def send(self, event: dict[str, Any]) -> None:
        self.sent.append(event)
        if event["type"] in self.refuse:
            error = {"type": "invalid_request_error", "code": None, "message": f"{event['type']} is not supported",
                     "event_id": event.get("event_id")}
            asyncio.get_running_loop().call_soon(self.server, {"type": "error", "error": error})

    def move_send(self, track: SourceTrack | None) -> None:
        assert self.sends, "move_send on a connection opened without a sending path"
        self.send_track = track

    def play(self, pcm: Any) -> None:
        """Deliver received assistant audio, as a transport does after decoding it."""
        self.audio.receive.write(pcm)
        if self.audio.on_received is not None:
            self.audio.on_received(pcm)

    def server(self, event: dict[str, Any]) -> None:
        """Deliver one server event to the session."""
        self.callbacks.on_message(json.dumps(event))

    async def close(self) -> None:
        self.close_started.set()
        if self.hang_in_close is not None:
            await self.hang_in_close.wait()
        self.closed = True


_: type[RealtimeTransport] = LoopbackTransport
