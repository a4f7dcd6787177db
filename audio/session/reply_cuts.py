"""Which responses' audio is still wanted: a flush (barge-in) cuts every response known until then.

Over WebSocket a reply's deltas carry its ``response_id`` and can still arrive
after the person cut in: the service sent them before it saw the cancel. They
must not be played (the person asked the reply to stop), count as heard audio
(``heard_audio.py``), or turn the playing state back on (``playout.py``). A
response is known from its ``response.created`` or its first delta; any
response first seen after the flush is a new one.
"""

from __future__ import annotations

from collections import deque

REMEMBERED = 64  # cut responses remembered; late deltas come from the last one or two


class ReplyCuts:
    def __init__(self) -> None:
        self._live: set[str] = set()
        self._cut: deque[str] = deque(maxlen=REMEMBERED)

    def seen(self, response_id: str) -> None:
        """A response started (``response.created``)."""
        if response_id not in self._cut:
            self._live.add(response_id)

    def wanted(self, response_id: str) -> bool:
        """Whether audio of ``response_id`` is to be played (False: a flush cut it)."""
        if response_id in self._cut:
            return False
        self._live.add(response_id)
        return True

    def flushed(self) -> None:
        """Playback was cut: every response known so far is unwanted from now on."""
        self._cut.extend(self._live)
        self._live.clear()
