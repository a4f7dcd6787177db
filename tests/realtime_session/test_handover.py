"""Make-before-break renewal: the next connection opens ahead, the microphone moves at a turn boundary.

Loopback transports (no network) on a fake clock with a 12 s cap, so the
renewal window (the last 3 s) is reached in simulated time: each test checks
which connection sends the microphone track, which one the transcript
listens to, what the new one was sent, and that every connection but the
live one is closed and no task is left.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import numpy as np

from audio.base.clock import FakeClock
from audio.base.errors import VoxflowError
from audio.session.backoff import Backoff
from audio.wire.config import SessionConfig
from audio.session.events import Notice, SessionState, StateChanged
from audio.session.session import RealtimeSession
from audio.transports.transport import TransportCallbacks
from audio.io.sources import SilenceSource
from tests.realtime_session.conftest import EventLog, our_tasks
from tests.realtime_session.loopback_transport import LoopbackTransport
from tests.realtime_session.test_lifecycle import StaticSecrets

WAIT = 10.0
TONE = (np.sin(np.arange(480) * 2 * np.pi * 440 / 24_000) * 8000).astype(np.int16).reshape(-1, 1)  # 20 ms at 24 kHz
CAP_MINUTES = 0.2  # 12 s: the renewal window opens at 9 s


def make_session(registry, failing: set[int] = frozenset(), **config: Any):
    """A renewing session on loopback transports; the transports numbered in ``failing`` refuse to open (503)."""
    transports: list[LoopbackTransport] = []

    def factory(callbacks: TransportCallbacks) -> LoopbackTransport:
        transport = LoopbackTransport(callbacks, call_id=f"loop_{len(transports) + 1}")
        if len(transports) in failing:
            transport.fail_open = VoxflowError("the Realtime service refused the call (503): busy")
        transports.append(transport)
        return transport

    session = RealtimeSession(
        SessionConfig.build(base_url="http://loopback.invalid", renew=True, max_duration=CAP_MINUTES, **config),
        secret_provider=StaticSecrets(), registry=registry, clock=FakeClock(), transport_factory=factory,
        input_source=SilenceSource(48_000, 1, duration=3600.0),
    )
    assert session.renewal is not None
    session.renewal.backoff = Backoff(session.clock, base=0.5, cap=1.0, rng=random.Random(7))
    log = EventLog()
    session.events.add_callback(log)
    return session, log, transports


async def run_until(session: RealtimeSession, predicate, *, step: float = 0.1, limit: float = 60.0) -> None:
    """Advance the fake clock until ``predicate()`` holds (``limit`` simulated seconds at most)."""
    clock = session.clock
    assert isinstance(clock, FakeClock)
    spent = 0.0
    while not predicate():
        assert spent < limit, "the condition did not hold in time"
        await clock.advance(step)
        spent += step


def turn(transport: LoopbackTransport, n: int, said: str, reply: str, *, done: bool = True) -> None:
    """One typed user turn and the assistant's reply, as the service reports them."""
    transport.server({"type": "conversation.item.added", "item": {"id": f"u{n}", "type": "message", "role": "user",
                                                                   "content": [{"type": "input_text", "text": said}]}})
    transport.server({"type": "response.created", "response": {"id": f"r{n}"}})
    transport.server({"type": "conversation.item.added", "item": {"id": f"a{n}", "type": "message", "role": "assistant",
                                                                   "previous_item_id": f"u{n}"}})
    transport.server({"type": "response.output_text.done", "item_id": f"a{n}", "text": reply})
    if done:
        transport.server({"type": "response.done", "response": {"id": f"r{n}"}})


def carried(transport: LoopbackTransport) -> list[str]:
    return [e["item"]["content"][0]["text"] for e in transport.sent if e["type"] == "conversation.item.create"]


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def assert_nothing_left(session: RealtimeSession, registry, transports: list[LoopbackTransport]) -> None:
    await session.disconnect()
    deadline = asyncio.get_running_loop().time() + WAIT
    while our_tasks() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.01)
    assert our_tasks() == [] and len(registry) == 0
    assert all(t.closed for t in transports if t.opened)
    assert session._transport is None and session.renewal is not None and session.renewal.handover.standby is None


