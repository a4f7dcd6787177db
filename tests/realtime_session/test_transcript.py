"""Transcript ordering, placeholders, [inaudible], failures, exports and clear()."""

from __future__ import annotations

import json

from audio.base.clock import FakeClock
from audio.session.events import TranscriptEntry
from audio.session.transcript import INAUDIBLE, Transcript


def make() -> tuple[Transcript, list[tuple[TranscriptEntry, int]], FakeClock]:
    clock = FakeClock()
    changes: list[tuple[TranscriptEntry, int]] = []
    return Transcript(clock, on_change=lambda e, i: changes.append((e, i))), changes, clock


async def test_user_placeholder_fills_in_after_the_reply() -> None:
    transcript, changes, clock = make()
    transcript.add_item("u1", "user", None)
    assert transcript.get("u1").pending and transcript.as_text() == "User: …"
    await clock.advance(1)
    transcript.add_item("a1", "assistant", "u1")
    transcript.append_delta("a1", "assistant", "Hel")
    transcript.append_delta("a1", "assistant", "lo")
    transcript.complete("a1", "assistant", "Hello!")
    transcript.append_delta("u1", "user", "hi ")
    transcript.complete("u1", "user", "hi there")
    assert [e.text for e in transcript.entries()] == ["hi there", "Hello!"]
    assert transcript.as_text() == "User: hi there\nAssistant: Hello!"
    assert all(e.final for e in transcript.entries())
    assert changes[-1][1] == 0 and changes[-1][0].item_id == "u1"
    assert transcript.get("a1").start == 1.0


def test_order_follows_previous_item_id() -> None:
    transcript, _, _ = make()
    transcript.add_item("a", "user", None)
    transcript.add_item("c", "assistant", "b")  # b unknown yet: goes to the end
    transcript.add_item("b", "assistant", "a")  # goes right after a
    assert [e.item_id for e in transcript.entries()] == ["a", "b", "c"]


def test_delta_before_added_is_placed_when_added() -> None:
    transcript, _, _ = make()
    transcript.add_item("u1", "user", None)
    transcript.add_item("u2", "user", "u1")
    transcript.append_delta("a1", "assistant", "early")
    transcript.add_item("a1", "assistant", "u1")
    assert [e.item_id for e in transcript.entries()] == ["u1", "a1", "u2"]
    assert transcript.get("a1").text == "early"


def test_inaudible_and_failed() -> None:
    transcript, _, _ = make()
    transcript.add_item("u1", "user", None)
    transcript.complete("u1", "user", "  ")
    transcript.add_item("u2", "user", "u1")
    transcript.fail("u2", "audio unclear")
    assert transcript.get("u1").text == INAUDIBLE
    failed = transcript.get("u2")
    assert failed.failed and failed.final and "failed" in failed.text and "audio unclear" in failed.text


def test_typed_text_is_final_at_once() -> None:
    transcript, _, _ = make()
    transcript.add_item("u1", "user", None, text="hello by keyboard")
    entry = transcript.get("u1")
    assert entry.final and not entry.pending and entry.text == "hello by keyboard"


def test_exports_and_clear(tmp_path) -> None:
    transcript, _, _ = make()
    cleared: list[bool] = []
    transcript.on_clear = lambda: cleared.append(True)
    transcript.add_item("u1", "user", None)
    transcript.complete("u1", "user", "one")
    transcript.add_item("a1", "assistant", "u1")
    transcript.append_delta("a1", "assistant", "two")
    lines = transcript.to_jsonl().splitlines()
    assert [json.loads(line)["text"] for line in lines] == ["one", "two"]
    assert json.loads(lines[1])["final"] is False
    markdown = transcript.export_markdown(tmp_path / "t.md").read_text()
    assert "## User · 00:00–00:00\n\none" in markdown and "## Assistant · 00:00\n\ntwo" in markdown
    transcript.export_jsonl(tmp_path / "t.jsonl")
    assert (tmp_path / "t.jsonl").read_text().count("\n") == 2
    transcript.finish_open()
    assert transcript.get("a1").final
    transcript.clear()
    assert len(transcript) == 0 and cleared == [True] and transcript.as_text() == ""
