"""The session's clock-driven timers: elapsed/remaining each second, warning, cap.

A session lasts at most 60 minutes (docs/PROTOCOL.md §6). Rather than
letting the service cut it off mid-sentence, the core ends it cleanly at the
configured cap and warns a minute before. All time comes from the injected
:class:`~audio.base.clock.Clock`, so tests run an hour in milliseconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from audio.base.clock import Clock
from audio.session.events import Notice, SessionEvent, TimerTick

WARNING_SECONDS = 60.0


class SessionTimer:
    """Counts from ``start()``; ``run()`` ticks once a second until the cap."""

    def __init__(self, clock: Clock, limit_seconds: float, *, warning_seconds: float = WARNING_SECONDS) -> None:
        self.clock = clock
        self.limit = limit_seconds
        self.warning_seconds = warning_seconds
        self._started: float | None = None
        self.warned = False

    def start(self) -> None:
        self._started = self.clock.monotonic()
        self.warned = False

    @property
    def running(self) -> bool:
        return self._started is not None

    def elapsed(self) -> float:
        return 0.0 if self._started is None else max(0.0, self.clock.monotonic() - self._started)

    def remaining(self) -> float:
        return max(0.0, self.limit - self.elapsed())

    async def run(
        self,
        on_tick: Callable[[float, float, bool], None],
        on_warning: Callable[[float], None],
        on_cap: Callable[[], object],
    ) -> None:
        """Tick at each whole second of elapsed time; warn once; call ``on_cap`` at the cap and return."""
        if self._started is None:
            self.start()
        assert self._started is not None
        second = 0
        while True:
            second += 1
            target = min(float(second), self.limit)
            delay = self._started + target - self.clock.monotonic()
            if delay > 0:
                await self.clock.sleep(delay)
            else:  # fell behind (a busy loop or a big clock jump): catch up to now
                second = max(second, math.floor(self.elapsed()))
            remaining = self.remaining()
            warning = remaining <= self.warning_seconds
            on_tick(self.elapsed(), remaining, warning)
            if warning and not self.warned and remaining > 0:
                self.warned = True
                on_warning(remaining)
            if remaining <= 0:
                result = on_cap()
                if hasattr(result, "__await__"):
                    await result  # type: ignore[misc]
                return


def duration_text(minutes: float) -> str:
    """``60 min``, ``2.5 min``, or ``45 s`` for caps under a minute."""
    if minutes < 1:
        return f"{minutes * 60:.3g} s"
    return f"{minutes:.4g} min"


async def run_session_timer(
    timer: SessionTimer,
    limit_minutes: float,
    publish: Callable[[SessionEvent], None],
    on_cap: Callable[[str], None],
) -> None:
    """Run ``timer`` publishing :class:`TimerTick` and the last-minute :class:`Notice`; ``on_cap(reason)`` at the cap."""
    limit = duration_text(limit_minutes)

    def tick(elapsed: float, remaining: float, warning: bool) -> None:
        publish(TimerTick(elapsed, remaining, warning))

    def warn(remaining: float) -> None:
        publish(Notice(f"{max(1, round(remaining))} s left before the {limit} limit", "warning"))

    await timer.run(tick, warn, lambda: on_cap(f"maximum session duration ({limit}) reached"))