async def test_the_next_connection_opens_ahead_and_takes_the_microphone_at_a_boundary(registry) -> None:
    session, log, transports = make_session(registry)
    await asyncio.wait_for(session.connect(), WAIT)
    old, track = transports[0], session._media.send_track
    assert track is not None and old.send_track is track
    await settle()
    tasks = sorted(our_tasks())  # the live connection's own: timer, latency budget, renewal watch, playout
    turn(old, 1, "remember seven", "Seven, noted.")
    turn(old, 2, "and eight", "Eight.", done=False)  # a reply under way as the renewal window opens
    await run_until(session, lambda: session.renewal.handover.ready)
    new = transports[1]
    assert new.sends and new.send_track is None and old.send_track is track  # opened ahead, not sending yet
    assert session.call_id == "loop_1" and session.connected
    new.server({"type": "conversation.item.added", "item": {"id": "x1", "type": "message", "role": "user",
                                                             "content": [{"type": "input_text", "text": "not yet live"}]}})
    queued = session.output_pipe.queued_frames
    new.play(TONE)  # a WebRTC peer sends audio (silence, at least) from the start: not for the playback stream yet
    assert session.output_pipe.queued_frames == queued and session.interpreter.assistant_playing is False
    old.server({"type": "response.done", "response": {"id": "r2"}})
    turn(old, 3, "and blue", "Blue.", done=False)  # the old connection still has the conversation
    await session.clock.advance(1.0)
    assert session.renewal.count == 0 and old.send_track is track  # no switch in the middle of a reply
    old.server({"type": "response.done", "response": {"id": "r3"}})
    await run_until(session, lambda: session.renewal.switches)
    await settle()
    assert new.send_track is track and old.send_track is None and old.closed and not new.closed  # the track moved
    assert session.call_id == "loop_2" and session._transport is new
    assert sorted(our_tasks()) == tasks  # the old connection's tasks went with it; the new one has the same set
    new.play(TONE)
    assert session.output_pipe.queued_frames > queued and session.interpreter.assistant_playing  # now it is heard
    assert carried(new) == ["remember seven", "Seven, noted.", "and eight", "Eight.", "and blue", "Blue."]  # and after opening
    texts = [e.text for e in session.transcript.entries()]
    assert "not yet live" not in texts and texts[-1].startswith("session renewed")
    switch = session.renewal.switches[0]
    assert switch.ahead and switch.gap_seconds < 0.01
    assert [e.state for e in log.of(StateChanged)] == [SessionState.CONNECTING, SessionState.CONNECTED]
    old.server({"type": "error", "error": {"code": "x", "message": "from the old connection"}})
    assert all("old connection" not in str(event) for event in log.events)  # its late events are ignored
    await run_until(session, lambda: len(session.renewal.switches) == 2, limit=20)  # the next cap: the same again
    await settle()
    assert session.renewal.switches[1].ahead and transports[2].send_track is track and new.closed
    assert len(session._media.playback_listeners) == 1  # the live connection's playout only: the moved media keep no old hooks
    await assert_nothing_left(session, registry, transports)


async def test_opening_ahead_fails_the_old_one_talks_on_and_the_next_try_works(registry) -> None:
    session, log, transports = make_session(registry, failing={1})
    await asyncio.wait_for(session.connect(), WAIT)
    await run_until(session, lambda: session.renewal.switches)
    assert [t.opened for t in transports] == [True, False, True]  # the failed try, then one that opened
    assert any("opening the next session ahead failed (attempt 1" in n.message for n in log.of(Notice))
    assert session.renewal.switches[0].ahead and transports[2].send_track is session._media.send_track
    assert [e.state for e in log.of(StateChanged)] == [SessionState.CONNECTING, SessionState.CONNECTED]
    await assert_nothing_left(session, registry, transports)


async def test_when_no_try_opens_ahead_the_switch_breaks_first(registry) -> None:
    failing = set(range(1, 50))
    session, log, transports = make_session(registry, failing=failing)
    session.renewal.backoff = Backoff(session.clock, base=0.5, cap=1.0, tries=2, rng=random.Random(7))
    await asyncio.wait_for(session.connect(), WAIT)
    turn(transports[0], 1, "hello", "Hi.", done=False)  # a long reply: the old connection keeps the conversation
    await run_until(session, lambda: any("will be opened at the switch" in n.message for n in log.of(Notice)))
    assert session.connected and session.call_id == "loop_1" and session.renewal.count == 0
    assert len(transports) == 3 and not any(t.opened for t in transports[1:])  # two tries ahead (tries=2)
    failing.clear()  # the service is back: the switch at the boundary connects, breaking first
    transports[0].server({"type": "response.done", "response": {"id": "r1"}})
    await run_until(session, lambda: session.renewal.switches)
    assert not session.renewal.switches[0].ahead and session._transport is transports[3]
    assert SessionState.RENEWING in [e.state for e in log.of(StateChanged)]
    assert transports[0].closed and transports[3].send_track is session._media.send_track
    await assert_nothing_left(session, registry, transports)


