"""The reconnection supervisor through the port it works with, against a scripted session (no network, fake clock)."""

from __future__ import annotations

import asyncio
import random

from audio.base.errors import VoxflowError
from audio.session.backoff import Backoff
from audio.session.carry_over import ID_PREFIX
from audio.session.events import SessionState
from audio.session.outage_buffer import OutageReport
from audio.session.renewal import Renewal
from tests.realtime_session.renewal_fake import FakeRenewalSession


async def run_switch(session: FakeRenewalSession, renewal: Renewal) -> None:
    """Let the switch task run, advancing the fake clock through its backoff waits."""
    for _ in range(200):
        if not renewal.switching:
            return
        await session.clock.advance(0.5)
    raise AssertionError("the switch did not finish")


async def test_a_drop_is_retried_and_the_new_connection_gets_the_conversation() -> None:
    session = FakeRenewalSession()
    session.transcript.add_item("u1", "user", text="hello")
    session.transcript.add_item("a1", "assistant", text="Hi.")
    session.failures = [VoxflowError("could not reach the Realtime service (ConnectError)")] * 2
    session.outage = OutageReport(heard_seconds=9.0, sent_seconds=6.2, dropped_seconds=0.0)
    renewal = Renewal(session, Backoff(session.clock, rng=random.Random(7)))
    renewal.start("reconnection", "ICE connection failed")
    await run_switch(session, renewal)
    names = [call[0] for call in session.calls]
    assert names[:3] == ["hold_input", "keep_playback", "end_connection"] and session.calls[1] == ("keep_playback", True)
    assert session.calls[2][1] is SessionState.RECONNECTING
    assert names.count("connect") == 3 and sum(1 for c in session.calls if c[0] == "warn") == 2
    assert ("send_carried", ID_PREFIX) in session.calls
    assert names.index("send_carried") < names.index("resume_input")  # the context first, then what was said meanwhile
    assert [event["item"]["content"][0]["text"] for event in session.sent] == ["hello", "Hi."]
    assert session.state is SessionState.CONNECTED and session.kept_playback  # the stream goes on
    (switch,) = renewal.switches
    assert switch.kind == "reconnection" and switch.attempts == 3 and switch.outage == session.outage
    divider = session.transcript.entries()[-1].text
    assert "reconnected after 3 attempt(s)" in divider and divider.endswith("; 6.2 s said during the outage sent")


async def test_refused_credentials_give_up_at_once_and_release_the_kept_stream() -> None:
    session = FakeRenewalSession()
    session.failures = [VoxflowError("the Realtime service refused a session (401): bad key")]
    renewal = Renewal(session, Backoff(session.clock, rng=random.Random(7)))
    renewal.start("reconnection", "the service closed the event channel")
    await asyncio.wait_for(renewal.wait(), 5)
    assert session.state is SessionState.ERROR and session.reason.startswith("not retried:")
    assert not session.kept_playback and session.calls[-2:] == [("drop_kept_playback",), ("drop_held_input",)]
    assert not renewal.switches


def test_the_divider_says_what_an_outage_dropped() -> None:
    report = OutageReport(heard_seconds=31.0, sent_seconds=8.4, dropped_seconds=11.0)
    assert report.text() == "8.4 s said during the outage sent; the oldest 11.0 s of it dropped (the outage buffer was full)"
    assert OutageReport(heard_seconds=4.0, sent_seconds=0.0, dropped_seconds=0.0).text() == ""
