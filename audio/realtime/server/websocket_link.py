"""The WebSocket transport of a call: ``ws://HOST:PORT/v1/realtime?model=...``, as the SDK's ``realtime.connect()`` uses it.

Events travel as JSON text frames both ways. The caller's audio arrives in
``input_audio_buffer.append`` (base64 PCM16, 24 kHz by default) and the reply
leaves as ``response.output_audio.delta`` (see ``audio_out.DeltaAudioOut``);
everything else is the same :class:`~audio.realtime.server.calls.Call` as over
WebRTC. Outgoing frames go through a queue drained by one writer task, so the
call can emit events synchronously.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from audio.realtime.server.audio_out import DeltaAudioOut
from audio.realtime.server.outbox import Outbox

logger = logging.getLogger("voxflow.realtime.server")

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
OUTGOING_LIMIT = 4096  # frames queued for a slow client before the call gives up on it


class WebSocketLink:
    kind = "websocket"
    accepts_appended_audio = True

    def __init__(self, websocket: WebSocket, outbox: Outbox) -> None:
        self._ws = websocket
        self._outbox = outbox
        self.audio_out = DeltaAudioOut(outbox, 24_000)
        self._outgoing: asyncio.Queue[str | None] = asyncio.Queue()
        self._core: Any = None

    def attach(self, core: Any) -> None:
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
        if self._outgoing.qsize() >= OUTGOING_LIMIT:
            raise ConnectionError("the client is not reading")
        self._outgoing.put_nowait(text)

    async def serve(self) -> None:
        """Run the connection until either side ends it; the call is closed afterwards."""
        self._outbox.deliver = self._deliver
        writer = asyncio.get_running_loop().create_task(self._write())
        self._core.opened()
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
                    self._core.receive(text)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            await self._core.close(reason)
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
