"""The retry schedule, what is worth retrying, the carried-over context and the renewal divider in every format."""

from __future__ import annotations

import json
import random

from openai.types.realtime import ConversationItemCreateEvent

from audio.base.clock import FakeClock
from audio.base.errors import VoxflowError
from audio.session.backoff import Backoff, retriable
from audio.session.carry_over import carried_items
from audio.session.events import SessionState, TranscriptEntry
from audio.session.transcript import Transcript
from tui.widgets.badges import state_badge


async def test_backoff_grows_with_jitter_and_stops_within_its_bounds() -> None:
    clock = FakeClock()
    backoff = Backoff(clock, tries=6, budget=120.0, base=1.0, factor=2.0, cap=30.0, rng=random.Random(3))
    backoff.start()
    delays = []
    while True:
        backoff.attempt()
        delay = backoff.next_delay()
        if delay is None:
            break
        delays.append(delay)
        await clock.advance(delay)
    assert backoff.attempts == 6 and len(delays) == 5
    for n, delay in enumerate(delays):
        nominal = min(30.0, 2.0**n)
        assert nominal / 2 <= delay <= nominal
    assert len(set(round(d / min(30.0, 2.0**n), 6) for n, d in enumerate(delays))) > 1  # jittered, not lockstep
    assert clock.monotonic() <= 120.0


async def test_backoff_gives_up_when_the_time_budget_is_spent() -> None:
    clock = FakeClock()
    backoff = Backoff(clock, tries=100, budget=10.0, rng=random.Random(1))
    backoff.start()
    backoff.attempt()
    await clock.advance(9.9)  # a slow connect attempt ate the budget
    assert backoff.next_delay() is None


def test_what_is_retried() -> None:
    assert retriable(VoxflowError("could not reach the Realtime service at api.openai.com (ConnectError)"))
    assert retriable(VoxflowError("the Realtime service refused the call (503): overloaded"))
    assert retriable(VoxflowError("no answer from the Realtime service within 15 s"))
    assert not retriable(VoxflowError("the Realtime service refused a session (401): Incorrect API key provided."))
    assert not retriable(VoxflowError("the token service refused a session (403): share token revoked"))
    assert not retriable(VoxflowError("the Realtime service refused the call (400): Invalid value for 'voice'"))


def entry(item_id: str, role: str, text: str, **flags: object) -> TranscriptEntry:
    return TranscriptEntry(item_id, role, text, final=flags.pop("final", True), start=0.0, **flags)  # type: ignore[arg-type]


def test_carried_items_are_the_most_recent_turns_in_order_within_the_bound() -> None:
    entries = [entry(f"i{n}", "user" if n % 2 == 0 else "assistant", f"turn {n} " + "x" * 90) for n in range(10)]
    entries.insert(3, entry("switch_1", "session", "session renewed"))
    entries.append(entry("p", "user", "", final=False, pending=True))
    entries.append(entry("f", "user", "(transcription failed)", failed=True))
    events = carried_items(entries, 2, max_chars=450)
    texts = [event["item"]["content"][0]["text"] for event in events]
    assert [t.split()[1] for t in texts] == ["6", "7", "8", "9"]  # the latest four fit in 450 characters, oldest first
    for event in events:
        parsed = ConversationItemCreateEvent.model_validate(event)  # the SDK's GA shapes
        assert len(parsed.item.id or "") <= 32
    assert [e["item"]["content"][0]["type"] for e in events] == ["input_text", "output_text"] * 2


def test_the_divider_shows_in_text_jsonl_and_markdown() -> None:
    transcript = Transcript(FakeClock())
    transcript.add_item("a", "user", text="hello")
    transcript.add_divider("switch_1", "session renewed (cap)")
    text = transcript.as_text()
    assert text.splitlines() == ["User: hello", "--- session renewed (cap) ---"]
    records = [json.loads(line) for line in transcript.to_jsonl().splitlines()]
    assert records[1]["role"] == "session" and records[1]["text"] == "session renewed (cap)"
    markdown = transcript.to_markdown()
    assert "---\n\n*session renewed (cap) · 00:00*" in markdown and "## Session" not in markdown


def test_the_reconnecting_badge_names_the_attempt() -> None:
    assert state_badge(SessionState.RECONNECTING, "attempt 3: could not reach the service").plain.strip() == "⟳ RECONNECTING (attempt 3)"
    assert state_badge(SessionState.RENEWING, "renewing before the 3600 s cap").plain.strip() == "↻ RENEWING…"


def test_the_header_shows_total_and_session_time_after_a_renewal() -> None:
    from dataclasses import replace

    from rich.console import Console

    from audio.session.events import StateChanged, TimerTick
    from tui.session_view import SessionView
    from tui.widgets.header import AppHeader

    view = SessionView()
    header = AppHeader(view, flow_name="kiosk", provider="local")
    console = Console(width=100, record=True)

    def shown() -> str:
        header.set_reactive(AppHeader.view, replace(view))  # what the app does: the header paints a copy
        console.print(header.render())
        return console.export_text()

    view.apply(TimerTick(300, 900, False, total=300.4))  # the first session: one clock
    assert "elapsed 05:00  left 15:00" in shown() and "total" not in shown()
    view.apply(TimerTick(300, 900, False, total=2700))
    view.apply(StateChanged(SessionState.RECONNECTING, "attempt 2: could not reach the local server"))
    text = shown()
    assert "total 45:00  session 05:00  left 15:00" in text and "RECONNECTING (attempt 2)" in text


def test_the_app_transcript_shows_the_divider_as_a_rule() -> None:
    from tui.widgets.transcript_panel import turn_text

    line = turn_text(TranscriptEntry("switch_1", "session", "session renewed (cap)", final=True, start=65.0)).plain
    assert line == "01:05 ── session renewed (cap) ──"
