"""The connection lifecycle as one explicit state machine.

``idle → connecting → connected → closing → closed``; from ``connecting`` a
connection may go straight to ``closing`` (it failed or was stopped), and a
``closed`` session may connect again (same conversation, a new connection).
Every connection has a generation number, so callbacks of a connection that
has been replaced (renewal, reconnect) are recognised and ignored. A
handover reserves a generation for the connection it opens alongside the live
one, and makes it current while the machine stays ``connected``.

Ending is split in two steps so that it is safe under cancellation:
:meth:`Lifecycle.begin_close` claims the end (only the first caller wins and
records the outcome), :meth:`Lifecycle.finish_close` is called from a
``finally`` and always leaves the machine ``closed`` with :attr:`closed` set,
whatever happened in between.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum

from audio.session.events import SessionState


class Phase(StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    CLOSING = "closing"
    CLOSED = "closed"


ALLOWED: dict[Phase, frozenset[Phase]] = {
    Phase.IDLE: frozenset({Phase.CONNECTING}),
    Phase.CONNECTING: frozenset({Phase.CONNECTED, Phase.CLOSING}),
    Phase.CONNECTED: frozenset({Phase.CLOSING}),
    Phase.CLOSING: frozenset({Phase.CLOSED}),
    Phase.CLOSED: frozenset({Phase.CONNECTING}),
}


class IllegalTransition(RuntimeError):
    """A programming error: the session asked for a transition the machine does not allow."""


@dataclass(frozen=True)
class Outcome:
    """How a connection ended: the public state (disconnected or error) and why."""

    state: SessionState
    reason: str


class Lifecycle:
    def __init__(self) -> None:
        self.phase = Phase.IDLE
        self.generation = 0
        self._issued = 0  # the last generation handed out (current or reserved)
        self.outcome: Outcome | None = None
        self.stop_requested: str | None = None  # disconnect() while connecting: why
        self.ending: asyncio.Event = asyncio.Event()  # the connection's end is decided (closing or closed)
        self.closed: asyncio.Event = asyncio.Event()
        self.closed.set()

    def _move(self, to: Phase) -> None:
        if to not in ALLOWED[self.phase]:
            raise IllegalTransition(f"connection lifecycle: {self.phase} -> {to} is not allowed")
        self.phase = to

    def current(self, generation: int) -> bool:
        """Whether ``generation`` is the live connection (not one that ended or was replaced)."""
        return generation == self.generation and self.phase in (Phase.CONNECTING, Phase.CONNECTED)

    @property
    def active(self) -> bool:
        return self.phase in (Phase.CONNECTING, Phase.CONNECTED)

    def begin_connect(self) -> int:
        self._move(Phase.CONNECTING)
        self._issued += 1
        self.generation = self._issued
        self.outcome = None
        self.stop_requested = None
        self.ending = asyncio.Event()
        self.closed = asyncio.Event()
        return self.generation

    def connected(self) -> None:
        self._move(Phase.CONNECTED)

    def reserve(self) -> int:
        """A generation for a connection opened ahead (not current until :meth:`hand_over`)."""
        self._issued += 1
        return self._issued

    def hand_over(self, generation: int) -> None:
        """The reserved ``generation`` becomes the live connection; the old one's callbacks are ignored from now on."""
        if self.phase is not Phase.CONNECTED or not self.generation < generation <= self._issued:
            raise IllegalTransition(f"connection lifecycle: hand over to {generation} in {self.phase}")
        self.generation = generation

    def begin_close(self, state: SessionState, reason: str) -> bool:
        """Claim the end of the live connection; False if it is already ending or not live."""
        if not self.active:
            return False
        self._move(Phase.CLOSING)
        self.outcome = Outcome(state, reason)
        self.ending.set()
        return True

    def finish_close(self) -> Outcome:
        """Always called (from ``finally``) after :meth:`begin_close` succeeded."""
        self._move(Phase.CLOSED)
        self.closed.set()
        assert self.outcome is not None
        return self.outcome
