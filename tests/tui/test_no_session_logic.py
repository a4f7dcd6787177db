"""The app holds no session logic: one scripted event stream, two subscribers, one transcript.

The stream is produced by the session core's own ``Transcript`` (with an
out-of-order user item that is moved into place, a late transcription, a failed
one), replayed by a stand-in realtime node on the real engine, and consumed by
(a) the headless runner and (b) the app. Both must end with the same entries,
in the same order, as the session's transcript itself; the app's widgets too.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from audio.base.clock import FakeClock, SystemClock
from audio.session.events import SessionEvent, TranscriptCleared, TranscriptEntry, TranscriptUpdated
from audio.session.transcript import Transcript
from flow.headless import HeadlessOptions, HeadlessRun
from flow.model import Flow, NodeSpec
from flow.nodes.base import Node, NodeContext, Port, PortType
from flow.options import RunOptions

from .conftest import make_app
from .fakes import RealtimeSettings, ScriptedSession


def scripted_stream() -> tuple[list[SessionEvent], list[TranscriptEntry]]:
    """Events as the session core emits them, and the transcript they must add up to."""
    events: list[SessionEvent] = []
    clock = FakeClock()
    transcript = Transcript(
        clock,
        on_change=lambda entry, index: events.append(TranscriptUpdated(entry, index)),
        on_clear=lambda: events.append(TranscriptCleared()),
    )
    transcript.add_item("u1", "user")
    transcript.add_item("a1", "assistant", "u1")
    for word in "Hello there, how can I help?".split(" "):
        transcript.append_delta("a1", "assistant", word + " ")
    transcript.complete("u1", "user", "Hi, is anyone there?")
    transcript.complete("a1", "assistant", None)
    # an early delta creates u2 at the end; its item event then moves it before a2
    transcript.add_item("a2", "assistant", "a1")
    transcript.append_delta("u2", "user", "What time")
    transcript.add_item("u2", "user", "a1")
    transcript.append_delta("a2", "assistant", "It is noon.")
    transcript.complete("u2", "user", "What time is it?")
    transcript.complete("a2", "assistant", "It is noon.")
    transcript.add_item("u3", "user", "a2")
    transcript.fail("u3", "audio too short")
    transcript.add_item("u4", "user", "u3")
    transcript.add_item("a4", "assistant", "u4")
    transcript.append_delta("a4", "assistant", "Still streaming")
    return events, transcript.entries()


class ReplayingRealtime(Node):
    """Publishes a scripted session, replays the stream through it, then finishes."""

    type_name = "realtime-conversation"
    Settings = RealtimeSettings
    outputs = (Port("transcript", PortType.TEXT),)
    stream: list[SessionEvent] = []

    async def run(self, ctx: NodeContext) -> None:
        session = ScriptedSession()
        ctx.publish(session)
        for event in self.stream:
            session.publish(event)
            await asyncio.sleep(0)


def replay_flow() -> Flow:
    return Flow(name="replay", nodes=(NodeSpec("talk", "realtime-conversation", RealtimeSettings(), ReplayingRealtime),))


async def test_app_and_headless_runner_build_the_same_transcript(tmp_path: Path) -> None:
    stream, expected = scripted_stream()
    ReplayingRealtime.stream = stream
    assert [e.item_id for e in expected] == ["u1", "a1", "u2", "a2", "u3", "u4", "a4"]

    headless = HeadlessRun(
        replay_flow(), RunOptions(clock=SystemClock()), HeadlessOptions(quiet=True), out=io.StringIO(), err=io.StringIO()
    )
    assert await asyncio.wait_for(headless.run(), 20) == 1  # u4 ended pending: a lost turn fails the run
    assert headless.transcript_entries() == expected

    app = make_app(tmp_path, flow=replay_flow())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("r")

        async def finished() -> None:
            while app.engine.running or app.session is None or app.transcript.updates < len(stream) - 0:
                await pilot.pause(0.02)

        await asyncio.wait_for(finished(), 20)
        await pilot.pause(0.1)
        assert app.transcript.entries == expected
        assert app.main.transcript.item_ids == [e.item_id for e in expected]
        texts = app.main.transcript.turn_texts
        assert "Hi, is anyone there?" in texts[0]
        assert "What time is it?" in texts[2]
        assert "audio too short" in texts[4]
        assert "transcribing" in texts[5]  # u4: still pending
        assert "Still streaming" in texts[6]
