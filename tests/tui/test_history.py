"""The app keeps --transcript and the session history current after every finished turn; `voxflow history` reads it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from audio.base.clock import FakeClock
from audio.session.events import TranscriptCleared, TranscriptUpdated
from tui.cli import cli
from tui.history import SessionHistory, history_dir

from .conftest import make_app
from .fakes import conversation_script
from .test_app_scripted import start, wait_for


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def until_first_final_user_turn() -> list[object]:
    events = conversation_script()
    cut = next(i for i, e in enumerate(events) if isinstance(e, TranscriptUpdated) and e.entry.role == "user" and e.entry.final)
    return events[: cut + 1]


async def test_every_finished_turn_is_on_disk_while_the_session_runs(tmp_path: Path) -> None:
    transcript, store = tmp_path / "out" / "talk.jsonl", SessionHistory(tmp_path / "history", FakeClock())
    app = make_app(tmp_path, transcript_path=transcript, history=store)
    async with app.run_test(size=(100, 30)) as pilot:
        session = await start(app, pilot)
        [kept] = store.entries()  # the session is in the history from its start
        assert kept.turns == 0 and kept.title == app.flow.name
        session.publish(*until_first_final_user_turn())
        await wait_for(lambda: len(records(transcript)) == 2, pilot)
        # no stop, no quit: the finished turns are already in both files, in conversation order
        for path in (transcript, kept.jsonl):
            assert [(r["role"], r["text"]) for r in records(path)] == [
                ("user", "Hello, can you hear me?"),
                ("assistant", "Hello! I am the local stand-in server. What would you like to talk about today?"),
            ]
        assert "Hello, can you hear me?" in transcript.with_suffix(".md").read_text()
        session.publish(TranscriptCleared())  # the reset key clears the view, not what was said
        await pilot.press("s")
        await wait_for(lambda: not app.engine.running, pilot)
    assert len(records(kept.jsonl)) == 2
    assert store.entries()[0].first_words == "Hello, can you hear me?"


async def test_no_history_keeps_nothing(tmp_path: Path) -> None:
    app = make_app(tmp_path, history=None)
    async with app.run_test(size=(100, 30)) as pilot:
        session = await start(app, pilot)
        session.publish(*until_first_final_user_turn())
        await pilot.press("s")
        await wait_for(lambda: not app.engine.running, pilot)
    assert not any(tmp_path.rglob("*.jsonl"))


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path / "data"


async def test_history_lists_shows_and_exports_sessions(data_home: Path, tmp_path: Path) -> None:
    assert history_dir() == data_home / "voxflow" / "history"
    clock = FakeClock(epoch=1_796_000_000.0)
    store = SessionHistory(clock=clock)
    empty = CliRunner().invoke(cli, ["history"])
    assert empty.exit_code == 0 and "no sessions yet" in empty.output
    first = store.new_session("Demo")
    from audio.session.events import TranscriptEntry

    first.write([TranscriptEntry("u1", "user", "what is the weather", True, 1.0, 2.0),
                 TranscriptEntry("a1", "assistant", "Sunny.", True, 2.5, 3.0)])
    await clock.advance(60)
    store.new_session("Voice chat")
    ids = [entry.id for entry in store.entries()]
    assert ids == ["20261130-005420-voice-chat", "20261130-005320-demo"]

    listed = CliRunner().invoke(cli, ["history"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0] == f"2 session(s) in {data_home / 'voxflow' / 'history'}"
    assert lines[1].startswith("20261130-005420-voice-chat  2026-11-30 00:54:20 UTC  Voice chat  0 turn(s)")
    assert lines[2] == "20261130-005320-demo  2026-11-30 00:53:20 UTC  Demo  2 turn(s)  “what is the weather”"

    shown = CliRunner().invoke(cli, ["history", "show", "20261130-005320"])  # a unique prefix is enough
    assert shown.exit_code == 0 and shown.output.startswith("# Demo") and "Sunny." in shown.output

    exported = CliRunner().invoke(cli, ["history", "export", "20261130-005320-demo", "--to", str(tmp_path / "x")])
    assert exported.exit_code == 0, exported.output
    assert [json.loads(line)["text"] for line in (tmp_path / "x" / "20261130-005320-demo.jsonl").read_text().splitlines()] == [
        "what is the weather", "Sunny."]
    assert (tmp_path / "x" / "20261130-005320-demo.md").read_text().startswith("# Demo")


@pytest.mark.parametrize(("session_id", "message"), [("2099", "no session '2099' in the history"), ("2026", "2 sessions start with '2026'")])
def test_unknown_or_ambiguous_ids_say_what_to_do(data_home: Path, session_id: str, message: str) -> None:
    store = SessionHistory(clock=FakeClock(epoch=1_796_000_000.0))
    store.new_session("Demo")
    store.new_session("Demo")  # same second: a second id, never the same file
    result = CliRunner().invoke(cli, ["history", "show", session_id])
    assert result.exit_code != 0 and message in str(result.exception)


def test_a_transcript_file_must_be_jsonl_or_md() -> None:
    result = CliRunner().invoke(cli, ["run", "flows/demo.yaml", "--transcript", "talk.txt"])
    assert result.exit_code != 0 and "--transcript talk.txt must end in .jsonl or .md" in str(result.exception)


def test_a_finished_reply_cut_by_the_person_is_rewritten_at_once(tmp_path: Path) -> None:
    from dataclasses import replace

    from audio.session.events import TranscriptEntry
    from flow.transcript_files import TranscriptFiles
    from tui.live_transcript import LiveTranscript

    path = tmp_path / "t.jsonl"
    live = LiveTranscript(TranscriptFiles([path]))
    reply = TranscriptEntry("a1", "assistant", "Here is a long answer.", final=True, start=1.0, end=2.0)
    live(TranscriptUpdated(reply, 0))
    assert "interrupted" not in records(path)[0]
    live(TranscriptUpdated(replace(reply, interrupted=True), 0))  # its playback was cut after the text was final
    assert records(path)[0]["interrupted"] is True
