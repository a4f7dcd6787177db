"""Honest verdicts: a run that lost a user turn (the last or any earlier one) fails with one line; input without speech warns and passes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from audio.session.events import (
    ResponseDone,
    ResponseStarted,
    SessionEvent,
    SessionState,
    SpeechStarted,
    SpeechStopped,
    StateChanged,
    ToolCallInfo,
    TranscriptEntry,
    TranscriptUpdated,
)
from flow.headless import EXIT_FAILED, EXIT_OK
from flow.nodes import registry as node_registry
from flow.turns import TurnTracker
from tests.flow.scripted_session import ScriptedSessionNode, conversation_script
from tests.flow.test_headless import run

CONNECT = [StateChanged(SessionState.CONNECTING), StateChanged(SessionState.CONNECTED)]
END = [StateChanged(SessionState.DISCONNECTED, "the input ended and the last reply was played")]


def user(item: str, start: float, text: str = "", *, final: bool = True, index: int = 0) -> TranscriptUpdated:
    return TranscriptUpdated(TranscriptEntry(item, "user", text, final=final, start=start, pending=not final and not text), index)


def assistant(item: str, start: float, text: str, index: int) -> TranscriptUpdated:
    return TranscriptUpdated(TranscriptEntry(item, "assistant", text, final=True, start=start, end=start + 1), index)


@pytest.fixture(autouse=True)
def scripted_node() -> Iterator[None]:
    node_registry.register("test-scripted-session", "tests.flow.scripted_session:ScriptedSessionNode")
    yield
    ScriptedSessionNode.script = conversation_script()
    node_registry._MODULES.pop("test-scripted-session", None)
    node_registry._loaded.pop("test-scripted-session", None)
    from flow.schema import node_document_model

    node_document_model.cache_clear()


def script(*events: SessionEvent) -> None:
    ScriptedSessionNode.script = [*CONNECT, *events, *END]


async def test_last_user_turn_without_a_reply_fails_naming_the_turn(tmp_path: Path) -> None:
    script(
        SpeechStarted("u1"), SpeechStopped("u1"), user("u1", 1.0, "hello"), assistant("a1", 2.0, "Hi.", 1),
        SpeechStarted("u2"), SpeechStopped("u2"),
        TranscriptUpdated(TranscriptEntry("u2", "user", "and the weather", final=True, start=19.4, end=21.0), 2),
    )
    code, _, err, _ = await run(tmp_path)
    assert code == EXIT_FAILED
    assert err.splitlines()[-1] == "voxflow: failed: the user turn at 00:19 got no reply"


async def test_a_turn_lost_in_the_middle_fails_though_later_ones_were_answered(tmp_path: Path) -> None:
    """A reconnection between turns must not hide the one it lost: every user turn needs a reply before the next."""
    script(
        SpeechStarted("u1"), SpeechStopped("u1"), user("u1", 1.0, "hello"), assistant("a1", 2.0, "Hi.", 1),
        SpeechStarted("u2"), SpeechStopped("u2"), user("u2", 12.0, "what time is it", index=2),
        StateChanged(SessionState.RECONNECTING, "attempt 1: ICE connection failed"), StateChanged(SessionState.CONNECTED),
        SpeechStarted("u3"), SpeechStopped("u3"), user("u3", 30.0, "and the weather", index=3), assistant("a3", 31.0, "Sunny.", 4),
    )
    code, _, err, _ = await run(tmp_path)
    assert code == EXIT_FAILED
    assert err.splitlines()[-1] == "voxflow: failed: the user turn at 00:12 got no reply"


async def test_a_reply_the_person_spoke_over_before_it_began_is_not_a_lost_turn(tmp_path: Path) -> None:
    """The person went on talking before the reply began: the service cancelled it; the next turn is answered."""
    script(
        SpeechStarted("u1"), SpeechStopped("u1"), user("u1", 4.0, "he was not revealed"), ResponseStarted("r1"),
        SpeechStarted("u2"), ResponseDone("r1", "cancelled"), SpeechStopped("u2"),
        user("u2", 10.0, "the vita even", index=1), ResponseStarted("r2"), assistant("a2", 12.0, "You said: the vita even", 2),
        ResponseDone("r2", "completed"),
    )
    code, _, err, _ = await run(tmp_path)
    assert code == EXIT_OK, err


def tool_call(item: str, start: float, status: str, index: int) -> TranscriptUpdated:
    info = ToolCallInfo(call_id="c" + item, name="get_weather", arguments="{}", status=status)
    return TranscriptUpdated(TranscriptEntry(item_id=item, role="tool", text="", final=True, start=start, tool=info), index)


@pytest.mark.parametrize(("status", "expected"), [("cancelled", EXIT_OK), ("done", EXIT_FAILED)])
async def test_a_tool_call_the_person_cut_in_on_is_not_a_lost_turn(tmp_path: Path, status: str, expected: int) -> None:
    """The reply was a call, and the person spoke again while it ran (it was cancelled): they moved on.

    A call that finished but was never followed by a reply is still a lost turn.
    """
    script(
        SpeechStarted("u1"), SpeechStopped("u1"), user("u1", 1.0, "what is the weather in paris"),
        tool_call("t1", 2.0, status, 1),
        SpeechStarted("u2"), SpeechStopped("u2"), user("u2", 5.0, "never mind", index=2), assistant("a2", 6.0, "Okay.", 3),
    )
    code, _, err, _ = await run(tmp_path)
    assert code == expected, err


async def test_a_middle_turn_never_transcribed_fails(tmp_path: Path) -> None:
    script(
        SpeechStarted("u1"), SpeechStopped("u1"), user("u1", 4.0, final=False),
        SpeechStarted("u2"), SpeechStopped("u2"), user("u2", 9.0, "hello", index=1), assistant("a2", 10.0, "Hi.", 2),
    )
    code, _, err, _ = await run(tmp_path)
    assert code == EXIT_FAILED
    assert err.splitlines()[-1] == "voxflow: failed: the user turn at 00:04 was not transcribed"


async def test_a_user_turn_that_ended_pending_fails(tmp_path: Path) -> None:
    script(SpeechStarted("u1"), SpeechStopped("u1"), user("u1", 3.2, final=False))
    code, _, err, _ = await run(tmp_path)
    assert code == EXIT_FAILED
    assert err.splitlines()[-1] == "voxflow: failed: the user turn at 00:03 was not transcribed"


async def test_speech_still_going_when_the_session_ended_fails(tmp_path: Path) -> None:
    script(SpeechStarted("u1"))
    code, _, err, _ = await run(tmp_path)
    assert code == EXIT_FAILED
    assert err.splitlines()[-1] == "voxflow: failed: the user was still speaking"


async def test_input_without_speech_passes_with_a_warning(tmp_path: Path) -> None:
    script()
    code, _, err, _ = await run(tmp_path)
    assert code == EXIT_OK
    assert "voxflow: warning: the input contained no speech: no user turn was heard" in err.splitlines()


async def test_every_turn_answered_passes_without_warnings(tmp_path: Path) -> None:
    script(SpeechStarted("u1"), SpeechStopped("u1"), user("u1", 1.0, final=False), ResponseStarted("r1"),
           assistant("a1", 2.0, "Hi.", 1), ResponseDone("r1", "completed"), user("u1", 1.0, "hello"))
    code, _, err, _ = await run(tmp_path)
    assert code == EXIT_OK, err
    assert "warning" not in err and err.splitlines()[-1] == "voxflow: done"


def test_tracker_open_turn_follows_the_turn_until_answered() -> None:
    turns = TurnTracker()
    assert turns.open_turn() is None and not turns.heard_speech
    turns(SpeechStarted("u1"))
    assert turns.open_turn() is not None and turns.open_turn().text == "the user was still speaking"  # type: ignore[union-attr]
    turns(SpeechStopped("u1"))
    turns(user("u1", 65.0, final=False))
    assert turns.open_turn().text == "the user turn at 01:05 was not transcribed"  # type: ignore[union-attr]
    turns(user("u1", 65.0, "hi"))
    assert turns.lost_turn() == "the user turn at 01:05 got no reply"
    turns(assistant("a1", 66.0, "Hello.", 1))
    assert turns.open_turn() is None and turns.lost_turn() is None
    no_reply_expected = TurnTracker(expect_reply=False)
    no_reply_expected(user("u1", 1.0, "hi"))
    assert no_reply_expected.open_turn() is None
    not_transcribed = TurnTracker(expect_transcript=False)  # transcription_model: null
    not_transcribed(user("u1", 1.0, final=False))
    assert not_transcribed.lost_turn() == "the user turn at 00:01 got no reply"
    not_transcribed(assistant("a1", 2.0, "Hello.", 1))
    assert not_transcribed.open_turn() is None


async def test_the_failure_line_shows_even_when_quiet(tmp_path: Path) -> None:
    script(SpeechStarted("u1"), SpeechStopped("u1"), user("u1", 3.2, final=False))
    code, out, err, _ = await run(tmp_path, quiet=True)
    assert (code, out, err) == (EXIT_FAILED, "", "voxflow: failed: the user turn at 00:03 was not transcribed\n")
