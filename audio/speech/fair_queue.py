"""Fair sharing of the recognisers between calls: start-time fair queueing on audio seconds.

Each job belongs to an owner (a call) and costs its audio's length. A job's
tag is ``max(virtual time, owner's last finish) + cost``; the job with the
smallest tag runs next, and the virtual time follows the start tag of the job
taken. So a call that sends one long turn, or many turns, gets its share and
no more: another call's short turn queued behind it goes first, and an owner
that was idle does not get to bank credit. Jobs are never preempted (a window
of Whisper runs to its end), which is why long turns are cut into windows of
at most 15 s before they are queued (``recognizer_pool.windows``).

Pure and single-threaded: the pool guards it with its own lock.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(order=True)
class _Entry(Generic[T]):
    tag: float
    order: int
    start: float = field(compare=False)
    owner: object = field(compare=False)
    item: T = field(compare=False)


class FairQueue(Generic[T]):
    def __init__(self) -> None:
        self._entries: list[_Entry[T]] = []
        self._finish: dict[object, float] = {}  # owner -> finish tag of its latest job
        self._virtual = 0.0
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._entries)

    def put(self, owner: object, item: T, cost: float) -> None:
        start = max(self._virtual, self._finish.get(owner, 0.0))
        finish = start + max(cost, 0.0)
        self._finish[owner] = finish
        self._entries.append(_Entry(finish, next(self._order), start, owner, item))

    def take(self) -> T | None:
        """The next job in fair order (None when empty)."""
        if not self._entries:
            return None
        entry = min(self._entries)
        self._entries.remove(entry)
        self._virtual = max(self._virtual, entry.start)
        self._finish = {owner: tag for owner, tag in self._finish.items() if tag > self._virtual}  # no credit banked
        return entry.item

    def remove_owner(self, owner: object) -> list[T]:
        """Drop an owner's queued jobs (its call ended); they are returned so they can be cancelled."""
        dropped = [entry.item for entry in self._entries if entry.owner == owner]
        self._entries = [entry for entry in self._entries if entry.owner != owner]
        self._finish.pop(owner, None)
        return dropped
