"""Whether the microphone is sent: mute and the push-to-talk key, combined into one gate.

The gate itself is the sending track's (``audio/transports/tracks.py``): closed, it sends
silence and keeps the call up. With voice activity detection the key plays no
part; with push-to-talk the gate opens only while the key is held.
"""

from __future__ import annotations

from collections.abc import Callable

from audio.session.events import MuteChanged, SessionEvent


class MicGate:
    def __init__(self, *, push_to_talk: bool, publish: Callable[[SessionEvent], None], apply: Callable[[bool], None]) -> None:
        self.push_to_talk = push_to_talk
        self._publish = publish
        self._apply = apply  # sets the live sending track's gate (if any)
        self.muted = False
        self._key_down = False

    @property
    def open(self) -> bool:
        by_turns = self._key_down if self.push_to_talk else True
        return by_turns and not self.muted

    def set_muted(self, muted: bool) -> None:
        if muted != self.muted:
            self.muted = muted
            self._apply(self.open)
            self._publish(MuteChanged(muted))

    def set_key(self, down: bool) -> None:
        """The push-to-talk machine opens or closes its part of the gate."""
        self._key_down = down
        self._apply(self.open)
