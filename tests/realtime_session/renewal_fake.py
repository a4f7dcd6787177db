"""A session double for renewal tests: it implements :class:`~audio.session.renewal_port.RenewalPort` (mypy checks it).

Its connections are scripted (``connect`` raises the errors queued in
:attr:`FakeRenewalSession.failures`, then succeeds) and every call the
supervisor makes through the port is recorded in :attr:`calls`, so the
reconnection logic is tested without a transport, a server or a wall clock.
"""

from __future__ import annotations

from typing import Any

from audio.base.clock import FakeClock
from audio.base.errors import VoxflowError
from audio.base.pubsub import EventHub
from audio.session.connection import Connection
from audio.session.events import PttState, SessionEvent, SessionState, StateChanged
from audio.session.lifecycle import Lifecycle
from audio.session.outage_buffer import OutageReport
from audio.session.renewal_port import RenewalPort
from audio.session.timers import SessionTimer
from audio.session.transcript import Transcript
from audio.transports.secrets import EphemeralSecret
from audio.transports.transport import RealtimeTransport, TransportCallbacks
from audio.wire.config import SessionConfig


class StaticSecrets:
    label = "fake"

    async def mint(self, config: SessionConfig) -> EphemeralSecret:
        return EphemeralSecret("ek_fake", 1_900_000_000.0)


class FakeRenewalSession:
    def __init__(self, **config: Any) -> None:
        self.config = SessionConfig.build(base_url="http://fake.invalid", **config)
        self.clock = FakeClock()
        self.events: EventHub[SessionEvent] = EventHub()
        self.timer = SessionTimer(self.clock, self.config.max_seconds)
        self.transcript = Transcript(self.clock)
        self.lifecycle = Lifecycle()
        self.secret_provider = StaticSecrets()
        self.state = SessionState.CONNECTED
        self.reason: str | None = None
        self.assistant_busy = False
        self.ptt_state = PttState.OFF
        self.failures: list[VoxflowError] = []  # raised by the next connects, in order
        self.calls: list[tuple[Any, ...]] = []
        self.sent: list[dict[str, Any]] = []
        self.kept_playback = False
        self.outage: OutageReport | None = None  # what resume_input reports

    # -- facts
    def last_server_activity(self) -> float:
        return 0.0

    # -- break before make
    async def connect(self, *, failure_state: SessionState = SessionState.ERROR) -> None:
        self.calls.append(("connect",))
        self.report_state(SessionState.CONNECTING)
        if self.failures:
            error = self.failures.pop(0)
            self.report_state(failure_state, error.message)
            raise error
        self.report_state(SessionState.CONNECTED)

    async def end_connection(self, state: SessionState, reason: str) -> None:
        self.calls.append(("end_connection", state, reason))
        if state not in (SessionState.RENEWING, SessionState.RECONNECTING):
            self.drop_kept_playback()
        self.report_state(state, reason)

    def keep_playback(self, *, flush: bool) -> None:
        self.calls.append(("keep_playback", flush))
        self.kept_playback = True

    def drop_kept_playback(self) -> None:
        self.calls.append(("drop_kept_playback",))
        self.kept_playback = False

    def hold_input(self) -> None:
        self.calls.append(("hold_input",))

    async def resume_input(self) -> OutageReport | None:
        self.calls.append(("resume_input",))
        return self.outage

    def drop_held_input(self) -> None:
        self.calls.append(("drop_held_input",))

    # -- make before break (not used by a reconnection)
    def live_connection(self) -> Connection | None:
        return None

    def new_transport(self, callbacks: TransportCallbacks) -> RealtimeTransport:
        raise AssertionError("a reconnection opens no connection ahead")

    def connection_callbacks(self, generation: int) -> TransportCallbacks:
        raise AssertionError("a reconnection opens no connection ahead")

    def stamp(self, event: dict[str, Any]) -> dict[str, Any]:
        return event

    def adopt(self, conn: Connection, *, call_id: str | None, link: tuple[str, str], kept: list[str | bytes]) -> None:
        raise AssertionError("a reconnection adopts no connection opened ahead")

    async def release(self, *conns: Connection | None) -> None:
        self.calls.append(("release", len(conns)))

    def release_later(self, conn: Connection) -> None:
        self.calls.append(("release_later",))

    # -- carrying over and reporting
    def send_carried(self, events: list[dict[str, Any]], id_prefix: str) -> None:
        self.calls.append(("send_carried", id_prefix))
        self.sent.extend(events)

    def report_state(self, state: SessionState, reason: str | None = None) -> None:
        self.state, self.reason = state, reason
        self.events.publish(StateChanged(state, reason))

    def warn(self, message: str) -> None:
        self.calls.append(("warn", message))


_: type[RenewalPort] = FakeRenewalSession
