"""RenewalPort: what renewal and its handover need from a session, and nothing more.

:class:`~audio.session.renewal.Renewal` and
:class:`~audio.session.handover.Handover` move a conversation from one
connection to the next. They used to reach into the session's private
members (and import it, while it imported them); now they work through these
named operations, which :class:`~audio.session.session.RealtimeSession`
offers on purpose and the tests' fakes implement too (the type check keeps
them in step). The port is grouped by what a switch does: judge the turn
boundary, break first (keep the playback stream, end the connection, connect
again), make before break (open a connection alongside the live one, then
adopt it), carry the conversation over, and report.
"""

from __future__ import annotations

from typing import Any, Protocol

from audio.base.clock import Clock
from audio.base.pubsub import EventHub
from audio.session.connection import Connection
from audio.session.events import PttState, SessionEvent, SessionState
from audio.session.lifecycle import Lifecycle
from audio.session.outage_buffer import OutageReport
from audio.session.timers import SessionTimer
from audio.session.transcript import Transcript
from audio.transports.secrets import SecretProvider
from audio.transports.transport import RealtimeTransport, TransportCallbacks
from audio.wire.config import SessionConfig


class RenewalPort(Protocol):
    """A session as renewal and handover see it."""

    # ---------------------------------------------------------------- what the session is
    @property
    def config(self) -> SessionConfig: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def events(self) -> EventHub[SessionEvent]:
        """The session's typed events (renewal follows speech started/stopped)."""

    @property
    def timer(self) -> SessionTimer:
        """The live connection's clock against its cap."""

    @property
    def transcript(self) -> Transcript:
        """The conversation so far (carried over as text; a divider marks each switch)."""

    @property
    def lifecycle(self) -> Lifecycle:
        """The connection state machine: generations for connections opened ahead."""

    @property
    def secret_provider(self) -> SecretProvider: ...

    @property
    def reason(self) -> str | None:
        """Why the session is in its current state (the last failure, while reconnecting)."""

    # ---------------------------------------------------------------- the turn boundary
    @property
    def assistant_busy(self) -> bool: ...

    @property
    def ptt_state(self) -> PttState: ...

    def last_server_activity(self) -> float:
        """Clock time of the last server event on the live connection."""

    # ---------------------------------------------------------------- break before make
    async def connect(self, *, failure_state: SessionState = ...) -> None:
        """Open a new live connection (same config, transcript kept); raises VoxflowError on failure."""

    async def end_connection(self, state: SessionState, reason: str) -> None:
        """End the live connection (and one opened ahead) in ``state``.

        ``renewing``/``reconnecting`` leave a kept playback stream for the next
        connection; any other state releases it.
        """

    def keep_playback(self, *, flush: bool) -> None:
        """Keep the live connection's playback stream for the next one (``flush``: cut what is queued)."""

    def drop_kept_playback(self) -> None:
        """Release a kept playback stream: no next connection will take it."""

    def hold_input(self) -> None:
        """The link is down: keep listening to the microphone into the outage buffer."""

    async def resume_input(self) -> OutageReport | None:
        """The new connection is live: hand it what was said meanwhile (the speech), then the live microphone."""

    def drop_held_input(self) -> None:
        """No connection will take what an outage held: stop listening for one."""

    # ---------------------------------------------------------------- make before break
    def live_connection(self) -> Connection | None:
        """The live connection (its media paths and transport), or None between connections."""

    def new_transport(self, callbacks: TransportCallbacks) -> RealtimeTransport:
        """A transport of the kind the session uses, reporting to ``callbacks``."""

    def connection_callbacks(self, generation: int) -> TransportCallbacks:
        """How the session follows a connection of ``generation`` (ignored unless it is the live one)."""

    def stamp(self, event: dict[str, Any]) -> dict[str, Any]:
        """A client event as the session sends it (best-effort events get an id)."""

    def adopt(self, conn: Connection, *, call_id: str | None, link: tuple[str, str], kept: list[str | bytes]) -> None:
        """Make ``conn`` -- opened ahead, the media already moved to it -- the live connection.

        ``link`` is its last (link, event channel) state; ``kept`` the server
        events it sent while not live (its settings), interpreted now.
        """

    async def release(self, *conns: Connection | None) -> None:
        """Close connections the session has moved away from (a cancelled caller leaves the release running)."""

    def release_later(self, conn: Connection) -> None:
        """Close ``conn`` in the background (called from one of its own callbacks)."""

    # ---------------------------------------------------------------- carrying over and reporting
    def send_carried(self, events: list[dict[str, Any]], id_prefix: str) -> None:
        """Send the conversation so far to the live connection; items with ``id_prefix`` are not new turns."""

    def report_state(self, state: SessionState, reason: str | None = None) -> None:
        """Publish a state change (``reconnecting (attempt n)``, ``error`` when giving up)."""

    def warn(self, message: str) -> None:
        """Publish a warning notice (a failed attempt, opening ahead failed)."""
