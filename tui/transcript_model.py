"""The transcript as the app shows it: entries in order, with what changed since the last paint.

The session core sends :class:`~audio.session.events.TranscriptUpdated`
snapshots, often one per delta. Keeping them here (not in widgets) lets the
view repaint at a bounded rate: it asks :meth:`TranscriptModel.take_changes`
which entries changed since the last paint and redraws only those. Entries are
keyed by ``item_id``; an entry that arrives late (a user transcription landing
after the assistant's reply) is placed at the index the session gives it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from audio.session.events import TranscriptCleared, TranscriptEntry, TranscriptUpdated
from audio.session.transcript_order import Placed, TranscriptOrder


@dataclass
class TranscriptChanges:
    """What a repaint must do: start over, insert new entries, update existing ones."""

    cleared: bool = False
    inserted: list[tuple[int, TranscriptEntry]] = field(default_factory=list)  # (position, entry), in order
    updated: list[TranscriptEntry] = field(default_factory=list)
    order: list[str] | None = None  # the whole order, when an existing entry moved

    @property
    def empty(self) -> bool:
        return not (self.cleared or self.inserted or self.updated or self.order)


class TranscriptModel:
    """Ordered transcript snapshots plus the set of item ids changed since the last paint."""

    def __init__(self) -> None:
        self._order = TranscriptOrder()
        self._entries: dict[str, TranscriptEntry] = {}
        self._new: set[str] = set()
        self._dirty: set[str] = set()
        self._cleared = False
        self._moved = False
        self.updates = 0

    def __len__(self) -> int:
        return len(self._order)

    @property
    def entries(self) -> list[TranscriptEntry]:
        return [self._entries[item_id] for item_id in self._order]

    def apply(self, event: TranscriptUpdated | TranscriptCleared) -> None:
        if isinstance(event, TranscriptCleared):
            self.clear()
            return
        entry = event.entry
        self.updates += 1
        placed = self._order.place(entry.item_id, event.index)
        self._entries[entry.item_id] = entry
        if placed is Placed.NEW:
            self._new.add(entry.item_id)
            return
        if entry.item_id not in self._new:
            self._dirty.add(entry.item_id)
        if placed is Placed.MOVED:
            # placed later than it was first shown (an early delta created it out of order)
            self._moved = True

    def clear(self) -> None:
        self._order.clear()
        self._entries.clear()
        self._new.clear()
        self._dirty.clear()
        self._moved = False
        self._cleared = True

    def take_changes(self) -> TranscriptChanges:
        """Changes since the previous call, in transcript order; resets the record."""
        changes = TranscriptChanges(cleared=self._cleared)
        if self._new:
            for position, item_id in enumerate(self._order):
                if item_id in self._new:
                    changes.inserted.append((position, self._entries[item_id]))
        changes.updated = [self._entries[item_id] for item_id in self._dirty]
        if self._moved:
            changes.order = self._order.as_list()
        self._moved = False
        self._new.clear()
        self._dirty.clear()
        self._cleared = False
        return changes
