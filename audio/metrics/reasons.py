"""Why a session moved: free-text reasons folded into a handful of label values.

Reasons carry addresses, attempt numbers and error texts; a label with such
values would create a new series per drop. :func:`reason_label` keeps what an
operator acts on (the service ended it, the network path failed, the service
was unreachable or refused) and nothing else.
"""

from __future__ import annotations

import re

REASON_LABELS = ("cap", "expired", "ice_failed", "channel_closed", "refused", "timeout", "unreachable", "connection_failed", "other")

_RULES: tuple[tuple[str, re.Pattern[str]], ...] = tuple((label, re.compile(pattern, re.IGNORECASE)) for label, pattern in (
    ("expired", r"session_expired|maximum session duration"),
    ("cap", r"\bcap\b"),
    ("ice_failed", r"\bICE\b"),
    ("channel_closed", r"event channel|closed the WebSocket|data channel"),
    ("refused", r"refused|\b40[13]\b"),
    ("timeout", r"timed out|timeout|no answer|did not answer"),
    ("unreachable", r"could not reach|unreachable|ConnectError"),
    ("connection_failed", r"fail"),
))


def reason_label(reason: str | None) -> str:
    """One of :data:`REASON_LABELS` for a reason such as ``attempt 2: could not reach the Realtime service at ...``."""
    text = reason or ""
    for label, pattern in _RULES:
        if pattern.search(text):
            return label
    return "other"
