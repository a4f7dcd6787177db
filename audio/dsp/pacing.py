"""Sleeping on an injected clock in a way that ``stop()`` can cut short.

Sources and the sending track pace themselves with ``clock.sleep``; when they
are stopped, a pending read must end at once even if the clock would never
wake it (a :class:`~audio.base.clock.FakeClock` in a test, or a long wait).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from audio.base.clock import Clock


class Interruptible(Protocol):
    """An object that paces itself: it owns a clock and the two fields below (start None/False)."""

    clock: Clock
    _pacing_wait: asyncio.Task[object] | None
    _interrupted: bool


async def interruptible_sleep(owner: Interruptible, seconds: float) -> bool:
    """Sleep on ``owner.clock``; False if :func:`interrupt` woke us (a stop), True when the time is up.

    The sleep runs in the caller's task (no helper task, so a FakeClock sees it
    at once); an interrupt cancels that task and the cancellation is taken back
    here, while a cancellation from anyone else propagates as usual.
    """
    task = asyncio.current_task()
    owner._pacing_wait = task
    try:
        await owner.clock.sleep(seconds)
    except asyncio.CancelledError:
        if owner._interrupted and task is not None:
            owner._interrupted = False
            if task.uncancel() == 0:
                return False
        raise
    finally:
        owner._pacing_wait = None
    return True


def interrupt(owner: Interruptible) -> None:
    """Wake ``owner``'s pending :func:`interruptible_sleep`, if any."""
    task = owner._pacing_wait
    if task is not None and not task.done() and not owner._interrupted:
        owner._interrupted = True
        task.cancel()
