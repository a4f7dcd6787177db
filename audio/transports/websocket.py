"""The WebSocket transport: ``wss://HOST/v1/realtime?model=...`` with the key as a Bearer header.

Implements :class:`~audio.transports.transport.RealtimeTransport` with the
``websockets`` package. Events are JSON text frames both ways. The microphone
leaves as base64 PCM16 mono 24 kHz in ``input_audio_buffer.append`` (one per
20 ms frame of the paced, gated sending track, so mute and push-to-talk work as
over WebRTC); the reply arrives in ``response.output_audio.delta`` and is
decoded here into the playback sink, so the session core never sees audio
payloads. Every message is decoded as JSON and recognised by its ``type``,
wherever that key sits (``audio/wire/audio_delta.py``); the rest go to the
session as they came. Over WebSocket the service does not track playback
(no ``output_audio_buffer.*``): the session derives the playing state from the
audio it receives (``playout.py``), and on a barge-in truncates the reply where
playback stopped (``heard_audio.py``).

A killed server's kernel closes the TCP connection at once, but a cut network
does not: a :mod:`~audio.transports.liveness` watch hears every frame and every
TCP segment from the service (``tcp_segments.py``: a pong stuck behind a
burst of audio deltas, or TCP recovering from loss, is no false alarm), pings
it when it has been quiet for a second, and ends the connection after 2.5 s
of nothing (6.5 s if the link was losing segments: TCP's backoff). A service whose process hangs while its kernel still answers
TCP is left to the ``websockets`` keepalive (:data:`KEEPALIVE`: its pong
comes within 10 s or the connection is closed).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus

from audio.base.clock import Clock, SystemClock
from audio.base.errors import VoxflowError
from audio.dsp.formats import Resampler
from audio.wire import protocol
from audio.transports.liveness import LinkLost, LinkWatch, watch_link
from audio.transports.secrets import EphemeralSecret, StandardKey
from audio.transports.service_http import ServiceRefused, retry_after
from audio.transports.tcp_segments import TcpHearing
from audio.wire.audio_delta import NOT_AUDIO, AudioDelta, BadAudioDelta, decode_audio_delta
from audio.transports.transport import AudioPaths, TransportCallbacks

if TYPE_CHECKING:
    from audio.transports.tracks import SourceTrack

log = logging.getLogger(__name__)

WIRE_RATE = 24_000  # PCM16 mono, the GA default audio/pcm format
HEARD = "no message, pong or TCP segment"
"""What the link watch listens for over WebSocket (its close reason names it)."""
KEEPALIVE = (5.0, 10.0)
"""``websockets``' (ping_interval, ping_timeout): a hung service is closed within 15 s."""


def websocket_url(base_url: str, model: str) -> str:
    """``http(s)://host[:port]`` → ``ws(s)://host[:port]/v1/realtime?model=...``."""
    scheme, rest = base_url.split("://", 1) if "://" in base_url else ("https", base_url)
    ws_scheme = "ws" if scheme == "http" else "wss"
    return f"{ws_scheme}://{rest.rstrip('/')}/v1/realtime?model={model}"


def _pcm16_b64(pcm: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(pcm, dtype="<i2").tobytes()).decode("ascii")


