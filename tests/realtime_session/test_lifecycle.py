"""The connection lifecycle: one state machine, and a teardown that is safe under cancellation."""

from __future__ import annotations

import asyncio

import pytest

from audio.base.clock import FakeClock
from audio.base.errors import VoxflowError
from audio.wire.config import SessionConfig
from audio.session.events import SessionState, StateChanged
from audio.session.lifecycle import IllegalTransition, Lifecycle, Phase
from audio.transports.secrets import EphemeralSecret
from audio.session.session import RealtimeSession
from audio.transports.transport import TransportCallbacks
from tests.realtime_session.conftest import EventLog
from tests.realtime_session.loopback_transport import LoopbackTransport

WAIT = 10.0


class StaticSecrets:
    label = "loopback"

    async def mint(self, config: SessionConfig) -> EphemeralSecret:
        return EphemeralSecret("ek_loopback", 1_900_000_000.0)


def make_session(registry, source=None, **config) -> tuple[RealtimeSession, EventLog, list[LoopbackTransport]]:
    transports: list[LoopbackTransport] = []

    def factory(callbacks: TransportCallbacks) -> LoopbackTransport:
        transports.append(LoopbackTransport(callbacks))
        return transports[-1]

    session = RealtimeSession(
        SessionConfig.build(base_url="http://loopback.invalid", **config), secret_provider=StaticSecrets(),
        registry=registry, clock=FakeClock(), transport_factory=factory, input_source=source,
    )
    log = EventLog()
    session.events.add_callback(log)
    return session, log, transports


async def test_the_machine_allows_only_its_transitions() -> None:
    machine = Lifecycle()
    with pytest.raises(IllegalTransition):
        machine.connected()
    first = machine.begin_connect()
    assert machine.current(first) and not machine.closed.is_set()
    with pytest.raises(IllegalTransition):
        machine.begin_connect()
    machine.connected()
    assert machine.begin_close(SessionState.ERROR, "boom")
    assert not machine.begin_close(SessionState.DISCONNECTED, "second")  # only the first end counts
    assert not machine.current(first)  # late callbacks of an ending connection are ignored
    assert machine.finish_close().reason == "boom"
    assert machine.phase is Phase.CLOSED and machine.closed.is_set()
    second = machine.begin_connect()
    assert second != first and not machine.current(first) and machine.current(second)


async def test_connect_disconnect_over_the_seam_and_reconnect(registry) -> None:
    session, log, transports = make_session(registry)
    await asyncio.wait_for(session.connect(), WAIT)
    assert session.state is SessionState.CONNECTED and session.connection_info.transport == "Loopback"
    assert session.call_id == "loop_1" and len(registry) == 1
    await session.disconnect()
    assert transports[0].closed and len(registry) == 0 and session.state is SessionState.DISCONNECTED
    await asyncio.wait_for(session.connect(), WAIT)
    assert len(transports) == 2 and session.state is SessionState.CONNECTED
    transports[0].server({"type": "error", "error": {"code": "x", "message": "from the old connection"}})
    assert all("old connection" not in str(event) for event in log.events)
    await session.disconnect()


async def test_a_cancelled_teardown_still_ends_the_session_and_reraises(registry) -> None:
    session, log, transports = make_session(registry)
    await asyncio.wait_for(session.connect(), WAIT)
    transports[0].hang_in_close = asyncio.Event()
    stopping = asyncio.create_task(session.disconnect())
    await asyncio.wait_for(transports[0].close_started.wait(), WAIT)
    stopping.cancel()
    done, _ = await asyncio.wait({stopping}, timeout=WAIT)
    assert done and stopping.cancelled()  # the caller's own cancellation is not swallowed
    assert session.state is SessionState.DISCONNECTED and session.lifecycle.phase is Phase.CLOSED
    assert session.lifecycle.closed.is_set()
    assert log.of(StateChanged)[-1] == StateChanged(SessionState.DISCONNECTED, "disconnected")
    transports[0].hang_in_close.set()  # the release finishes in the background...
    await asyncio.wait_for(session.disconnect(), WAIT)  # ...and disconnect() waits for it
    assert transports[0].closed and len(registry) == 0
    await asyncio.wait_for(session.connect(), WAIT)  # nothing is stuck
    assert session.state is SessionState.CONNECTED
    await session.disconnect()


async def test_cancelling_connect_from_outside_propagates(registry) -> None:
    session, _, transports = make_session(registry)
    never = asyncio.Event()

    async def slow_mint(config: SessionConfig) -> EphemeralSecret:
        await never.wait()
        raise AssertionError("unreachable")

    session.secret_provider = type("Slow", (), {"mint": staticmethod(slow_mint), "label": "slow"})()
    connecting = asyncio.create_task(session.connect())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    connecting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await connecting
    assert session.state is SessionState.DISCONNECTED and session.lifecycle.phase is Phase.CLOSED


