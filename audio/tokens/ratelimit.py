"""Sessions per minute, counted in the store so every service instance shares them.

A sliding-window approximation over fixed 60-second windows aligned to the
epoch: the estimate is ``previous window's count * (part of it still inside
the last 60 s) + this window's count``, so a burst at the end of one window
cannot be doubled at the start of the next. Each check is one atomic
statement (insert-or-increment that only counts while the estimate is under
the limit), so concurrent requests on any number of instances never let more
than ``limit`` through. The clock is injected so tests move time instead of
waiting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from audio.base.clock import Clock

from .store import Store


@dataclass(frozen=True)
class RateDecision:
    scope: str
    allowed: bool
    limit: int
    remaining: int
    reset_after: int
    """Whole seconds: until the window ends when allowed; until a retry can succeed when refused."""

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_after),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_after)
        return headers


def seconds_until_allowed(current: int, previous: int, elapsed: float, window: float, limit: int) -> float:
    """How long until ``previous * (1 - t/window) + current < limit`` holds again (t = time into a window)."""
    if current < limit:
        # still this window: wait until enough of the previous window has slid out
        target = window * (1 - (limit - current) / previous) if previous else 0.0
        return max(0.0, target - elapsed)
    # this window is full: wait for the next one, until enough of this one has slid out
    return (window - elapsed) + window * (1 - limit / current)


class RateLimiter:
    """``limit`` hits per ``window_seconds`` (sliding estimate) per (scope, key)."""

    def __init__(self, store: Store, clock: Clock, *, limit: int, window_seconds: int = 60) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.store = store
        self.clock = clock
        self.limit = limit
        self.window_seconds = window_seconds
        self._pruned_before = 0

    async def check(self, scope: str, key: str) -> RateDecision:
        now = self.clock.time()
        window = self.window_seconds
        window_start = int(now // window) * window
        previous_start = window_start - window
        elapsed = now - window_start
        weight = 1.0 - elapsed / window
        if window_start > self._pruned_before:
            # housekeeping, once per window per instance: drop windows no estimate can reach
            self._pruned_before = window_start
            await self.store.prune_rate_limits(previous_start)
        counted = await self.store.hit_rate_limit(
            scope, key, window_start=window_start, previous_start=previous_start, weight=weight, limit=self.limit
        )
        if counted is None:
            current, previous = await self.store.rate_limit_counts(scope, key, window_start=window_start, previous_start=previous_start)
            wait = seconds_until_allowed(current, previous, elapsed, window, self.limit)
            # the estimate must drop strictly below the limit: round up past the exact moment
            return RateDecision(scope, False, self.limit, 0, max(1, math.ceil(wait + 1e-6)))
        current, previous = counted
        remaining = max(0, math.floor(self.limit - current - previous * weight))
        return RateDecision(scope, True, self.limit, remaining, max(1, math.ceil(window - elapsed)))