class WebSocketTransport:
    """One WebSocket connection; ``close()`` releases it and its tasks."""

    name = "WebSocket"
    server_playback = False
    appends_input = True
    max_event_bytes = None

    def __init__(
        self, base_url: str, model: str, callbacks: TransportCallbacks, *, open_timeout: float = 15.0,
        clock: Clock | None = None,
    ) -> None:
        self.url = websocket_url(base_url, model)
        self._callbacks = callbacks
        self._open_timeout = open_timeout
        self._clock: Clock = clock or SystemClock()  # network time: never the session's (a test's fake clock)
        self.watch = LinkWatch()
        self.tcp: TcpHearing | None = None  # the kernel's view of the connection, where there is one
        self._ws: ClientConnection | None = None
        self._outgoing: asyncio.Queue[str] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []
        self._closing = False
        self._ended = False
        self.audio_frames_sent = 0
        self._send_track: SourceTrack | None = None
        self._track_moved = asyncio.Event()
        self.audio_deltas_received = 0
        self.audio_deltas_dropped = 0

    @property
    def is_open(self) -> bool:
        return self._ws is not None and not self._closing and not self._ended

    async def open(self, secret: EphemeralSecret, audio: AudioPaths) -> str:
        self._callbacks.on_state("connecting", "connecting")
        if isinstance(secret, StandardKey):  # the service takes the key itself: no client secret minted
            log.info("WebSocket authenticated with the standard key (no client secret minted)")
        try:
            self._ws = await websockets.connect(
                self.url,
                additional_headers={"Authorization": f"Bearer {secret.value}"},
                open_timeout=self._open_timeout,
                max_size=None,
                compression=None,
                ping_interval=KEEPALIVE[0],
                ping_timeout=KEEPALIVE[1],
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            hint = ("The session key was refused: check OPENAI_API_KEY or the token service."
                    if status in (401, 403) else "Check OPENAI_BASE_URL points at a Realtime service."
                    if status // 100 == 4 else "Try again; if it keeps failing, check the service status.")
            raise ServiceRefused(f"the Realtime service refused the WebSocket ({status})", status=status,
                                 retry_after=retry_after(exc.response.headers), hint=hint) from None
        except (OSError, TimeoutError, websockets.InvalidHandshake) as exc:
            raise VoxflowError(
                f"could not open a WebSocket to the Realtime service ({type(exc).__name__})",
                hint="Check your network or OPENAI_BASE_URL.",
            ) from None
        self._callbacks.on_state("connected", "open")
        loop = asyncio.get_running_loop()
        self._tasks = [
            loop.create_task(self._receive(audio), name="voxflow-realtime-ws-receive"),
            loop.create_task(self._write(), name="voxflow-realtime-ws-write"),
            loop.create_task(watch_link(self.watch, clock=self._clock, signal=HEARD, probe=self._ping, lost=self._lost,
                                        count=self._tcp_count()), name="voxflow-realtime-ws-link-watch"),
        ]
        self._send_track = audio.send
        if audio.send is not None or audio.send_later:
            self._tasks.append(loop.create_task(self._send_audio(audio), name="voxflow-realtime-ws-audio"))
        response = self._ws.response
        return response.headers.get("x-request-id", "") if response is not None else ""

    async def wait_open(self) -> None:
        return None  # the socket is open once open() returned

    def send(self, event: dict[str, Any]) -> None:
        if not self.is_open:
            raise VoxflowError("the session is not connected: connect first")
        self._outgoing.put_nowait(protocol.encode(event))

    def move_send(self, track: SourceTrack | None) -> None:
        self._send_track = track
        self._track_moved.set()

    async def close(self) -> None:
        self._closing = True
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        ws, self._ws = self._ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ws.close(), 2.0)

    # --- tasks -----------------------------------------------------------------------
    def _end(self, reason: str, error: bool) -> None:
        if self._closing or self._ended:
            return
        self._ended = True
        self._callbacks.on_state("closed", "closed")
        self._callbacks.on_closed(reason, error)

    async def _write(self) -> None:
        assert self._ws is not None
        try:
            while True:
                await self._ws.send(await self._outgoing.get())
        except ConnectionClosed:
            pass  # the receiver reports the end

    async def _receive(self, audio: AudioPaths) -> None:
        assert self._ws is not None
        resampler = Resampler(audio.receive_rate, audio.receive_channels)
        try:
            async for message in self._ws:
                self.watch.heard()
                delta = decode_audio_delta(message)  # every message: the key order carries no meaning
                if delta is NOT_AUDIO:
                    self._callbacks.on_message(message)
                elif isinstance(delta, BadAudioDelta):
                    log.warning("skipped an audio delta that could not be decoded (%s, %d bytes)", delta.problem, len(message))
                elif isinstance(delta, AudioDelta):
                    self._play_delta(delta, audio, resampler)
        except ConnectionClosed as closed:
            if closed.rcvd is None and closed.sent is None:  # no close frame either way: TCP ended (the server died)
                self._end("the connection to the service dropped (TCP closed without a WebSocket close frame, 1006)",
                          error=True)
                return
            if closed.rcvd is None and closed.sent is not None and closed.sent.code == 1011:
                self._end(f"the service stopped answering (no pong within {KEEPALIVE[1]:g} s)", error=True)
                return
            code = closed.rcvd.code if closed.rcvd is not None else 1006
            reason = closed.rcvd.reason if closed.rcvd is not None and closed.rcvd.reason else ""
            detail = f" ({code}{': ' + reason if reason else ''})"
            self._end(f"the service closed the WebSocket{detail}", error=code not in (1000, 1001))
            return
        self._end("the service closed the WebSocket", error=False)

    def _tcp_count(self) -> Callable[[], Awaitable[int]] | None:
        """The kernel's count of TCP segments from the service, for the watch (None where there is none)."""
        sock = self._ws.transport.get_extra_info("socket") if self._ws is not None else None
        self.tcp = TcpHearing.of(sock, self._clock)
        if self.tcp is None:
            return None
        self.watch.patience = self.tcp.patience
        return self.tcp.count

    async def _ping(self) -> None:
        """The watch's question: a ping; its pong is a sign of life."""
        ws = self._ws
        if ws is None or self._closing or self._ended:
            return
        pong = await ws.ping()
        await pong
        self.watch.heard()

    def _lost(self, found: LinkLost) -> None:
        self._end(found.reason, error=True)
        if self._ws is not None:  # a dead link gets no closing handshake: close() would wait 2 s for its answer
            self._ws.transport.abort()

    def _play_delta(self, delta: AudioDelta, audio: AudioPaths, resampler: Resampler) -> None:
        """Decode an audio delta into the playback sink."""
        if len(delta.delta) % 2:
            log.warning("skipped an audio delta with an odd number of bytes (%d)", len(delta.delta))
            return
        pcm = np.frombuffer(delta.delta, dtype="<i2").reshape(-1, 1)
        self.audio_deltas_received += 1
        if delta.response_id is not None and audio.wanted_response is not None and not audio.wanted_response(delta.response_id):
            self.audio_deltas_dropped += 1  # late audio of a reply the person cut in on
            return
        if audio.on_item_audio is not None and delta.item_id is not None:
            audio.on_item_audio(delta.item_id, delta.content_index, 1000.0 * pcm.shape[0] / WIRE_RATE)
        out = resampler.process(pcm, WIRE_RATE)
        if out.shape[0]:
            audio.receive.write(out)
            if audio.on_received is not None:
                audio.on_received(out)

    async def _send_audio(self, audio: AudioPaths) -> None:
        """Pull the paced sending track and append its frames as 24 kHz PCM16."""
        from aiortc.mediastreams import MediaStreamError

        resampler = Resampler(WIRE_RATE, 1)
        while self.is_open:
            track = self._send_track
            if track is None:  # opened ahead of a handover, or the track moved away: wait for one
                self._track_moved.clear()
                await self._track_moved.wait()
                continue
            try:
                frame = await track.recv()
            except MediaStreamError:
                if track is self._send_track:
                    return
                continue  # the track moved away while we waited for its frame
            pcm = resampler.process_av(frame)
            if pcm.shape[0] and self.is_open and track is self._send_track:
                self._outgoing.put_nowait(protocol.encode({"type": "input_audio_buffer.append", "audio": _pcm16_b64(pcm)}))
                self.audio_frames_sent += 1
