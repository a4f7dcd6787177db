"""Facts written once: the voices, transcript order, role labels and clock text each live in one module."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import get_args

from audio.wire.config import SPEECH_VOICES, VOICES, Voice
from audio.session.events import TranscriptEntry
from audio.speech.engines import VOICE_STYLES
from audio.session.transcript_format import clock_text, speaker, to_markdown
from audio.session.transcript_order import Placed, TranscriptOrder

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(p for package in ("audio", "flow", "tui") for p in (ROOT / package).rglob("*.py"))


def string_literals(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [(n.lineno, n.value) for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_voices_are_listed_once() -> None:
    assert VOICES == get_args(Voice) and "marin" in VOICES
    assert set(VOICE_STYLES) == set(SPEECH_VOICES) >= set(VOICES)  # the local server has a speaking style for exactly these
    places = []
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        if re.search(r'"alloy",\s*"ash"', text):
            places.append(str(path.relative_to(ROOT)))
    assert places == ["audio/wire/config.py"]


def test_role_labels_are_written_once() -> None:
    assert (speaker("user"), speaker("assistant"), speaker("tool")) == ("User", "Assistant", "Tool")
    places = [
        str(path.relative_to(ROOT))
        for path in SOURCES
        for _, value in string_literals(path)
        if value in ("User", "Assistant")
    ]
    assert places == ["audio/session/transcript_format.py"] * 2  # both in SPEAKERS


def test_clock_text_is_defined_once() -> None:
    assert [clock_text(s) for s in (None, 0, 59.9, 61, 3600, 3723)] == ["--:--", "00:00", "00:59", "01:01", "1:00:00", "1:02:03"]
    places = [str(p.relative_to(ROOT)) for p in SOURCES if re.search(r"^def clock_text\b", p.read_text(encoding="utf-8"), re.M)]
    assert places == ["audio/session/transcript_format.py"]
    entry = TranscriptEntry(item_id="i", role="assistant", text="hi", start=61, end=3723, final=True)
    assert "## Assistant · 01:01–1:02:03" in to_markdown([entry])


def test_transcript_order_follows_the_index_and_moves_late_entries() -> None:
    order = TranscriptOrder()
    assert order.place("assistant", 0) is Placed.NEW
    assert order.place("assistant", 0) is Placed.SAME
    assert order.place("user", 0) is Placed.NEW  # a late user turn lands before the reply
    assert list(order) == ["user", "assistant"]
    assert order.place("next", 99) is Placed.NEW  # clamped to the end
    assert order.place("next", 0) is Placed.MOVED
    assert list(order) == ["next", "user", "assistant"]
    assert order.place("user", 7) is Placed.SAME  # an index past the end moves nothing
    order.clear()
    assert len(order) == 0 and "user" not in order


def test_transcript_order_has_one_implementation() -> None:
    users = [str(p.relative_to(ROOT)) for p in SOURCES if "event.index" in p.read_text(encoding="utf-8")]
    assert {"tui/transcript_model.py", "flow/headless.py", "flow/turns.py"} <= set(users)
    for path in users:
        text = (ROOT / path).read_text(encoding="utf-8")
        assert "TranscriptOrder" in text and ".insert(" not in text, path
