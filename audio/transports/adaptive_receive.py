"""The seam between aiortc and voxflow's receive path for audio.

:func:`attach` makes an aiortc ``RTCRtpReceiver`` hand its Opus packets to
:class:`~audio.dsp.jitter.AdaptiveJitterBuffer` and decode them with
:class:`~audio.dsp.opus_decoder.OpusDecoder` (PLC + FEC) instead of aiortc's fixed
16/4 jitter buffer and decoder thread. SRTP, RTCP reports, statistics and the
remote track object stay aiortc's.

It relies on two private aiortc internals (pinned in pyproject.toml, checked
here at attach time and by tests/realtime_session/test_adaptive_receive.py):

* the receiver keeps its buffer in ``_RTCRtpReceiver__jitter_buffer`` and
  calls ``add(packet)`` on it for every depayloaded RTP packet; we swap in a
  tap that takes Opus packets and returns no frame (so aiortc's decoder thread
  idles) and hands any other codec to the original buffer;
* the remote track's frames travel through ``receiver._track._queue``; our
  playout task puts decoded frames exactly there, and aiortc's own stop still
  ends the track.

:data:`SETTINGS` lets benchmarks and tests switch back to the stock path and
impair the link (:mod:`audio.transports.impairment`) on every receiver this process opens,
client and local server alike.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from audio.base.errors import VoxflowError
from audio.transports.impairment import Impairment
from audio.dsp.jitter import AdaptiveJitterBuffer, Conceal, JitterStats, Play
from audio.dsp.opus_decoder import OpusDecoder, to_frame

log = logging.getLogger(__name__)

STALL = 0.04  # the playout task woke this late: the process stalled (load), not the network
QUIET_RMS = 32768 * 10 ** (-40 / 20)  # a decoded frame below -40 dBFS is quiet...
PAUSE_FRAMES = 5
"""...and after this many quiet frames in a row (100 ms) it is a pause the buffer may drop to shrink. A single
quiet frame is as often the gap between two words or a soft consonant: dropping those (every 120 ms while the
buffer shrank after a stall at the start of a call) cut the 40 ms between "how" and "are" in the demo's first
sentence, and spliced the words of a loopback test's talk spurt together."""
_BUFFER_ATTR = "_RTCRtpReceiver__jitter_buffer"
_CODECS_ATTR = "_RTCRtpReceiver__codecs"


@dataclass
class ReceiveSettings:
    """Process-wide choice of receive path (default: voxflow's adaptive one)."""

    adaptive: bool = True
    impairment: Impairment | None = None


SETTINGS = ReceiveSettings()
_attached = 0


class AiortcInternalsChanged(VoxflowError):
    """The installed aiortc no longer has the internals this seam uses."""


def check_internals(receiver: Any) -> None:
    """Fail loudly (not silently fall back) if aiortc moved what we hook."""
    missing = [
        name for name in (_BUFFER_ATTR, _CODECS_ATTR, "_handle_rtp_packet", "_track")
        if not hasattr(receiver, name)
    ]
    buffer = getattr(receiver, _BUFFER_ATTR, None)
    if buffer is not None and not callable(getattr(buffer, "add", None)):
        missing.append(f"{_BUFFER_ATTR}.add")
    track = getattr(receiver, "_track", None)
    if track is not None and not isinstance(getattr(track, "_queue", None), asyncio.Queue):
        missing.append("_track._queue")
    if missing:
        raise AiortcInternalsChanged(
            f"this aiortc version is not supported by voxflow's receive path (missing {', '.join(missing)})",
            hint="Install the aiortc version pinned in pyproject.toml.",
        )


