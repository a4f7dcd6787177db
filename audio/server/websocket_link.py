"""The WebSocket transport of a call: ``ws://HOST:PORT/v1/realtime?model=...``, as the SDK's ``realtime.connect()`` uses it.

Events travel as JSON text frames both ways. The caller's audio arrives in
``input_audio_buffer.append`` (base64 PCM16, 24 kHz by default) and the reply
leaves as ``response.output_audio.delta`` (see ``audio_out.DeltaAudioOut``);
everything else is the same :class:`~audio.server.calls.Call` as over
WebRTC. Outgoing frames go through a queue drained by one writer task, so the
call can emit events synchronously.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any
from starlette.websockets import WebSocket, WebSocketDisconnect

from audio.server.audio_out import DeltaAudioOut
from audio.server.link import CallCore
from audio.server.outbox import Outbox

logger = logging.getLogger("voxflow.realtime.server")

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
OUTGOING_LIMIT = 4096  # frames queued for a client that does not read; beyond this the socket is closed


class WebSocketLink:
    kind = "websocket"
    accepts_appended_audio = True

    def __init__(self, websocket: WebSocket, outbox: Outbox,
                 output_format: Callable[[], dict[str, Any] | None] = lambda: None, *, burst: bool = False) -> None:
        self._ws = websocket
        self._outbox = outbox
        self.audio_out = DeltaAudioOut(outbox, output_format, burst=burst)
        self._outgoing: asyncio.Queue[str | None] = asyncio.Queue()
        self._core: CallCore | None = None
        self._overflowed = False

    def attach(self, core: CallCore) -> None:
        self._core = core

    def now_playing(self) -> str | None:
        """The response whose delivered audio has not finished playing at real-time speed."""
        return self.audio_out.playing()

    def stop_playing(self) -> str | None:
        dropped = self.audio_out.clear()
        return dropped[0] if dropped else None

    def send_raw(self, text: str) -> None:
        self._outgoing.put_nowait(text)

    async def drain(self) -> None:
        for _ in range(100):
            if self._outgoing.empty():
                break
            await asyncio.sleep(0.02)

    async def close(self) -> None:
        self._outbox.deliver = None
        self._outgoing.put_nowait(None)

    def _deliver(self, text: str) -> None:
        if self._overflowed:
            return
        if self._outgoing.qsize() >= OUTGOING_LIMIT:  # the writer closes the socket, which ends the call
            logger.warning("closing a WebSocket whose client stopped reading (%d frames queued)", OUTGOING_LIMIT)
            self._overflowed = True
            self._outgoing.put_nowait(None)
            return
        self._outgoing.put_nowait(text)

    async def serve(self) -> None:
        """Run the connection until either side ends it; the call is closed afterwards."""
        assert self._core is not None, "attach() the call first"
        core = self._core
        self._outbox.deliver = self._deliver
        writer = asyncio.get_running_loop().create_task(self._write())
        core.opened()
        reason = "the client closed the WebSocket"
        try:
            while True:
                message = await self._ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None and message.get("bytes") is not None:
                    text = message["bytes"].decode("utf-8", "replace")
                if text is not None and len(text) > MAX_MESSAGE_BYTES:
                    self._outbox.send_error("message_too_large", "The message is larger than 16 MiB.")
                    continue
                if text is not None:
                    core.receive(text)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            await core.close(reason)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer, 2)
            if not writer.done():
                writer.cancel()
                await asyncio.gather(writer, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._ws.close()

    async def _write(self) -> None:
        while True:
            text = await self._outgoing.get()
            if text is None:  # the call closed: so does the socket
                with contextlib.suppress(Exception):
                    await self._ws.close()
                return
            try:
                await self._ws.send_text(text)
            except Exception:
                logger.debug("websocket send failed; the client went away")
                return
