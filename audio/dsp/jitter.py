"""An adaptive receive jitter buffer: RTP packets in, frames due for playout out.

Why not aiortc's: its audio buffer releases a frame only once four later
frames have arrived (a fixed ~80 ms), and after one lost packet it waits for
the gap until the ring overflows (~280 ms more). Here every frame has a
*deadline* = its media time + a playout offset; at the deadline the frame is
played if it is there and concealed if it is not (so one loss costs one
concealed frame and never inflates the buffer). The offset is the fastest
recent transit plus a target that follows the measured arrival spread: one
frame on a clean link, more under jitter, and back down (one dropped frame at
a time, at most every ``shrink_every`` frames) once a burst has left the
window. The frame to drop is chosen by the caller after decoding: one in a pause
(``Play.shrink``), so shrinking eats pauses, not words; only an excess that
no pause has taken back within ``force_after`` offers is cut regardless. When
our own process stalls (``resume_after_stall``) the playout clock pauses
rather than concealing packets that are waiting unread in our socket. Pure:
time comes in as arguments, so tests feed packet timelines on a fake clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

SEQ_MOD = 1 << 16
TS_MOD = 1 << 32


@dataclass(frozen=True)
class Packet:
    """One received RTP payload (already unwrapped to 64-bit sequence and timestamp)."""

    seq: int
    timestamp: int
    payload: bytes
    arrival: float


@dataclass(frozen=True)
class Play:
    """Decode this packet now.

    ``shrink``: the buffer holds more delay than it needs; if the decoded frame
    is quiet, drop it and call :meth:`AdaptiveJitterBuffer.shrunk` (dropping a
    pause costs nothing; dropping a syllable would).
    """

    packet: Packet
    shrink: bool = False


@dataclass(frozen=True)
class Conceal:
    """The frame due now is missing: conceal it (``fec_from``: the next packet, whose in-band FEC may rebuild it)."""

    seq: int
    timestamp: int
    samples: int
    fec_from: Packet | None


@dataclass
class JitterStats:
    """Counters and the current depth, read by the latency budget and the tests."""

    received: int = 0
    played: int = 0
    concealed: int = 0  # deadlines with nothing to play (underruns of this buffer)
    late: int = 0  # arrived after their deadline (a subset of the concealed ones)
    duplicates: int = 0
    skipped: int = 0  # frames dropped to shrink the buffer after a burst (quiet ones, or forced)
    forced: int = 0  # of those, frames cut because no quiet one came within force_after offers
    resets: int = 0
    stalls: int = 0  # times our own process stalled and the playout clock paused (resume_after_stall)
    target_ms: float = 0.0
    depth_ms: float = 0.0  # how long the last played frame waited here
    waits_ms: deque[float] = field(default_factory=lambda: deque(maxlen=4096))

    def wait_percentile(self, q: float) -> float:
        """``q`` in 0..100 over the recent waits (ms); 0 before any frame played."""
        if not self.waits_ms:
            return 0.0
        ordered = sorted(self.waits_ms)
        return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class SpreadEstimator:
    """Arrival spread over a sliding window of transits -> how much delay to hold.

    The spread is the second-largest ``transit - fastest`` in the window (one
    freak packet does not move it), plus half a frame of margin once there is
    any spread at all; never below ``floor``.
    """

    def __init__(self, floor: float, window: int = 100, ceiling: float = 0.5) -> None:
        self.floor = floor
        self.ceiling = ceiling
        self._transits: deque[float] = deque(maxlen=window)

    def observe(self, transit: float) -> None:
        self._transits.append(transit)

    def clear(self) -> None:
        self._transits.clear()

    @property
    def fastest(self) -> float:
        return min(self._transits)

    @property
    def target(self) -> float:
        if len(self._transits) < 2:
            return self.floor
        fastest = self.fastest
        spreads = sorted(t - fastest for t in self._transits)
        spread = spreads[-2]
        if spread > self.floor / 4:
            spread += self.floor / 2
        return min(self.ceiling, max(self.floor, spread))


class AdaptiveJitterBuffer:
    """Orders, times and conceals one audio stream; see the module docstring.

    ``push()`` on every arrival, ``pop(now)`` at (or after) ``next_deadline()``.
    """

    def __init__(
        self,
        clock_rate: int = 48000,
        frame_samples: int = 960,
        *,
        window: int = 50,
        max_conceal: int = 5,
        shrink_every: int = 5,
        force_after: int = 150,  # 3 s of talk with no pause: then cut a frame anyway
        idle_reset: float = 0.5,
    ) -> None:
        self.clock_rate = clock_rate
        self.frame_samples = frame_samples
        self.frame = frame_samples / clock_rate
        self.estimator = SpreadEstimator(floor=self.frame, window=window)
        self.stats = JitterStats(target_ms=self.frame * 1000)
        self._max_conceal = max_conceal
        self._shrink_every = shrink_every
        self._force_after = force_after
        self._offers = 0  # Play(shrink=True) handed out since the last drop
        self._idle_reset = idle_reset
        self._packets: dict[int, Packet] = {}
        self._offset = 0.0
        self._next_seq: int | None = None
        self._next_ts = 0
        self._concealing = 0
        self._since_shrink = 0
        self._last_arrival: float | None = None
        self._seq_high: int | None = None
        self._ts_high: int | None = None

    # -- input ---------------------------------------------------------------------
    def push(self, seq: int, timestamp: int, payload: bytes, arrival: float, *, observe: bool = True) -> None:
        """One packet arrived (``seq``: 16-bit RTP sequence number, ``timestamp``: 32-bit RTP timestamp).

        ``observe=False``: its timing says nothing about the network (our own
        process was stalled), so it must not grow the target.
        """
        self.stats.received += 1
        idle = self._last_arrival is not None and arrival - self._last_arrival > self._idle_reset
        self._last_arrival = arrival
        seq64, ts64 = self._unwrap(seq, timestamp)
        packet = Packet(seq64, ts64, payload, arrival)
        transit = arrival - ts64 / self.clock_rate
        if self._next_seq is None or (idle and not self._packets) or abs(seq64 - self._next_seq) > 1000:
            self._anchor(packet, transit)
            return
        if observe:
            self.estimator.observe(transit)
        if seq64 < self._next_seq:
            self.stats.late += 1
            return
        if seq64 in self._packets:
            self.stats.duplicates += 1
            return
        self._packets[seq64] = packet
        self._concealing = 0
        wanted = self.estimator.fastest + self.estimator.target
        self.stats.target_ms = round((wanted - self.estimator.fastest) * 1000, 3)
        if wanted > self._offset:  # grow at once: later deadlines, nothing lost
            self._offset = wanted

    def _anchor(self, packet: Packet, transit: float) -> None:
        if self._next_seq is not None:
            self.stats.resets += 1
        self.estimator.clear()
        self.estimator.observe(transit)
        self._packets = {packet.seq: packet}
        self._next_seq = packet.seq
        self._next_ts = packet.timestamp
        self._offset = transit + self.estimator.target
        self._concealing = 0
        self._since_shrink = 0

    def _unwrap(self, seq: int, timestamp: int) -> tuple[int, int]:
        if self._seq_high is None or self._ts_high is None:
            self._seq_high, self._ts_high = seq, timestamp
            return seq, timestamp
        seq64 = self._seq_high + ((seq - self._seq_high + SEQ_MOD // 2) % SEQ_MOD) - SEQ_MOD // 2
        ts64 = self._ts_high + ((timestamp - self._ts_high + TS_MOD // 2) % TS_MOD) - TS_MOD // 2
        self._seq_high = max(self._seq_high, seq64)
        if seq64 == self._seq_high:
            self._ts_high = ts64
        return seq64, ts64

    # -- output --------------------------------------------------------------------
    def next_deadline(self) -> float | None:
        """When the next frame is due (None: nothing to wait for until a packet arrives)."""
        if self._next_seq is None or (not self._packets and self._concealing >= self._max_conceal):
            return None
        packet = self._packets.get(self._next_seq)
        ts = packet.timestamp if packet is not None else self._next_ts
        return ts / self.clock_rate + self._offset

    def resume_after_stall(self, now: float) -> None:
        """Our own process stalled past the next deadline: pause the playout clock instead of concealing.

        The packets due during the stall are most likely sitting unread in our
        socket (the event loop that reads it was the one stalled), so the next
        frame gets a fresh deadline ``target`` after ``now``, as if it had just
        arrived. The extra delay is taken back by the usual shrinking.
        """
        deadline = self.next_deadline()
        if deadline is None or deadline >= now:
            return
        self._offset += now - deadline + self.estimator.target
        self.stats.stalls += 1

    @property
    def buffered(self) -> int:
        return len(self._packets)

    def pop(self, now: float) -> list[Play | Conceal]:
        """Everything due by ``now``, in playout order."""
        out: list[Play | Conceal] = []
        while True:
            deadline = self.next_deadline()
            if deadline is None or deadline > now + 1e-9:
                return out
            assert self._next_seq is not None
            packet = self._packets.pop(self._next_seq, None)
            if packet is None:
                out.append(self._conceal())
                continue
            shrink = self._should_shrink()
            if shrink and self._offers >= self._force_after:
                self.stats.forced += 1
                self._drop()  # no pause came: cut this frame after all
            else:
                self._offers += shrink
                out.append(Play(packet, shrink=shrink))
                self.stats.played += 1
                wait_ms = round(max(0.0, now - packet.arrival) * 1000, 3)
                self.stats.depth_ms = wait_ms
                self.stats.waits_ms.append(wait_ms)
                self._since_shrink += 1
            self._next_seq = packet.seq + 1
            self._next_ts = packet.timestamp + self.frame_samples

    def shrunk(self) -> None:
        """A frame handed out with ``shrink=True`` was dropped: the buffer now holds one frame less."""
        self.stats.played -= 1
        self._drop()

    def _drop(self) -> None:
        self.stats.skipped += 1
        self._offset -= min(self.frame, max(0.0, self._excess()))
        self._since_shrink = 0
        self._offers = 0

    def _conceal(self) -> Conceal:
        assert self._next_seq is not None
        following = self._packets.get(self._next_seq + 1)
        item = Conceal(self._next_seq, self._next_ts, self.frame_samples, following)
        self.stats.concealed += 1
        self._concealing += 1
        self._since_shrink += 1
        self._next_seq += 1
        self._next_ts += self.frame_samples
        return item

    def _excess(self) -> float:
        return self._offset - (self.estimator.fastest + self.estimator.target)

    def _should_shrink(self) -> bool:
        """Skip this frame when the buffer holds over half a frame too much and the next one is already here."""
        return (
            self._since_shrink >= self._shrink_every
            and self._excess() > self.frame / 2
            and self._next_seq is not None
            and self._next_seq + 1 in self._packets
        )