class AdaptiveReceive:
    """One receiver's adaptive playout: packets in through the tap, frames out on their deadlines."""

    def __init__(self, receiver: Any, *, now: Callable[[], float] = time.monotonic) -> None:
        check_internals(receiver)
        self._receiver = receiver
        self._now = now
        self._original = getattr(receiver, _BUFFER_ATTR)
        self._codecs: dict[int, Any] = getattr(receiver, _CODECS_ATTR)
        self.buffer = AdaptiveJitterBuffer()
        self.decoder: OpusDecoder | None = None
        self._arrived = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._first_ts: int | None = None
        self._stall_seen = float("-inf")
        self._quiet_run = 0  # decoded frames in a row below QUIET_RMS
        setattr(receiver, _BUFFER_ATTR, self)
        stop = receiver.stop

        async def stop_then_close() -> None:
            self.close()
            await stop()

        receiver.stop = stop_then_close

    @property
    def stats(self) -> JitterStats:
        return self.buffer.stats

    @property
    def capacity(self) -> int:  # aiortc reads it for logging only
        return int(self._original.capacity)

    # -- the tap aiortc calls ---------------------------------------------------------
    def add(self, packet: Any) -> tuple[bool, Any]:
        codec = self._codecs.get(packet.payload_type)
        if codec is None or codec.name.lower() != "opus" or self._closed:
            return self._original.add(packet)
        now = self._now()
        self.buffer.push(packet.sequence_number, packet.timestamp, packet.payload, now, observe=not self._stalled(now))
        if self._task is None:
            self.decoder = OpusDecoder()
            self._task = asyncio.get_running_loop().create_task(self._playout())
        self._arrived.set()
        return False, None

    # -- playout ---------------------------------------------------------------------
    def _stalled(self, now: float) -> bool:
        """Whether our own event loop just stalled (then late packets are our fault, not the network's).

        The playout task wakes at every deadline; if it woke late, or is overdue
        now, packets arriving around then were held up by this process.
        """
        deadline = self.buffer.next_deadline()
        overdue = deadline is not None and now - deadline > STALL
        return overdue or now - self._stall_seen < STALL

    async def _playout(self) -> None:
        track = self._receiver._track
        try:
            while not self._closed and track.readyState == "live":
                deadline = self.buffer.next_deadline()
                timeout = None if deadline is None else max(0.0, deadline - self._now())
                if timeout is None or timeout > 0:
                    try:
                        await asyncio.wait_for(self._arrived.wait(), timeout)
                    except asyncio.TimeoutError:
                        pass
                self._arrived.clear()
                now = self._now()
                if deadline is not None and now - deadline > STALL:
                    self._stall_seen = now
                    self.buffer.resume_after_stall(now)  # late packets are in our socket, not lost
                for item in self.buffer.pop(now):
                    frame = self._decode(item)
                    if frame is not None:
                        track._queue.put_nowait(frame)
        except Exception:  # never leave the track hanging silently
            log.exception("the adaptive receive path failed")

    def _decode(self, item: Play | Conceal) -> Any:
        """The frame to queue, or None for a quiet frame dropped to shrink the buffer (decoded all the same:
        the decoder's state must see every packet)."""
        assert self.decoder is not None
        if isinstance(item, Play):
            pcm = self.decoder.decode(item.packet.payload)
            ts = item.packet.timestamp
            quiet = float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) < QUIET_RMS
            in_pause = quiet and self._quiet_run >= PAUSE_FRAMES
            self._quiet_run = self._quiet_run + 1 if quiet else 0
            if item.shrink and in_pause:
                self.buffer.shrunk()
                return None
        elif item.fec_from is not None:
            pcm = self.decoder.recover(item.fec_from.payload, item.samples)
            ts = item.timestamp
        else:
            pcm = self.decoder.conceal(item.samples)
            ts = item.timestamp
        if not isinstance(item, Play):
            self._quiet_run = 0  # a lost frame: whether it was quiet is unknown
        if self._first_ts is None:
            self._first_ts = ts
        return to_frame(pcm, ts - self._first_ts)

    def close(self) -> None:
        self._closed = True
        self._arrived.set()
        if self.decoder is not None and self._task is not None and self._task.done():
            self.decoder.close()


def impair(receiver: Any, impairment: Impairment) -> None:
    """Drop and delay (hence reorder) this receiver's incoming RTP, reproducibly: the test network."""
    check_internals(receiver)
    original = receiver._handle_rtp_packet
    plan = impairment.plan()
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()

    def deliver(packet: Any, arrival_time_ms: int) -> None:
        task = loop.create_task(original(packet, arrival_time_ms))
        pending.add(task)
        task.add_done_callback(pending.discard)

    async def handle(packet: Any, arrival_time_ms: int) -> None:
        delay = plan.delay()
        if delay is None:
            return
        if delay <= 0:
            await original(packet, arrival_time_ms)
        else:
            loop.call_later(delay, deliver, packet, arrival_time_ms + int(delay * 1000))

    receiver._handle_rtp_packet = handle
    receiver.link_plan = plan


def attach(receiver: Any) -> AdaptiveReceive | None:
    """Apply :data:`SETTINGS` to a new audio receiver; returns the adaptive path, or None for aiortc's stock one."""
    global _attached
    _attached += 1
    if SETTINGS.impairment is not None:  # each receiver its own reproducible link
        base = SETTINGS.impairment
        impair(receiver, Impairment(base.loss, base.jitter, base.seed * 1000 + _attached))
    if not SETTINGS.adaptive:
        return None
    return AdaptiveReceive(receiver)
