"""Benchmark: the HTML report's size and cost with recordings inside it, and how long Chromium takes to open it.

    python tests/benchmarks/bench_html_report.py [--runs 20] [--seconds 30]

RUNS runs of one scenario, each with its own stereo WAV of SECONDS at the recorder's rate
(24 kHz, 16-bit: caller left, assistant right, real read sentences in turn from
pocketsphinx-testdata, since Opus spends its bits on what is said), are rendered by
``html_report``, which embeds each recording as Ogg Opus; the figures are the WAV size per
run, the embedded copy per run, the page size, the time to render (best of three, the
encoding included) and, in a real headless Chromium, the time from navigation to the load
event and until every ``<audio>`` element has read its recording's duration.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import re
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from flow.scenarios.html_report import html_report  # noqa: E402
from flow.scenarios.results import Scenario, Suite  # noqa: E402
from tests.scenarios_report.browser import Chromium  # noqa: E402
from tests.scenarios_report.suites import weather_run, write_speech_wav  # noqa: E402

ALL_AUDIO = """
Promise.all([...document.querySelectorAll('audio')].map((audio) => new Promise((resolve) => {
  if (audio.readyState >= 1) { resolve(audio.duration); return; }
  audio.addEventListener('loadedmetadata', () => resolve(audio.duration));
  audio.addEventListener('error', () => resolve(-1));
})))
"""


async def open_in_chromium(page: Path, folder: Path) -> tuple[float, float, list[float]]:
    browser = Chromium(folder / "profile", 1280, 1400)
    try:
        await browser.start()
        await browser.call("Page.enable")
        started = time.perf_counter()
        await browser.call("Page.navigate", url=page.as_uri())
        await browser.wait_event("Page.loadEventFired", timeout=300)
        loaded = time.perf_counter() - started
        durations = await browser.evaluate(ALL_AUDIO)
        return loaded, time.perf_counter() - started, durations
    finally:
        await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder_name:
        folder = Path(folder_name)
        runs = []
        first = write_speech_wav(folder / "run-1.wav", seconds=args.seconds)
        for number in range(1, args.runs + 1):
            wav = folder / f"run-{number}.wav"
            if number > 1:
                shutil.copyfile(first, wav)
            runs.append(replace(weather_run(1 + (number - 1) % 5, str(wav)), run=number))
        suite = Suite((Scenario("weather in Paris", "weather.yaml", 0.8, tuple(runs)),))
        best, best_cpu = float("inf"), float("inf")
        for _ in range(3):  # the machine may be shared: the CPU time is the steadier figure
            started, started_cpu = time.perf_counter(), time.process_time()
            document = html_report(suite)
            best = min(best, time.perf_counter() - started)
            best_cpu = min(best_cpu, time.process_time() - started_cpu)
        page = folder / "report.html"
        page.write_text(document, encoding="utf-8")
        wav_bytes = first.stat().st_size
        copy = base64.b64decode(re.search(r'src="data:audio/ogg;base64,([^"]+)"', document).group(1))
        print(f"{args.runs} runs x {args.seconds:g} s: WAV {wav_bytes / 1e6:.2f} MB per run, Ogg Opus "
              f"{len(copy) / 1e6:.3f} MB ({len(copy) * 8 / args.seconds / 1000:.1f} kbit/s), "
              f"page {len(document.encode()) / 1e6:.2f} MB, rendered in {best * 1000:.0f} ms, "
              f"{best_cpu * 1000:.0f} ms of CPU (best of 3)")
        loaded, ready, durations = asyncio.run(open_in_chromium(page, folder))
        good = sum(abs(duration - args.seconds) < 0.05 for duration in durations)
        print(f"chromium: load event after {loaded:.2f} s, {good}/{len(durations)} recordings ready after {ready:.2f} s")


if __name__ == "__main__":
    main()
