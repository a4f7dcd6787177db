"""Segments a TCP socket has received from its peer, from the kernel (Linux ``TCP_INFO.tcpi_segs_in``).

The WebSocket link watch (``liveness.py``) must not take TCP's own recovery
for a dead peer. Under heavy loss TCP holds everything behind a lost segment
and retransmits it on an exponential backoff (0.2, 0.6, 1.4, 3.0 s...), so
the application can go 2.5 s without a frame while the peer's acknowledgments
keep arriving: measured on a real 20 % loss (nftables), a frames-only watch
dropped every lossy WebSocket. The kernel counts every segment, pure ACKs
included, so a peer that answers at the TCP level is heard; a cut network
(nothing arrives at all) is not. Where there is no ``TCP_INFO`` (not Linux,
an old kernel) the watch hears frames only.
"""

from __future__ import annotations

import socket
import struct
from typing import Any

SEGS_IN_OFFSET = 140
"""``tcpi_segs_in`` in ``struct tcp_info`` (linux/tcp.h, since Linux 4.2): after the 8 one-byte fields,
24 32-bit fields, 4 64-bit ones and ``tcpi_segs_out``."""
_INFO_SIZE = SEGS_IN_OFFSET + 4


def segments_in(sock: Any) -> int | None:
    """The count for ``sock`` (a socket or asyncio's ``TransportSocket``), or None where the kernel does not say."""
    option = getattr(socket, "TCP_INFO", None)
    if sock is None or option is None:
        return None
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, option, _INFO_SIZE)
    except OSError:
        return None
    if len(info) < _INFO_SIZE:
        return None
    return int(struct.unpack_from("=I", info, SEGS_IN_OFFSET)[0])
