"""A plain aiortc Realtime client for the server's tests (deliberately not voxflow's session core).

It mints an ephemeral key, offers a data channel ``oai-events`` and one audio
transceiver, posts the offer to ``/v1/realtime/calls`` and then records every
server event and every received audio sample, so tests can wait for events in
order and measure the reply's loudness.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time
import wave
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import httpx
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

DATA = Path(__file__).resolve().parents[1] / "data"
RATE = 48_000
FRAME = RATE // 50
WAIT = 20.0


def load_wav(name: str, rate: int = RATE) -> np.ndarray:
    """A committed test WAV as mono int16 at ``rate``."""
    with wave.open(str(DATA / name)) as handle:
        source_rate = handle.getframerate()
        samples = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16)
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = source_rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    out = [f.to_ndarray().reshape(-1) for f in [*resampler.resample(frame), *resampler.resample(None)]]
    return np.concatenate(out)


def rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples.astype(np.float64))))) if len(samples) else 0.0


class PcmTrack(MediaStreamTrack):
    """Plays queued 48 kHz mono samples in real time, silence otherwise."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue: collections.deque[np.ndarray] = collections.deque()
        self._pts = 0
        self._start: float | None = None

    def play(self, samples: np.ndarray) -> None:
        for start in range(0, len(samples), FRAME):
            chunk = np.zeros(FRAME, dtype=np.int16)
            piece = samples[start:start + FRAME]
            chunk[:len(piece)] = piece
            self._queue.append(chunk)

    @property
    def pending(self) -> int:
        return len(self._queue)

    @property
    def sent_seconds(self) -> float:
        """Audio handed to aiortc so far, silence included (the track never pauses)."""
        return self._pts / RATE

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        delay = self._start + self._pts / RATE - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        samples = self._queue.popleft() if self._queue else np.zeros(FRAME, dtype=np.int16)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, self._pts, Fraction(1, RATE)
        self._pts += FRAME
        return frame


class RealtimeTestClient:
    """One call to the local server, recording what comes back."""

    def __init__(self, base_url: str, *, api_key: str = "sk-test") -> None:
        self.base_url = base_url
        self.api_key = api_key
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.channel = self.pc.createDataChannel("oai-events")
        self.mic = PcmTrack()
        self.pc.addTrack(self.mic)
        self.events: list[dict[str, Any]] = []
        self.raw_messages: list[str] = []
        self.received_audio: list[np.ndarray] = []
        self.call_id: str | None = None
        self.closed = asyncio.Event()
        self._arrived = asyncio.Event()
        self._drain_task: asyncio.Task[None] | None = None
        self.channel.on("message", self._on_message)
        self.channel.on("close", self.closed.set)
        self.pc.on("track", self._on_track)

    @property
    def types(self) -> list[str]:
        return [event["type"] for event in self.events]

    async def mint(self, session: dict[str, Any] | None = None, **body: Any) -> httpx.Response:
        payload = {"session": session or {"type": "realtime"}, **body}
        async with httpx.AsyncClient(base_url=self.base_url, timeout=WAIT) as http:
            return await http.post("/v1/realtime/client_secrets", json=payload,
                                   headers={"Authorization": f"Bearer {self.api_key}"})

    async def offer(self, key: str, *, headers: dict[str, str] | None = None) -> httpx.Response:
        """Post the offer; on 201 apply the answer. The raw response either way."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        async with httpx.AsyncClient(base_url=self.base_url, timeout=WAIT) as http:
            answer = await http.post("/v1/realtime/calls", content=self.pc.localDescription.sdp, headers={
                "Authorization": f"Bearer {key}", "Content-Type": "application/sdp", **(headers or {})})
        if answer.status_code == 201 and answer.text.startswith("v=0"):
            self.call_id = answer.headers["location"].rsplit("/", 1)[-1]
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer.text, type="answer"))
        return answer

    async def offer_multipart(self, api_key: str, session: dict[str, Any]) -> httpx.Response:
        """The standard-key shape: multipart parts ``sdp`` and ``session``."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        files = {"sdp": (None, self.pc.localDescription.sdp, "application/sdp"),
                 "session": (None, json.dumps(session), "application/json")}
        async with httpx.AsyncClient(base_url=self.base_url, timeout=WAIT) as http:
            answer = await http.post("/v1/realtime/calls", files=files, headers={"Authorization": f"Bearer {api_key}"})
        if answer.status_code == 201:
            self.call_id = answer.headers["location"].rsplit("/", 1)[-1]
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer.text, type="answer"))
        return answer

    async def connect(self, session: dict[str, Any] | None = None) -> dict[str, Any]:
        """Mint, offer, answer; returns ``session.created``."""
        minted = await self.mint(session)
        assert minted.status_code == 200, minted.text
        answer = await self.offer(minted.json()["value"])
        assert answer.status_code == 201, answer.text
        return await self.next("session.created")

    def send(self, type: str, **fields: Any) -> None:
        self.channel.send(json.dumps({"type": type, **fields}))

    async def next(self, type: str, *, after: int = 0, timeout: float = WAIT) -> dict[str, Any]:
        """The first event of ``type`` at index >= ``after`` (waiting for it)."""
        async def find() -> dict[str, Any]:
            while True:
                for event in self.events[after:]:
                    if event["type"] == type:
                        return event
                self._arrived.clear()
                await self._arrived.wait()
        return await asyncio.wait_for(find(), timeout)

    def index(self, type: str, **match: Any) -> int:
        for position, event in enumerate(self.events):
            if event["type"] == type and all(event.get(k) == v for k, v in match.items()):
                return position
        raise AssertionError(f"no {type} {match} in {self.types}")

    def audio(self) -> np.ndarray:
        return np.concatenate(self.received_audio) if self.received_audio else np.zeros(0, dtype=np.int16)

    async def close(self) -> None:
        await self.pc.close()
        if self._drain_task is not None:
            self._drain_task.cancel()
            await asyncio.gather(self._drain_task, return_exceptions=True)

    def _on_message(self, message: str | bytes) -> None:
        text = message if isinstance(message, str) else message.decode()
        self.raw_messages.append(text)
        try:
            event = json.loads(text)
        except ValueError:
            return
        self.events.append(event)
        self._arrived.set()

    def _on_track(self, track: MediaStreamTrack) -> None:
        self._drain_task = asyncio.get_running_loop().create_task(self._drain(track))

    async def _drain(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            frame.pts = None
            for out in resampler.resample(frame):
                self.received_audio.append(out.to_ndarray().reshape(-1).copy())


async def play_until_heard(server: Any, client: RealtimeTestClient, samples: np.ndarray, *, timeout: float = WAIT) -> None:
    """Play ``samples`` and return once the server has decoded all of it (plus 100 ms of the silence after).

    The track keeps sending silence, so the server's count of decoded audio
    passes the end of the utterance even if a packet is lost; no sleep guesses
    how long RTP takes on a loaded machine.
    """
    client.mic.play(samples)

    async def heard() -> None:
        while client.mic.pending:
            await asyncio.sleep(0.02)
        end = client.mic.sent_seconds + 0.1
        while True:
            call = server.calls.get(client.call_id)
            if call is None:
                raise AssertionError(f"call {client.call_id} ended while the client was speaking")
            if call.input_received_seconds >= end:
                return
            await asyncio.sleep(0.02)

    await asyncio.wait_for(heard(), timeout)
