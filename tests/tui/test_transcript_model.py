"""TranscriptModel: snapshots in, minimal repaint work out."""

from __future__ import annotations

from dataclasses import replace

from audio.session.events import TranscriptCleared, TranscriptEntry, TranscriptUpdated

from .fakes import entry


def test_deltas_between_paints_collapse_into_one_update() -> None:
    from tui.transcript_model import TranscriptModel

    model = TranscriptModel()
    model.apply(TranscriptUpdated(entry("a", "assistant", "He", 0, final=False), 0))
    changes = model.take_changes()
    assert [(p, e.text) for p, e in changes.inserted] == [(0, "He")] and not changes.updated
    for text in ("Hel", "Hell", "Hello"):
        model.apply(TranscriptUpdated(entry("a", "assistant", text, 0, final=False), 0))
    changes = model.take_changes()
    assert not changes.inserted and [e.text for e in changes.updated] == ["Hello"]
    assert model.take_changes().empty


def test_late_entry_is_inserted_at_its_index_and_moves_are_reported() -> None:
    from tui.transcript_model import TranscriptModel

    model = TranscriptModel()
    model.apply(TranscriptUpdated(entry("a1", "assistant", "hi", 1), 0))
    model.apply(TranscriptUpdated(entry("u1", "user", "", 0, pending=True, final=False), 0))
    changes = model.take_changes()
    assert [(p, e.item_id) for p, e in changes.inserted] == [(0, "u1"), (1, "a1")]
    model.apply(TranscriptUpdated(entry("x", "user", "early", 2, final=False), 2))
    model.apply(TranscriptUpdated(entry("a2", "assistant", "", 3, final=False), 3))
    model.take_changes()
    model.apply(TranscriptUpdated(entry("x", "user", "early", 2, final=False), 3))
    changes = model.take_changes()
    assert changes.order == ["u1", "a1", "a2", "x"]
    model.apply(TranscriptCleared())
    changes = model.take_changes()
    assert changes.cleared and len(model) == 0


def test_an_interrupted_reply_reads_as_cut() -> None:
    from tui.widgets.transcript_panel import turn_text

    reply = TranscriptEntry("a1", "assistant", "Here is a long answer.", final=True, start=5.0)
    assert "interrupted" not in turn_text(reply).plain
    assert turn_text(replace(reply, interrupted=True)).plain.endswith("Here is a long answer. — interrupted")


def test_a_users_streaming_transcription_reads_as_partial_until_completed() -> None:
    from tui.widgets.transcript_panel import turn_text

    partial = TranscriptEntry("u1", "user", "How are you today?", final=False, start=1.0)
    assert turn_text(partial).plain.endswith("How are you today? ▍")  # live, like the assistant's deltas
    assert turn_text(replace(partial, final=True)).plain.endswith("How are you today?")
