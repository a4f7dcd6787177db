"""Benchmark: a long live transcript streaming through the running app (headless).

Pushes N transcript deltas (default 10,000) at R per second (default 200) through
the real app (events -> TranscriptModel -> 20 Hz re-render of the changed turn only),
presses a key every 100 ms meanwhile and measures the time from the key press
to its handler running, and the memory held. Then runs two naive patterns in
the same process and prints the ratios: ``naive-text`` replaces one Static's
whole text on every delta (Textual still paints it once per frame), and
``naive-log`` clears a RichLog and writes every entry again on every delta
(each write renders at once). A baseline run (same producer, nobody listening) is
subtracted from both CPU figures, so "cost per delta" is the subscriber's.

Targets (issue 6): key latency p95 < 50 ms; the app's cost per delta at least
10x below the naive pattern's.

Run:  python tests/benchmarks/bench_transcript_stream.py [--deltas 10000] [--rate 200]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from textual.app import App, ComposeResult  # noqa: E402
from textual.binding import Binding  # noqa: E402
from textual.containers import VerticalScroll  # noqa: E402
from textual.widgets import RichLog, Static  # noqa: E402

from audio.base.clock import FakeClock  # noqa: E402
from audio.base.pubsub import EventHub  # noqa: E402
from audio.session.events import SessionEvent, TranscriptEntry, TranscriptUpdated  # noqa: E402
from flow.loader import load_flow  # noqa: E402
from flow.options import RunOptions  # noqa: E402
from tui.app import VoxflowApp  # noqa: E402
from tui.recent import RecentFlows  # noqa: E402
from tests.tui.fakes import ScriptedSession  # noqa: E402

WORDS = "the quick brown fox jumps over a lazy dog while voxflow streams every word live".split()
DELTAS_PER_TURN = 50
KEY_INTERVAL = 0.1


BenchSession = ScriptedSession  # the app subscribes to it as to a live session


def deltas(count: int) -> list[TranscriptUpdated]:
    """``count`` snapshots: turns of 50 growing deltas each, roles alternating, the last delta final."""
    events: list[TranscriptUpdated] = []
    for n in range(count):
        turn, step = divmod(n, DELTAS_PER_TURN)
        words = [WORDS[(turn + k) % len(WORDS)] for k in range(step + 1)]
        final = step == DELTAS_PER_TURN - 1 or n == count - 1
        entry = TranscriptEntry(
            item_id=f"item-{turn}",
            role="assistant" if turn % 2 else "user",
            text=" ".join(words),
            final=final,
            start=turn * 5.0,
            end=turn * 5.0 + 4 if final else None,
        )
        events.append(TranscriptUpdated(entry, turn))
    return events


class NaiveStaticApp(App[None]):
    """Naive pattern 1: one Static holding the whole log, its text rebuilt and replaced on every delta
    (Textual still paints it at most once per frame)."""

    BINDINGS = [Binding("l", "mark", "mark")]

    def __init__(self, hub: EventHub[SessionEvent]) -> None:
        super().__init__()
        self.entries: dict[str, TranscriptEntry] = {}
        self.order: list[str] = []
        self.log_view = Static("")
        self.marks: list[float] = []
        hub.add_callback(self.on_session_event)

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield self.log_view

    def remember(self, event: SessionEvent) -> bool:
        if not isinstance(event, TranscriptUpdated):
            return False
        if event.entry.item_id not in self.entries:
            self.order.insert(event.index, event.entry.item_id)
        self.entries[event.entry.item_id] = event.entry
        return True

    def on_session_event(self, event: SessionEvent) -> None:
        if self.remember(event):
            self.log_view.update("\n\n".join(f"{self.entries[i].role}: {self.entries[i].text}" for i in self.order))

    def action_mark(self) -> None:
        self.marks.append(time.perf_counter())


class NaiveRichLogApp(NaiveStaticApp):
    """Naive pattern 2: a RichLog cleared and rewritten entry by entry on every delta."""

    def __init__(self, hub: EventHub[SessionEvent]) -> None:
        super().__init__(hub)
        self.rich_log = RichLog(wrap=True)

    def compose(self) -> ComposeResult:
        yield self.rich_log

    def on_session_event(self, event: SessionEvent) -> None:
        if self.remember(event):
            self.rich_log.clear()
            for item_id in self.order:
                entry = self.entries[item_id]
                self.rich_log.write(f"{entry.role}: {entry.text}\n", scroll_end=True)


async def stream(publish: Callable[[SessionEvent], None], events: list[TranscriptUpdated], rate: float, pilot: Any, marks: list[float]) -> dict[str, float]:
    """Publish ``events`` at ``rate``/s while pressing ``l`` every 100 ms; return the figures."""
    latencies: list[float] = []
    done = asyncio.Event()

    async def keys() -> None:
        while not done.is_set():
            before = len(marks)
            pressed = time.perf_counter()
            await pilot.press("l")
            if len(marks) > before:
                latencies.append(marks[before] - pressed)
            await asyncio.sleep(KEY_INTERVAL)

    presser = asyncio.create_task(keys())
    process = psutil.Process()
    cpu0 = process.cpu_times()
    wall0 = time.perf_counter()
    for n, event in enumerate(events):
        delay = wall0 + n / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        publish(event)
    await pilot.pause(0.2)  # let the last repaint happen
    wall = time.perf_counter() - wall0
    cpu1 = process.cpu_times()
    done.set()
    await presser
    gc.collect()
    return {
        "wall": wall,
        "cpu": (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system),
        "p50": statistics.median(latencies) * 1000 if latencies else float("nan"),
        "p95": statistics.quantiles(latencies, n=20)[18] * 1000 if len(latencies) >= 20 else float("nan"),
        "presses": len(latencies),
        "rss": process.memory_info().rss / 2**20,
        "behind": max(0.0, wall - len(events) / rate - 0.2),
    }


def voxflow_app() -> VoxflowApp:
    app = VoxflowApp(
        load_flow(ROOT / "flows" / "demo.yaml"),
        options=RunOptions(clock=FakeClock()),
        recent=RecentFlows(Path("/nonexistent/voxflow-bench-recent.json")),
    )
    app.animation_level = "none"
    return app


async def run_baseline(events: list[TranscriptUpdated], rate: float) -> dict[str, float]:
    app = voxflow_app()
    marks: list[float] = []
    app.action_jump_live = lambda: marks.append(time.perf_counter())  # type: ignore[method-assign]
    hub: EventHub[SessionEvent] = EventHub()  # nobody subscribes
    async with app.run_test(size=(100, 30)) as pilot:
        return await stream(hub.publish, events, rate, pilot, marks)


async def run_app(events: list[TranscriptUpdated], rate: float) -> dict[str, float]:
    app = voxflow_app()
    marks: list[float] = []
    original = app.action_jump_live

    def jump_live() -> None:
        marks.append(time.perf_counter())
        original()

    app.action_jump_live = jump_live  # type: ignore[method-assign]
    session = BenchSession()
    async with app.run_test(size=(100, 30)) as pilot:
        app.attach_session("conversation", session)
        rss0 = psutil.Process().memory_info().rss / 2**20
        figures = await stream(session.events.publish, events, rate, pilot, marks)
        figures["held"] = figures["rss"] - rss0
        figures["turns"] = len(app.main.transcript.item_ids) if app.main else 0
        figures["paints"] = app.main.transcript.renders if app.main else 0
        return figures


async def run_naive(app_class: type[NaiveStaticApp], events: list[TranscriptUpdated], rate: float) -> dict[str, float]:
    hub: EventHub[SessionEvent] = EventHub()
    app = app_class(hub)
    async with app.run_test(size=(100, 30)) as pilot:
        rss0 = psutil.Process().memory_info().rss / 2**20
        figures = await stream(hub.publish, events, rate, pilot, app.marks)
        figures["held"] = figures["rss"] - rss0
        return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deltas", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument(
        "--naive-log-deltas", type=int, default=3000,
        help="naive-log gets only the first N deltas (its cost per delta grows with the log, so the ratio is a lower bound)",
    )
    args = parser.parse_args()
    events = deltas(args.deltas)
    print(f"{args.deltas} deltas at {args.rate:g}/s ({args.deltas / args.rate:.0f} s per run), key 'l' every {KEY_INTERVAL * 1000:.0f} ms")
    base = asyncio.run(run_baseline(events, args.rate))
    app = asyncio.run(run_app(events, args.rate))
    naive_static = asyncio.run(run_naive(NaiveStaticApp, events, args.rate))
    naive_log = asyncio.run(run_naive(NaiveRichLogApp, events[: args.naive_log_deltas], args.rate))
    naive_log["n"] = min(args.naive_log_deltas, len(events))
    n = args.deltas

    def per_delta(figures: dict[str, float]) -> float:
        count = figures.get("n", n)
        baseline = base["cpu"] * count / n
        return max(figures["cpu"] - baseline, 1e-9) / count * 1e6

    print(f"{'':11} {'cpu s':>7} {'µs/delta':>9} {'key p50 ms':>10} {'key p95 ms':>10} {'presses':>7} {'behind s':>8} {'held MiB':>8}")
    for name, figures in (("baseline", base), ("app", app), ("naive-text", naive_static), ("naive-log", naive_log)):
        cost = "-" if figures is base else f"{per_delta(figures):9.1f}"
        held = f"{figures.get('held', float('nan')):8.1f}"
        print(
            f"{name:11} {figures['cpu']:7.2f} {cost:>9} {figures['p50']:10.1f} {figures['p95']:10.1f}"
            f" {figures['presses']:7d} {figures['behind']:8.1f} {held}"
        )
    print(f"app: {app['turns']:.0f} turns, {app['paints']:.0f} turn renders for {n} deltas")
    print(f"key latency p95 (app): {app['p95']:.1f} ms  (target < 50 ms: {'OK' if app['p95'] < 50 else 'MISSED'})")
    for name, naive in (("naive-text", naive_static), ("naive-log", naive_log)):
        ratio = per_delta(naive) / per_delta(app)
        over = f" (first {naive['n']:.0f} deltas: a lower bound)" if "n" in naive and naive["n"] < n else ""
        print(f"cost per delta, {name} / app: {ratio:.1f}x{over}  (target >= 10x: {'OK' if ratio >= 10 else 'MISSED'})")


if __name__ == "__main__":
    main()
