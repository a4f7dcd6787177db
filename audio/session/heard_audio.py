"""How much of each assistant item the listener has heard, for ``conversation.item.truncate``.

Over WebRTC the service knows what it has played and cuts the reply itself
on a barge-in. Over WebSocket it sends the reply faster than real time and
never learns where playback stopped, so the model would go on believing the
user heard every word. The client then has to truncate the item at the point
it was interrupted (the protocol's rule for WebSocket clients).

The transport reports every audio delta with its item (``received``); at a
barge-in the session asks for the truncation, given the audio still waiting
to be heard (the playback pipe plus the speaker's own buffer). Walking back
from the newest item, that unheard audio is taken off the end; the item it
ends in is truncated at the first unheard millisecond (any newer one at 0).
Items heard in full need nothing, and nothing is sent when nothing was cut.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from audio.wire import protocol

REMEMBERED_ITEMS = 8
"""Items kept: a barge-in cuts the reply being played, never one many replies back."""


class HeardAudio:
    """Per-item received audio (ms, in arrival order); :meth:`truncations` turns unheard ms into events."""

    def __init__(self) -> None:
        self._items: deque[list[Any]] = deque(maxlen=REMEMBERED_ITEMS)  # [item_id, content_index, ms]

    def received(self, item_id: str, content_index: int, ms: float) -> None:
        """One audio delta of ``ms`` for ``item_id`` arrived and went to playback."""
        if self._items and self._items[-1][0] == item_id and self._items[-1][1] == content_index:
            self._items[-1][2] += ms
        else:
            self._items.append([item_id, content_index, ms])

    def truncations(self, unheard_ms: float) -> list[dict[str, Any]]:
        """The ``conversation.item.truncate`` events for a playback cut now with ``unheard_ms`` still queued.

        Usually one: the reply being played, cut where playback stopped. An item
        queued behind it and never heard is truncated at 0. The items are then
        forgotten, so a second cut does not truncate them again.
        """
        items, self._items = list(self._items), deque(maxlen=REMEMBERED_ITEMS)
        left = max(0.0, unheard_ms)
        events = []
        for item_id, content_index, ms in reversed(items):
            if left < 1.0:
                break
            cut = min(ms, left)
            left -= cut
            events.append(protocol.item_truncate(item_id, content_index, max(0, int(ms - cut))))  # floor: never past it
        return events[::-1]
