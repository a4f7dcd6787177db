"""The retry policy for reconnecting a dropped session: exponential backoff with jitter, within bounds.

A dropped connection is retried a bounded number of times within a bounded
time (by default 6 tries within 2 minutes), waiting ``base * factor**n``
seconds (at most ``cap``) between tries, each wait scaled by a random factor
in [0.5, 1] so that many kiosks dropped by the same outage do not reconnect in
lockstep. The clock and the random source are injected, so tests replay a
whole schedule in milliseconds. :func:`retriable` says which failures are
worth another try: a refusal for bad credentials or an invalid request is not.
A busy service (503, e.g. "slots in use" while its one session slot drains, or
429) is retried, no sooner than the ``Retry-After`` it gave
(:class:`~audio.transports.service_http.ServiceRefused`).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from audio.base.clock import Clock
from audio.base.errors import VoxflowError
from audio.transports.service_http import ServiceRefused

PERMANENT_STATUSES = frozenset({400, 401, 403, 404, 422})
_PERMANENT_STATUS = re.compile(r"\((400|401|403|404|422)\)")


def retriable(error: BaseException) -> bool:
    """Whether connecting again may succeed: not for 401/403 (credentials) or 400/404/422 (invalid request).

    The secret providers and transports name the HTTP status of a refusal in
    parentheses (``refused a session (401): ...``); network failures, timeouts
    and 5xx answers are retriable.
    """
    if isinstance(error, ServiceRefused):
        return error.status not in PERMANENT_STATUSES
    message = error.message if isinstance(error, VoxflowError) else str(error)
    return _PERMANENT_STATUS.search(message) is None and "invalid" not in message.lower()


@dataclass
class Backoff:
    """One reconnection's schedule; :meth:`next_delay` is None once the tries or the time are spent."""

    clock: Clock
    tries: int = 6
    budget: float = 120.0
    base: float = 1.0
    factor: float = 2.0
    cap: float = 30.0
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0
    _started: float | None = None

    def start(self) -> None:
        self.attempts = 0
        self._started = self.clock.monotonic()

    def attempt(self) -> int:
        """Count one try; returns its number (1-based)."""
        if self._started is None:
            self.start()
        self.attempts += 1
        return self.attempts

    def next_delay(self, after: BaseException | None = None) -> float | None:
        """Seconds to wait before the next try, or None: give up.

        ``after``: the failure of the last try; a service that said when to come
        back (``Retry-After``) is not asked sooner, within the time budget.
        """
        if self._started is None:
            self.start()
        assert self._started is not None
        if self.attempts >= self.tries:
            return None
        spent = self.clock.monotonic() - self._started
        delay = min(self.cap, self.base * self.factor ** max(0, self.attempts - 1)) * (0.5 + 0.5 * self.rng.random())
        asked = after.retry_after if isinstance(after, ServiceRefused) else None
        if asked is not None:
            delay = max(delay, asked)
        if spent + delay > self.budget:
            return None
        return delay
