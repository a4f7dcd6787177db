"""What the kernel knows about a WebSocket's TCP connection: segments received, and whether it was losing them.

The WebSocket link watch (``liveness.py``) must not take TCP's own recovery
for a dead peer. Under loss TCP holds everything behind a lost segment and
retransmits it on an exponential backoff (0.2, 0.6, 1.4, 3.0, 6.2 s after the
loss), so the application can go seconds without a frame while the peer is
there. Two facts from ``TCP_INFO`` (Linux) help:

* ``tcpi_segs_in`` counts every segment received, pure ACKs included: a peer
  that acknowledges our microphone audio is heard even when no frame gets
  through (:meth:`TcpHearing.count`);
* ``tcpi_total_retrans`` says whether our side was retransmitting. A link
  that was losing segments (several retransmissions in the last 3 s) when it
  was last heard is given
  :data:`LOSSY_DEADLINE` instead of the usual deadline, long enough for four
  lost retransmissions in a row (:meth:`TcpHearing.patience`). A cut on a
  clean link is still noticed after 2.5 s: its retransmissions all come
  after the last segment heard.

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
_INFO_SIZE = SEGS_IN_OFFSET + 4
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


def read_counts(sock: Any) -> TcpCounts | None:
    """The counts for ``sock`` (a socket or asyncio's ``TransportSocket``), or None where the kernel does not say."""
    option = getattr(socket, "TCP_INFO", None)
    if sock is None or option is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, option, _INFO_SIZE)
    except OSError:
        return None
    if len(info) < _INFO_SIZE:
        return None
    return TcpCounts(segments_in=int(struct.unpack_from("=I", info, SEGS_IN_OFFSET)[0]),
                     retransmitted=int(struct.unpack_from("=I", info, TOTAL_RETRANS_OFFSET)[0]))


class TcpHearing:
    """The link watch's ears on one TCP socket: :meth:`count` for ``watch_link``, :meth:`patience` for ``LinkWatch``."""

    def __init__(self, sock: Any, clock: Clock) -> None:
        self._sock = sock
        self._clock = clock
        self._segments: int | None = None
        self._retransmitted: int | None = None
        self._retransmissions: collections.deque[tuple[float, int]] = collections.deque()  # (when, how many)
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
        if counts.segments_in != self._segments:
            self._segments = counts.segments_in
            while self._retransmissions and now - self._retransmissions[0][0] > LOSSY_MEMORY:
                self._retransmissions.popleft()
            self.lossy = sum(n for _, n in self._retransmissions) >= LOSSY_RETRANSMISSIONS
        return counts.segments_in

    def patience(self) -> float:
        """The deadline this link deserves now: :data:`LOSSY_DEADLINE` if it was losing segments, else 0 (the usual)."""
        return LOSSY_DEADLINE if self.lossy else 0.0
