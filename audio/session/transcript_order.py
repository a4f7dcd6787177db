"""A subscriber's copy of the transcript's order, kept from the index each update carries.

The session publishes ``TranscriptUpdated(entry, index)``: ``index`` is where the
entry sits now. An entry can arrive before its predecessor (a user transcription
landing after the assistant's reply), so a subscriber must insert new entries at
that index and move a known one when the index says it moved. The app's
transcript model and the headless runner both keep their order with this one
class. See docs/ARCHITECTURE.md ("Transcript").
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum


class Placed(Enum):
    NEW = "new"
    MOVED = "moved"
    SAME = "same"


class TranscriptOrder:
    """Item ids in transcript order."""

    def __init__(self) -> None:
        self._ids: list[str] = []
        self._known: set[str] = set()

    def place(self, item_id: str, index: int) -> Placed:
        """Record that ``item_id`` now sits at ``index`` (clamped to the end for a new id)."""
        ids = self._ids
        if item_id not in self._known:
            ids.insert(max(0, min(index, len(ids))), item_id)
            self._known.add(item_id)
            return Placed.NEW
        if 0 <= index < len(ids) and ids[index] != item_id:
            ids.remove(item_id)
            ids.insert(index, item_id)
            return Placed.MOVED
        return Placed.SAME

    def clear(self) -> None:
        self._ids.clear()
        self._known.clear()

    def __iter__(self) -> Iterator[str]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._known

    def as_list(self) -> list[str]:
        return list(self._ids)
