"""systemd notifications reach a datagram socket the test owns: READY once the flow runs, STATUS with each
session state, WATCHDOG=1 at half of WATCHDOG_USEC on the injected clock, STOPPING at the end."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from audio.base.clock import FakeClock
from audio.base.pubsub import EventHub
from audio.base.sd_notify import SdNotifier, socket_address, watchdog_interval
from audio.session.events import ConnectionInfo, SessionEvent, SessionState, StateChanged
from flow.events import FlowEvent, FlowFinished, FlowStarted, NodeEvent
from flow.service import RunService, ServiceSettings


class Listener:
    """The test's end of ``NOTIFY_SOCKET``: a bound datagram socket."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        # bound by hand (not through socket_address), so a notifier that got '@' wrong cannot reach it
        self.sock.bind(b"\0" + address[1:].encode() if address.startswith("@") else address)
        self.sock.setblocking(False)

    def messages(self) -> list[str]:
        found = []
        while True:
            try:
                found.append(self.sock.recv(4096).decode())
            except BlockingIOError:
                return found


@pytest.fixture(params=["path", "abstract"])
def listener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Listener]:
    address = str(tmp_path / "notify") if request.param == "path" else f"@voxflow-test-{os.getpid()}-{id(tmp_path)}"
    listener = Listener(address)
    yield listener
    listener.sock.close()


class FakeSession:
    """Enough of a LiveSession for the service: events, state, reason."""

    def __init__(self) -> None:
        self.events: EventHub[SessionEvent] = EventHub()
        self.state = SessionState.IDLE
        self.reason: str | None = None
        self.connection_info = ConnectionInfo()
        self.transcript = None

    def set(self, state: SessionState, reason: str | None = None) -> None:
        self.state, self.reason = state, reason
        self.events.publish(StateChanged(state, reason))

    def mute(self) -> None: ...
    def unmute(self) -> None: ...
    async def ptt_toggle(self) -> None: ...
    async def send_text(self, text: str) -> None: ...
    async def disconnect(self, reason: str | None = None) -> None: ...


class Engine:
    def __init__(self) -> None:
        self.events: EventHub[FlowEvent] = EventHub()


def test_watchdog_interval_is_half_of_watchdog_usec_for_this_process() -> None:
    assert watchdog_interval({"WATCHDOG_USEC": "4000000"}) == 2.0
    assert watchdog_interval({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": str(os.getpid())}) == 2.0
    assert watchdog_interval({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}, pid=2) is None
    assert watchdog_interval({}) is None


def test_no_notify_socket_means_no_notifier() -> None:
    assert SdNotifier.from_env({}) is None
    assert socket_address("@name") == b"\0name" and socket_address("/run/x") == "/run/x"


async def test_ready_status_and_watchdog_timing(listener: Listener) -> None:
    clock = FakeClock()
    notifier = SdNotifier.from_env({"NOTIFY_SOCKET": listener.address})
    assert notifier is not None
    service = RunService(ServiceSettings(notifier=notifier, watchdog_seconds=2.0), clock=clock)
    engine = Engine()
    service.start()
    service.watch(engine)
    await asyncio.sleep(0)
    assert listener.messages() == ["STATUS=flow starting", "WATCHDOG=1"]  # the first ping at once

    await clock.advance(1.9)
    assert listener.messages() == []  # not before the interval
    await clock.advance(0.1)
    assert listener.messages() == ["WATCHDOG=1"]

    engine.events.publish(FlowStarted("kiosk", clock.monotonic()))
    assert listener.messages() == ["READY=1\nSTATUS=flow running"]
    session = FakeSession()
    engine.events.publish(NodeEvent("talk", session, clock.monotonic()))
    session.set(SessionState.CONNECTING)
    session.set(SessionState.CONNECTED)
    session.set(SessionState.RECONNECTING, "attempt 1: key sk-live1234567890 refused")
    assert listener.messages() == [
        "STATUS=flow running; session talk: idle",
        "STATUS=flow running; session talk: connecting",
        "STATUS=flow running; session talk: connected",
        "STATUS=flow running; session talk: reconnecting (attempt 1: key [redacted] refused)",
    ]
    engine.events.publish(FlowStarted("kiosk", clock.monotonic()))  # the app runs the flow again: READY only once
    assert not any(message.startswith("READY") for message in listener.messages())

    await clock.advance(6.0)
    assert listener.messages() == ["WATCHDOG=1"] * 3
    assert service.watchdog_pings == 5

    engine.events.publish(FlowFinished(True, clock.monotonic()))
    service.close()
    assert listener.messages() == ["STATUS=flow finished; session talk: reconnecting (attempt 1: key [redacted] refused)",
                                   "STOPPING=1\nSTATUS=flow finished; session talk: reconnecting (attempt 1: key [redacted] refused)"]
    await clock.advance(10.0)
    assert listener.messages() == []  # no ping after the end


async def test_no_watchdog_asked_no_pings(listener: Listener) -> None:
    clock = FakeClock()
    service = RunService(ServiceSettings(notifier=SdNotifier(listener.address)), clock=clock)
    service.start()
    service.watch(Engine())
    await clock.advance(10.0)
    assert listener.messages() == ["STATUS=flow starting"]
    service.close()


def test_a_missing_socket_is_a_warning_not_a_failure(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    notifier = SdNotifier(str(tmp_path / "nobody-listens"))
    assert notifier.notify("READY=1") is False
    assert notifier.notify("READY=1") is False
    assert len([r for r in caplog.records if "cannot notify systemd" in r.message]) == 1
    notifier.close()
