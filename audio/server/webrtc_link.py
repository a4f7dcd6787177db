"""The WebRTC transport of a call: an aiortc peer, the ``oai-events`` data channel and the two audio tracks.

The link turns the peer's happenings into calls on :class:`CallCore`
(channel open, a client message, a 20 ms frame of 16 kHz input, the peer gone)
and carries the call's events and reply audio back. Reply audio goes to the
paced :class:`~audio.server.tracks.ReplyAudioTrack`, whose segment
reports become ``output_audio_buffer.started/stopped`` (WebRTC/SIP only).
The received track is always drained (aiortc would queue it without bound).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcdatachannel import RTCDataChannel

from audio.dsp.formats import Resampler
from audio.transports.adaptive_receive import attach as attach_receive
from audio.server.link import CallCore
from audio.server.outbox import Outbox
from audio.wire.objects import new_id
from audio.speech.engines import RECOGNITION_RATE
from audio.server.tracks import ReplyAudioTrack

logger = logging.getLogger("voxflow.realtime.server")

OPEN_TIMEOUT_S = 30.0
PEER_CLOSE_S = 5.0  # aiortc's close waits forever for a first close that was cancelled (loop teardown)
FRAME_16K = RECOGNITION_RATE // 50
MAX_TIMELINE_GAP = 5.0  # s: a larger jump in the timestamps is not missing audio (a new stream, a wrap)


class SentTimeline:
    """Which received audio is missing, from the frames' RTP timestamps (the sender's sample clock)."""

    def __init__(self) -> None:
        self._next: float | None = None  # where the next frame should start (s on the sender's clock)

    def missing(self, frame: av.AudioFrame) -> float:
        """Seconds of the sender's audio that never arrived right before ``frame`` (0 for the first, or a jump)."""
        if frame.pts is None or frame.time_base is None:
            return 0.0
        at = float(frame.pts * frame.time_base)
        gap = 0.0 if self._next is None else at - self._next
        self._next = at + frame.samples / frame.sample_rate
        return gap if 0.0 < gap <= MAX_TIMELINE_GAP else 0.0


class WebRtcLink:
    kind = "webrtc"
    accepts_appended_audio = False

    def __init__(self, call_id: str, outbox: Outbox, output_rate: int, echo_audio: bool,
                 spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]], *, playback_events: bool = True) -> None:
        self._id = call_id
        self.playback_events = playback_events  # False: send no output_audio_buffer.* (as some servers do not)
        self._outbox = outbox
        self._spawn = spawn
        self._echo_audio = echo_audio
        self._core: CallCore | None = None
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.audio_out = ReplyAudioTrack(output_rate, on_started=self._audio_started, on_stopped=self._audio_stopped)
        self.pc.addTrack(self.audio_out)
        self.channel: RTCDataChannel | None = None
        self._playing: str | None = None

    def attach(self, core: CallCore) -> None:
        self._core = core
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_connection_state)

    async def answer(self, offer_sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        for transceiver in self.pc.getTransceivers():  # the caller's audio: voxflow's adaptive receive path
            if transceiver.kind == "audio":
                attach_receive(transceiver.receiver)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._spawn(self._expect_channel())
        return str(self.pc.localDescription.sdp)

    def now_playing(self) -> str | None:
        return self._playing

    def stop_playing(self) -> str | None:
        """Drop queued reply audio; the response that was playing (or pending), if any."""
        dropped = self.audio_out.clear()
        playing = self._playing or (dropped[0] if dropped else None)
        self._playing = None
        return playing

    async def drain(self) -> None:
        """Give queued data-channel messages a moment to leave before closing."""
        for _ in range(50):
            if self.channel is None or self.channel.bufferedAmount == 0:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)

    async def close(self) -> None:
        self._outbox.deliver = None
        self.audio_out.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.pc.close(), PEER_CLOSE_S)

    async def _expect_channel(self) -> None:
        """A peer that never opens ``oai-events`` is given up after OPEN_TIMEOUT_S (transport time, not the clock)."""
        await asyncio.sleep(OPEN_TIMEOUT_S)
        if self._core is not None and self._core.is_connecting():
            await self._core.close("the data channel never opened")

    def _on_connection_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed") and self._core is not None:
            self._spawn(self._core.close(f"peer connection {self.pc.connectionState}"))

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != "oai-events" or self.channel is not None or self._core is None:
            return
        self.channel = channel
        channel.on("message", self._core.receive)
        if channel.readyState == "open":
            self._opened()
        else:
            channel.on("open", self._opened)

    def _opened(self) -> None:
        if self._core is None or self.channel is None:
            return
        channel = self.channel

        def deliver(text: str) -> None:
            if channel.readyState == "open":
                channel.send(text)

        self._outbox.deliver = deliver
        self._core.opened()

    def send_raw(self, text: str) -> None:
        """A message that is not an event (the malformed-event fault)."""
        if self.channel is not None and self.channel.readyState == "open":
            self.channel.send(text)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._spawn(self._drain(track))

    async def _drain(self, track: MediaStreamTrack) -> None:
        """Read every received frame into the call's input, 20 ms of 16 kHz at a time.

        The input's timeline (``audio_start_ms``/``audio_end_ms``) is the audio
        the caller sent: frames that never came out of the receive path (lost,
        or quiet ones dropped to shrink its buffer) count as silence, found
        from the gap in the frames' RTP timestamps.
        """
        to_16k = Resampler(RECOGNITION_RATE, 1)
        to_output = Resampler(self.audio_out.sample_rate, 1) if self._echo_audio else None
        echo_tag = new_id("echo")
        if to_output is not None:
            self.audio_out.begin(echo_tag, live=True)
        pending = np.zeros(0, dtype=np.int16)
        sent = SentTimeline()
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            assert isinstance(frame, av.AudioFrame)  # the track is an audio track
            if to_output is not None:
                self.audio_out.push(echo_tag, to_output.process_av(frame).reshape(-1))
            gap = sent.missing(frame)
            if gap:
                pending = np.concatenate([pending, np.zeros(round(gap * RECOGNITION_RATE), dtype=np.int16)])
            pending = np.concatenate([pending, to_16k.process_av(frame).reshape(-1)])
            while len(pending) >= FRAME_16K and self._core is not None:
                self._core.take_input(pending[:FRAME_16K])
                pending = pending[FRAME_16K:]

    # playback reports from the track (called inside the track's recv, on the loop)
    def _audio_started(self, tag: str) -> None:
        if tag.startswith("resp_"):
            self._playing = tag
            if self.playback_events:
                self._outbox.send("output_audio_buffer.started", response_id=tag)

    def _audio_stopped(self, tag: str) -> None:
        if tag.startswith("resp_"):
            if self._playing == tag:
                self._playing = None
            if self.playback_events:
                self._outbox.send("output_audio_buffer.stopped", response_id=tag)
