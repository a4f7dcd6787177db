"""Why a session moved: free-text reasons folded into a handful of label values.

Reasons carry addresses, attempt numbers and error texts; a label with such
values would create a new series per drop. :func:`reason_label` keeps what an
operator acts on (the service ended it, the network path failed, the service
was unreachable or refused) and nothing else.
"""

from __future__ import annotations

REASON_LABELS = ("cap", "expired", "ice_failed", "channel_closed", "refused", "timeout", "unreachable", "connection_failed", "other")

_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("expired", ("session_expired", "maximum session duration")),
    ("cap", (" cap",)),
    ("ice_failed", ("ice ",)),
    ("channel_closed", ("event channel", "closed the websocket", "data channel")),
    ("refused", ("refused", "401", "403")),
    ("timeout", ("timed out", "timeout", "no answer", "did not answer")),
    ("unreachable", ("could not reach", "unreachable", "connecterror", "connection refused")),
    ("connection_failed", ("connection failed", "connecting failed", "failed")),
)


def reason_label(reason: str | None) -> str:
    """One of :data:`REASON_LABELS` for a reason such as ``attempt 2: could not reach the Realtime service at ...``."""
    text = f" {(reason or '').lower()}"
    for label, needles in _RULES:
        if any(needle in text for needle in needles):
            return label
    return "other"
