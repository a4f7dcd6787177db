"""An SCTP HEARTBEAT on a peer connection's data-channel association: a question every WebRTC peer answers.

The liveness watch (``liveness.py``) asks a quiet peer for a sign of life.
Over WebRTC the one question every Realtime peer must answer, whatever it
does with its media, is SCTP's: the ``oai-events`` data channel rides an SCTP
association, and an endpoint that receives a HEARTBEAT replies with a
HEARTBEAT-ACK (RFC 9260 §8.3; the path heartbeat exists to probe an idle
path). The answer is a DTLS datagram, so it moves the transport's
``packetsReceived`` the watch reads. ICE consent checks would be the other
question, but RFC 7675 §5.1 forbids checking more often than every 4 s, too
slow for a 3 s detection; see docs/always-on.md.

aiortc answers heartbeats but never sends one and has no public call to, so
this is the one place that uses its private ``RTCSctpTransport._send_chunk``
(aiortc is pinned in pyproject.toml; :func:`check_internals` fails loudly at
connect time if it moved, and tests/realtime_session/test_liveness.py checks
that a heartbeat is answered through a real association).
"""

from __future__ import annotations

import itertools
import struct
from typing import Any

from aiortc.rtcsctptransport import HeartbeatChunk

from audio.base.errors import VoxflowError

_SEND_CHUNK = "_send_chunk"
HEARTBEAT_INFO = 1  # the Heartbeat Info parameter (RFC 9260 §3.3.5): opaque to the peer, echoed back
_sequence = itertools.count(1)


class AiortcSctpChanged(VoxflowError):
    """The installed aiortc no longer has the SCTP internals the liveness probe uses."""


def check_internals(sctp: Any) -> None:
    """Raise (not silently stop probing) if aiortc's SCTP transport lost what :func:`send_heartbeat` calls."""
    if not callable(getattr(sctp, _SEND_CHUNK, None)):
        raise AiortcSctpChanged(
            "this aiortc version is not supported by voxflow's link watch (no RTCSctpTransport._send_chunk)",
            hint="Install the aiortc version pinned in pyproject.toml.",
        )


async def send_heartbeat(sctp: Any) -> None:
    """Send one HEARTBEAT on ``sctp`` (an established ``RTCSctpTransport``); the answer comes back as a datagram."""
    chunk = HeartbeatChunk()
    chunk.params = [(HEARTBEAT_INFO, struct.pack("!Q", next(_sequence)))]
    await getattr(sctp, _SEND_CHUNK)(chunk)
