"""What the kernel knows about a WebSocket's TCP connection: segments received, and whether it was losing them.

The WebSocket link watch (``liveness.py``) must not take TCP's own recovery
for a dead peer. Under loss TCP holds everything behind a lost segment and
retransmits it on an exponential backoff (0.2, 0.6, 1.4, 3.0, 6.2 s after the
loss), so the application can go seconds without a frame while the peer is
there. Two facts from ``TCP_INFO`` (Linux) help:

* ``tcpi_segs_in`` counts every segment received, pure ACKs included: a peer
  that acknowledges our microphone audio is heard even when no frame gets
  through (:meth:`TcpHearing.count`);
* ``tcpi_total_retrans`` (less ``tcpi_dsack_dups``) says whether our side was retransmitting. A link
  that was losing segments (several retransmissions in the last 3 s) when it
  was last heard is given
  :data:`LOSSY_DEADLINE` instead of the usual deadline, long enough for four
  lost retransmissions in a row (:meth:`TcpHearing.patience`). A cut on a
  clean link is still noticed after 2.5 s: its retransmissions all come
  after the last segment heard.

Spurious retransmissions are not loss. On a loaded machine the kernel
often retransmits a segment whose acknowledgment was merely late (a tail-loss
probe fires after about 10 ms); the peer then reports the duplicate with a
D-SACK (``tcpi_dsack_dups``, Linux 4.19+). Counted as loss, loopback TCP on
a busy 2-core machine looked "lossy" every few seconds and a real cut then
waited 6.5 s (issue 24); so a retransmission the peer reported as a duplicate
is taken back.

"Before the peer was last heard" is the kernel's time, not our poll's:
``tcpi_last_ack_recv`` / ``tcpi_last_data_recv`` say how long ago the last
segment came. A loaded machine polls late; a poll that comes 0.7 s after a
cut sees the last segments from before the cut *and* the cut's first
retransmissions (a tail-loss probe, RTOs after 0.2 and 0.6 s) at once.
Stamped with the poll's time they looked like a lossy link, and a cut went
unnoticed for 6.5 s (issue 24). Retransmissions first seen after the last
segment's time count only once the peer is heard again.

Measured with real packet loss (nftables, BENCHMARKS.md "Dead links"). Where
there is no ``TCP_INFO`` (not Linux, an old kernel) the watch hears frames only.
"""

from __future__ import annotations

import collections
import socket
import struct
from dataclasses import dataclass
from typing import Any

from audio.base.clock import Clock

TOTAL_RETRANS_OFFSET = 100
"""``tcpi_total_retrans`` in ``struct tcp_info`` (linux/tcp.h): after the 8 one-byte fields and 23 32-bit ones."""
SEGS_IN_OFFSET = 140
"""``tcpi_segs_in`` (since Linux 4.2): after ``tcpi_total_retrans``, 4 64-bit fields and ``tcpi_segs_out``."""
DSACK_DUPS_OFFSET = 216
"""``tcpi_dsack_dups`` (since Linux 4.19): retransmissions the peer reported as duplicates (D-SACK)."""
LAST_DATA_RECV_OFFSET = 52
LAST_ACK_RECV_OFFSET = 56
"""``tcpi_last_data_recv`` and ``tcpi_last_ack_recv``: milliseconds since the last data / acknowledgment arrived."""
_INFO_SIZE = SEGS_IN_OFFSET + 4
_FULL_INFO_SIZE = DSACK_DUPS_OFFSET + 4
LOSSY_MEMORY = 3.0
LOSSY_RETRANSMISSIONS = 3
"""This many retransmissions within ``LOSSY_MEMORY`` before the peer was last heard make the link a lossy one
(one alone is no sign: a tail-loss probe, a SYN sent again while reconnecting; 20 % loss makes dozens)..."""
LOSSY_DEADLINE = 6.5
"""...whose silence may be TCP's backoff (a retransmission lost four times: 6.2 s) rather than a dead peer."""


@dataclass(frozen=True)
class TcpCounts:
    segments_in: int
    retransmitted: int
    duplicates: int = 0
    """Retransmissions the peer reported as duplicates (spurious: the original had arrived); 0 where not known."""
    heard_ago: float = 0.0
    """Seconds since the last segment from the peer arrived (the kernel's clock, not our polls')."""


def read_counts(sock: Any) -> TcpCounts | None:
    """The counts for ``sock`` (a socket or asyncio's ``TransportSocket``), or None where the kernel does not say."""
    option = getattr(socket, "TCP_INFO", None)
    if sock is None or option is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, option, _FULL_INFO_SIZE)  # the kernel returns what it has
    except OSError:
        return None
    if len(info) < _INFO_SIZE:
        return None

    def field(offset: int) -> int:
        return int(struct.unpack_from("=I", info, offset)[0])

    return TcpCounts(segments_in=field(SEGS_IN_OFFSET), retransmitted=field(TOTAL_RETRANS_OFFSET),
                     duplicates=field(DSACK_DUPS_OFFSET) if len(info) >= _FULL_INFO_SIZE else 0,
                     heard_ago=min(field(LAST_DATA_RECV_OFFSET), field(LAST_ACK_RECV_OFFSET)) / 1000)


class TcpHearing:
    """The link watch's ears on one TCP socket: :meth:`count` for ``watch_link``, :meth:`patience` for ``LinkWatch``."""

    def __init__(self, sock: Any, clock: Clock) -> None:
        self._sock = sock
        self._clock = clock
        self._segments: int | None = None
        self._retransmitted: int | None = None
        # (first seen, how many): retransmissions, and minus those the peer reported as duplicates
        self._retransmissions: collections.deque[tuple[float, int]] = collections.deque()
        self._duplicates: int | None = None
        self._read_at: float | None = None
        self.lossy = False
        """Whether our side had been retransmitting (:data:`LOSSY_RETRANSMISSIONS` within :data:`LOSSY_MEMORY`)
        when the peer was last heard."""

    @classmethod
    def of(cls, sock: Any, clock: Clock) -> TcpHearing | None:
        return cls(sock, clock) if read_counts(sock) is not None else None

    async def count(self) -> int:
        """Segments received so far (raises once the socket is closed: the watch then keeps its last count)."""
        counts = read_counts(self._sock)
        if counts is None:
            raise ConnectionError("the socket is closed")
        now = self._clock.monotonic()
        if self._retransmitted is not None and counts.retransmitted > self._retransmitted:
            self._retransmissions.append((now, counts.retransmitted - self._retransmitted))
        self._retransmitted = counts.retransmitted
        if self._duplicates is not None and counts.duplicates > self._duplicates:
            self._retransmissions.append((now, self._duplicates - counts.duplicates))
        self._duplicates = counts.duplicates
        if counts.segments_in != self._segments:
            self._segments = counts.segments_in
            # when the newest segment came: the kernel says; it came after our previous read in any case
            heard_at = max(now - counts.heard_ago, self._read_at if self._read_at is not None else float("-inf"))
            while self._retransmissions and heard_at - self._retransmissions[0][0] > LOSSY_MEMORY:
                self._retransmissions.popleft()
            # only retransmissions already seen when the peer was heard came before it (those seen later may be a
            # cut's); a duplicate report came with a segment, so it is always from before
            self.lossy = sum(n for when, n in self._retransmissions
                             if when <= heard_at or n < 0) >= LOSSY_RETRANSMISSIONS
        self._read_at = now
        return counts.segments_in

    def patience(self) -> float:
        """The deadline this link deserves now: :data:`LOSSY_DEADLINE` if it was losing segments, else 0 (the usual)."""
        return LOSSY_DEADLINE if self.lossy else 0.0