async def test_session_expired_takes_the_connection_opened_ahead_at_once(registry) -> None:
    session, log, transports = make_session(registry)
    await asyncio.wait_for(session.connect(), WAIT)
    turn(transports[0], 1, "hello", "Hi.", done=False)  # mid-reply: not a boundary
    await run_until(session, lambda: session.renewal.handover.ready)
    transports[0].server({"type": "error", "error": {"code": "session_expired", "message": "expired"}})
    transports[0].callbacks.on_closed("the service closed the event channel", False)  # and it hangs up
    await settle()
    assert session.renewal.switches and session.renewal.switches[0].ahead  # no waiting for a boundary: it expired
    assert len(session.renewal.switches) == 1 and session._transport is transports[1]  # its hang-up is not a drop
    assert transports[1].send_track is session._media.send_track and transports[0].closed
    await assert_nothing_left(session, registry, transports)


async def test_a_drop_of_the_live_connection_releases_the_one_opened_ahead(registry) -> None:
    session, log, transports = make_session(registry)
    await asyncio.wait_for(session.connect(), WAIT)
    turn(transports[0], 1, "hello", "Hi.", done=False)  # keep it from switching
    await run_until(session, lambda: session.renewal.handover.ready)
    transports[0].callbacks.on_closed("ICE connection failed", True)
    await run_until(session, lambda: session.renewal.switches)
    assert session.renewal.switches[0].kind == "reconnection" and not session.renewal.switches[0].ahead
    assert transports[1].closed and session._transport is transports[2]  # the one opened ahead was not kept
    assert transports[2].send_track is session._media.send_track
    await assert_nothing_left(session, registry, transports)


async def test_disconnect_while_a_connection_is_open_ahead_closes_both(registry) -> None:
    session, log, transports = make_session(registry)
    await asyncio.wait_for(session.connect(), WAIT)
    turn(transports[0], 1, "hello", "Hi.", done=False)
    await run_until(session, lambda: session.renewal.handover.ready)
    await assert_nothing_left(session, registry, transports)
    assert transports[1].closed and session.state is SessionState.DISCONNECTED


async def test_the_connection_opened_ahead_dropping_before_the_boundary_means_break_first(registry) -> None:
    session, log, transports = make_session(registry)
    await asyncio.wait_for(session.connect(), WAIT)
    turn(transports[0], 1, "hello", "Hi.", done=False)
    await run_until(session, lambda: session.renewal.handover.ready)
    transports[1].callbacks.on_closed("the service closed the event channel", False)
    await settle()
    assert transports[1].closed and session.renewal.handover.standby is None and session.call_id == "loop_1"
    transports[0].server({"type": "response.done", "response": {"id": "r1"}})
    await run_until(session, lambda: session.renewal.switches)
    assert not session.renewal.switches[0].ahead and session._transport is transports[2]
    await assert_nothing_left(session, registry, transports)


async def test_a_second_drop_while_a_reconnection_settles_goes_round_again(registry) -> None:
    """The new connection drops in the instant after it connected, before the switch gave it the context."""
    session, log, transports = make_session(registry)
    await asyncio.wait_for(session.connect(), WAIT)
    turn(transports[0], 1, "hello", "Hi.")

    def drop_the_second_at_once(event: object) -> None:
        if isinstance(event, StateChanged) and event.state is SessionState.CONNECTED and len(transports) == 2:
            transports[1].callbacks.on_closed("dropped again", True)

    session.events.add_callback(drop_the_second_at_once)
    transports[0].callbacks.on_closed("ICE connection failed", True)
    await run_until(session, lambda: session.renewal.switches, limit=20)
    assert len(transports) == 3 and session._transport is transports[2]
    assert carried(transports[1]) == [] and carried(transports[2]) == ["hello", "Hi."]  # context went to the survivor
    assert len(session.renewal.switches) == 1 and session.renewal.count == 2
    assert transports[0].closed and transports[1].closed and not transports[2].closed
    assert transports[2].send_track is session._media.send_track and len(registry) == 1
    await assert_nothing_left(session, registry, transports)


async def test_a_drop_of_the_new_connection_while_the_old_one_closes_reconnects(registry) -> None:
    """Make-before-break's settle: the new connection drops while the old one is still being released."""
    session, log, transports = make_session(registry)
    await asyncio.wait_for(session.connect(), WAIT)
    transports[0].hang_in_close = asyncio.Event()
    await run_until(session, lambda: transports[0].close_started.is_set())
    transports[1].callbacks.on_closed("dropped while settling", True)
    transports[0].hang_in_close.set()
    await run_until(session, lambda: len(session.renewal.switches) == 2, limit=20)
    first, second = session.renewal.switches
    assert first.ahead and second.kind == "reconnection" and "dropped while settling" in second.reason
    assert session._transport is transports[2] and transports[1].closed and transports[0].closed
    assert transports[2].send_track is session._media.send_track and len(registry) == 1
    await assert_nothing_left(session, registry, transports)
