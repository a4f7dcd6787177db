"""Benchmark: start-up time of ``voxflow --help`` and ``voxflow validate``, and what they import.

Run: python tests/benchmarks/bench_startup.py
The CLI loads its subcommands lazily, so these must not import aiortc, PyAV,
numpy or Textual; the script prints the times and checks the import list.
A full ``python -c pass`` start is measured in the same run as the baseline.
"""

from __future__ import annotations

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


def main() -> None:
    baseline = timed([sys.executable, "-c", "pass"])
    help_ms = timed([sys.executable, "-m", "tui", "--help"])
    validate_ms = timed([sys.executable, "-m", "tui", "validate", "flows/greeting.yaml"])
    print(f"python -c pass            {baseline:7.1f} ms (baseline)")
    print(f"voxflow --help            {help_ms:7.1f} ms  ratio to baseline {help_ms / baseline:.2f}")
    print(f"voxflow validate (1 flow) {validate_ms:7.1f} ms  ratio to baseline {validate_ms / baseline:.2f}")
    for argv in (["--help"], ["validate", "flows/greeting.yaml"]):
        print(f"heavy modules imported by voxflow {' '.join(argv)}: {heavy_imports(argv) or 'none'}")


if __name__ == "__main__":
    main()
