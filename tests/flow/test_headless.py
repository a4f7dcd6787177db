"""The headless runner on a scripted session: reporting, transcript files, exit codes."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from audio.session.events import SessionState, StateChanged
from audio.base.registry import AudioRegistry
from flow.events import NodeStatus
from flow.headless import EXIT_FAILED, EXIT_OK, HeadlessOptions, HeadlessRun
from flow.loader import load_flow_text
from flow.nodes import registry as node_registry
from flow.options import RunOptions
from tests.flow.scripted_session import ScriptedSessionNode, conversation_script

FLOW = """
version: 1
name: Scripted
nodes:
  - {id: talk, type: test-scripted-session}
  - {id: notes, type: preview-output}
edges:
  - {from: talk.transcript, to: notes.text}
"""


@pytest.fixture(autouse=True)
def scripted_node() -> Iterator[None]:
    node_registry.register("test-scripted-session", "tests.flow.scripted_session:ScriptedSessionNode")
    ScriptedSessionNode.script = conversation_script()
    yield
    node_registry._MODULES.pop("test-scripted-session", None)
    node_registry._loaded.pop("test-scripted-session", None)
    from flow.schema import node_document_model

    node_document_model.cache_clear()


async def run(tmp_path: Path, flow_text: str = FLOW, **headless: object) -> tuple[int, str, str, HeadlessRun]:
    out, err = io.StringIO(), io.StringIO()
    runner = HeadlessRun(load_flow_text(flow_text, "scripted.yaml"), RunOptions(), HeadlessOptions(**headless), out=out, err=err, registry=AudioRegistry())  # type: ignore[arg-type]
    code = await runner.run()
    return code, out.getvalue(), err.getvalue(), runner


async def test_success_writes_ordered_transcript_files_and_reports_turns(tmp_path: Path) -> None:
    jsonl, md = tmp_path / "t.jsonl", tmp_path / "t.md"
    code, out, err, runner = await run(tmp_path, transcript_paths=[jsonl, md], expect_transcript=[r"user: hello world", r"You said"])
    assert code == EXIT_OK, err
    assert out == ""
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [(r["role"], r["text"]) for r in records] == [("user", "hello world"), ("assistant", "You said: hello world")]
    assert {"item_id", "role", "text", "start", "end"} <= set(records[0])
    assert "## User · 00:01" in md.read_text() and "You said: hello world" in md.read_text()
    assert "voxflow: session talk: connected" in err
    assert "assistant: You said: hello world" in err
    assert "transcript matches all 2 expectation(s)" in err
    assert runner.transcript_files is not None and runner.transcript_files.writes >= 2


async def test_expectation_that_does_not_match_fails(tmp_path: Path) -> None:
    code, _, err, _ = await run(tmp_path, expect_transcript=[r"goodbye"])
    assert code == EXIT_FAILED
    assert "transcript does not match --expect-transcript 'goodbye'" in err


async def test_session_error_fails_and_keeps_transcript(tmp_path: Path) -> None:
    jsonl = tmp_path / "t.jsonl"
    code, _, err, _ = await run(tmp_path, FLOW.replace("type: test-scripted-session}", "type: test-scripted-session, fail_with: connection dropped}"), transcript_paths=[jsonl])
    assert code == EXIT_FAILED
    assert "failed: node 'talk': connection dropped" in err
    assert len(jsonl.read_text().splitlines()) == 2


async def test_a_session_that_ends_in_error_fails_the_run_even_when_its_node_finishes(tmp_path: Path) -> None:
    """The verdict reads the session's own end state, not only node statuses."""
    ScriptedSessionNode.script = [*conversation_script()[:-1], StateChanged(SessionState.ERROR, "the service closed the call")]
    code, _, err, runner = await run(tmp_path, expect_transcript=[r"You said"])
    assert runner.engine.status("talk") == NodeStatus.DONE  # the node itself finished cleanly
    assert code == EXIT_FAILED
    assert err.rstrip().endswith("voxflow: failed: the session ended in error: the service closed the call")


async def test_json_mode_prints_one_event_per_line(tmp_path: Path) -> None:
    code, out, err, _ = await run(tmp_path, json_events=True)
    assert code == EXIT_OK
    assert err == ""
    events = [json.loads(line) for line in out.splitlines()]
    names = [e["event"] for e in events]
    assert names[0] == "flow_started" and names[-1] == "flow_finished"
    assert {"node_status_changed", "state_changed", "transcript_updated", "node_output"} <= set(names)
    updated = [e for e in events if e["event"] == "transcript_updated"]
    assert updated[-1]["node"] == "talk" and updated[-1]["entry"]["text"] == "hello world"


async def test_quiet_mode_prints_nothing(tmp_path: Path) -> None:
    code, out, err, _ = await run(tmp_path, quiet=True)
    assert (code, out, err) == (EXIT_OK, "", "")


def test_invalid_expectation_regex_is_a_user_error() -> None:
    from audio.base.errors import VoxflowError
    from flow.headless import compile_expectations

    with pytest.raises(VoxflowError, match="not a valid regular expression"):
        compile_expectations(["(unclosed"])


async def test_a_node_error_stops_the_run_at_once(tmp_path: Path) -> None:
    """A failed conversation must not leave an endless source (a microphone) running the flow forever."""
    flow_text = """
version: 1
name: Endless input
nodes:
  - {id: mic, type: audio-input, source: silence}
  - {id: talk, type: test-scripted-session, fail_with: service refused the call}
  - {id: out, type: audio-output, sink: "null"}
edges:
  - {from: mic.audio, to: out.audio}
"""
    code, _, err, runner = await run(tmp_path, flow_text)
    assert code == EXIT_FAILED
    assert "failed: node 'talk': service refused the call" in err
    assert runner.engine.status("mic").value == "cancelled"


async def test_a_reply_cut_after_it_was_final_is_reported_and_rewritten_in_the_files(tmp_path: Path) -> None:
    from dataclasses import replace

    from audio.session.events import TranscriptUpdated

    script = conversation_script()
    final_reply = next(e for e in script if isinstance(e, TranscriptUpdated) and e.entry.role == "assistant" and e.entry.final)
    cut = TranscriptUpdated(replace(final_reply.entry, interrupted=True), final_reply.index)
    script.insert(script.index(final_reply) + 1, cut)  # over WebSocket a reply is all generated before it is heard
    ScriptedSessionNode.script = script
    jsonl, md = tmp_path / "t.jsonl", tmp_path / "t.md"
    code, _, err, _ = await run(tmp_path, transcript_paths=[jsonl, md], expect_transcript=[r"hello world \[interrupted\]"])
    assert code == EXIT_OK, err
    assert "assistant: You said: hello world\n" in err and "assistant: [interrupted] (the person cut in)" in err
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert records[1]["text"] == "You said: hello world" and records[1]["interrupted"] is True
    assert "You said: hello world [interrupted]" in md.read_text()
