"""The message that tells the app the session view changed, so the header and panel catch up.

Instead of a dirty flag polled by a repaint timer, the app posts a message per
change; Textual merges it into a like message still waiting in the queue
(``Message.can_replace``), so a burst of events costs one repaint and a quiet
session repaints at once.
"""

from __future__ import annotations

from textual.message import Message


class ViewChanged(Message):
    """The session view (state, levels, timers, ...) changed: the header and connection panel repaint."""

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ViewChanged)
