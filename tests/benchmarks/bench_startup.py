"""Benchmark: start-up time of ``voxflow --help``, ``voxflow validate`` and the app's first screen.

Run: python tests/benchmarks/bench_startup.py
The CLI loads its subcommands lazily, so ``--help`` and ``validate`` must not
import aiortc, PyAV, numpy or Textual; the script prints the times and checks
the import list. Time to first screen is measured in a fresh process from
interpreter start to the app having mounted and painted the demo flow (run
headless through Textual's ``run_test`` at 100x30, so no terminal is needed).
A bare ``python -c pass`` start is measured in the same run as the baseline.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNS = 9
HEAVY = ("aiortc", "av", "numpy", "textual", "sounddevice", "httpx", "starlette")


def timed(args: list[str]) -> float:
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(args, cwd=ROOT, check=True, capture_output=True)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def heavy_imports(argv: list[str]) -> list[str]:
    code = (
        "import sys; sys.argv=['voxflow', *%r]\n"
        "from tui.cli import cli\n"
        "try:\n    cli.main(args=sys.argv[1:], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "print('HEAVY:' + ' '.join(m for m in %r if m in sys.modules))" % (argv, HEAVY)
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    marker = [line for line in out.splitlines() if line.startswith("HEAVY:")][-1]
    return marker.removeprefix("HEAVY:").split()


FIRST_SCREEN = """
import asyncio, os, time
from pathlib import Path
from flow.loader import load_flow
from flow.options import RunOptions
from tui.app import VoxflowApp

async def first_screen() -> None:
    app = VoxflowApp(load_flow(Path("flows/demo.yaml")), options=RunOptions())
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()  # mounted, laid out and painted
        print("FIRST_MS:%f" % ((time.time() - float(os.environ["LAUNCHED_AT"])) * 1000))

asyncio.run(first_screen())
"""


def first_screen_ms() -> float:
    """Wall time from launching the interpreter to the app's first painted screen."""
    samples = []
    for _ in range(5):
        env = dict(os.environ, LAUNCHED_AT=repr(time.time()))
        out = subprocess.run([sys.executable, "-c", FIRST_SCREEN], cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
        samples.append(float([line for line in out.splitlines() if line.startswith("FIRST_MS:")][-1].removeprefix("FIRST_MS:")))
    return statistics.median(samples)


def main() -> None:
    baseline = timed([sys.executable, "-c", "pass"])
    help_ms = timed([sys.executable, "-m", "tui", "--help"])
    validate_ms = timed([sys.executable, "-m", "tui", "validate", "flows/greeting.yaml"])
    print(f"python -c pass            {baseline:7.1f} ms (baseline)")
    print(f"voxflow --help            {help_ms:7.1f} ms  ratio to baseline {help_ms / baseline:.2f}")
    print(f"voxflow validate (1 flow) {validate_ms:7.1f} ms  ratio to baseline {validate_ms / baseline:.2f}")
    screen_ms = first_screen_ms()
    print(f"app first screen (demo)   {screen_ms:7.1f} ms  ratio to baseline {screen_ms / baseline:.2f}")
    for argv in (["--help"], ["validate", "flows/greeting.yaml"]):
        print(f"heavy modules imported by voxflow {' '.join(argv)}: {heavy_imports(argv) or 'none'}")


if __name__ == "__main__":
    main()
