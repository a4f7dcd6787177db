"""Sessions per minute, counted in the store so every service instance shares them.

Each check is one atomic upsert on the (scope, key, window) row that only
increments while the count is under the limit, so concurrent requests on any
number of instances can never let more than ``limit`` through in a window.
Fixed 60-second windows aligned to the epoch; the clock is injected so tests
move time instead of waiting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from audio.clock import Clock

from .store import Store


@dataclass(frozen=True)
class RateDecision:
    scope: str
    allowed: bool
    limit: int
    remaining: int
    reset_after: int
    """Whole seconds until the window ends (``Retry-After`` when refused)."""

    def headers(self) -> dict[str, str]:
        headers = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_after),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_after)
        return headers


class RateLimiter:
    """``limit`` hits per ``window_seconds`` per (scope, key)."""

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
        window_start = int(now // self.window_seconds) * self.window_seconds
        if window_start > self._pruned_before:
            # housekeeping, once per window per instance: drop windows no check can reach
            self._pruned_before = window_start
            await self.store.prune_rate_limits(window_start - self.window_seconds)
        count = await self.store.hit_rate_limit(scope, key, window_start, self.limit)
        reset_after = max(1, math.ceil(window_start + self.window_seconds - now))
        if count is None:
            return RateDecision(scope, False, self.limit, 0, reset_after)
        return RateDecision(scope, True, self.limit, max(0, self.limit - count), reset_after)