async def test_disconnect_while_connecting_reports_why(registry) -> None:
    session, _, _ = make_session(registry)
    never = asyncio.Event()

    async def slow_mint(config: SessionConfig) -> EphemeralSecret:
        await never.wait()
        raise AssertionError("unreachable")

    session.secret_provider = type("Slow", (), {"mint": staticmethod(slow_mint), "label": "slow"})()
    connecting = asyncio.create_task(session.connect())
    await asyncio.sleep(0)
    await asyncio.wait_for(session.disconnect("user pressed s"), WAIT)
    with pytest.raises(VoxflowError, match="user pressed s"):
        await connecting
    assert session.state is SessionState.DISCONNECTED and session.reason == "user pressed s"


async def test_server_event_hook_and_send_event(registry) -> None:
    session, _, transports = make_session(registry)
    calls: list[str] = []
    session.on_server_event("response.function_call_arguments.done", lambda event: calls.append(event.get("call_id")))
    with pytest.raises(VoxflowError):
        session.send_event({"type": "response.create"})
    await asyncio.wait_for(session.connect(), WAIT)
    transports[0].server({"type": "response.function_call_arguments.done", "call_id": "c1", "arguments": "{}"})
    session.send_event({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": "c1",
                                                                     "output": "{}"}})
    assert calls == ["c1"] and transports[0].sent[-1]["item"]["call_id"] == "c1"
    await session.disconnect()


async def test_a_refused_push_to_talk_clear_is_a_notice_not_a_session_error(registry) -> None:
    from audio.session.events import Notice, PttState, SessionErrorEvent
    from audio.io.sources import SilenceSource

    session, log, transports = make_session(registry, SilenceSource(48_000, 1), vad="disabled")
    await asyncio.wait_for(session.connect(), WAIT)
    transports[0].refuse.add("input_audio_buffer.clear")
    assert await session.ptt_toggle() is PttState.TALKING
    notice = await log.wait_for(Notice, lambda n: "refused input_audio_buffer.clear" in n.message)
    assert notice.level == "info" and not log.of(SessionErrorEvent) and session.state is SessionState.CONNECTED
    await session.disconnect()


def make_server_playback_session(registry, clock: FakeClock) -> tuple[RealtimeSession, EventLog, list[LoopbackTransport]]:
    transports: list[LoopbackTransport] = []

    def factory(callbacks: TransportCallbacks) -> LoopbackTransport:
        transport = LoopbackTransport(callbacks)
        transport.server_playback = True  # like WebRTC: the server is expected to report playback
        transports.append(transport)
        return transport

    session = RealtimeSession(
        SessionConfig.build(base_url="http://loopback.invalid"), secret_provider=StaticSecrets(),
        registry=registry, clock=clock, transport_factory=factory,
    )
    log = EventLog()
    session.events.add_callback(log)
    return session, log, transports


async def test_a_server_that_omits_playback_events_gets_the_playing_state_from_the_audio(registry) -> None:
    import numpy as np

    from audio.session.events import AssistantAudio

    clock = FakeClock()
    session, log, transports = make_server_playback_session(registry, clock)
    await asyncio.wait_for(session.connect(), WAIT)
    tone = np.full((2400, 1), 6000, dtype=np.int16)  # 100 ms at 24 kHz
    transports[0].play(tone)  # no output_audio_buffer.started, now or later: the audio itself says so, at once
    assert log.of(AssistantAudio) == [AssistantAudio(True)] and session.assistant_busy
    await clock.advance(0.5)  # the 100 ms played out
    assert log.of(AssistantAudio) == [AssistantAudio(True), AssistantAudio(False)] and not session.assistant_busy
    transports[0].play(tone)  # the next reply
    assert log.of(AssistantAudio)[-1] == AssistantAudio(True) and session.assistant_busy
    await session.disconnect()


async def test_a_server_that_reports_playback_is_believed(registry) -> None:
    import numpy as np

    from audio.session.events import AssistantAudio

    clock = FakeClock()
    session, log, transports = make_server_playback_session(registry, clock)
    await asyncio.wait_for(session.connect(), WAIT)
    tone = np.full((2400, 1), 6000, dtype=np.int16)
    transports[0].play(tone)  # the audio may come before the event: it counts until the server reports playback
    transports[0].server({"type": "output_audio_buffer.started", "response_id": "r1"})
    await asyncio.sleep(0)
    await clock.advance(1.5)
    transports[0].play(tone)
    await clock.advance(1.0)
    assert log.of(AssistantAudio) == [AssistantAudio(True), AssistantAudio(True, "r1")]
    assert session.assistant_busy  # the audio played out long ago: the server's word stands, until it says
    transports[0].server({"type": "output_audio_buffer.stopped", "response_id": "r1"})
    assert log.of(AssistantAudio)[-1] == AssistantAudio(False, "r1")
    await session.disconnect()
