"""Benchmark: from closing the app's terminal to the process being gone (issue #26).

    python tests/benchmarks/bench_hangup_exit.py [--runs 5] [--cases tmux:kill-window:idle,...]

The demo app runs in real tmux / GNU screen (``tests/tui/terminals.py``: the app is
the window's program, against the in-process local Realtime server). Once it is
idle between turns (or while its first reply is on screen), the window is killed
and the app's pid is polled every 10 ms until it is gone. In that time the app
stops the session, completes the transcript, the history and the recording, and
the local server and its speech worker end. Prints p50 and max per case, and the
load average before and after, since every step of the exit is CPU-bound.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.tui.terminals import MULTIPLEXERS, idle, replying, until, wait_gone  # noqa: E402

CASES = "tmux:kill-window:idle,tmux:kill-window:reply,tmux:kill-server:idle,screen:quit:idle"
def one_run(multiplexer: str, kill: str, when: str, give_up: float) -> float | None:
    with tempfile.TemporaryDirectory(prefix="bench-hangup-") as folder:
        mux = MULTIPLEXERS[multiplexer](Path(folder))
        pid = mux.start()
        try:
            if when == "idle":
                until(lambda: idle(mux.files), 180, "the first exchange", pid)
            else:
                until(lambda: replying(mux.files, mux.screen_text), 180, "the first reply on screen", pid)
            mux.kill(kill)
            took = wait_gone(pid, give_up)
            mux.files.recording_frames()  # raises unless the recording is a complete WAV
            return took
        finally:
            mux.close()
            if wait_gone(pid, 0) is None:
                os.kill(pid, 9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--cases", default=CASES, help="comma-separated multiplexer:kill:when")
    parser.add_argument("--give-up", type=float, default=60.0, help="a run still alive this long after the kill is reported as hung")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for case in args.cases.split(","):
        multiplexer, kill, when = case.split(":")
        times = [one_run(multiplexer, kill, when, args.give_up) for _ in range(args.runs)]
        done = sorted(t for t in times if t is not None)
        hung = len(times) - len(done)
        figures = f"p50 {statistics.median(done):.2f} s, max {max(done):.2f} s" if done else "no run ended"
        runs = " ".join(f"{t:.2f}" if t is not None else "hung" for t in times)
        print(f"{multiplexer} {kill} ({when}): {figures} over {len(done)} runs"
              f"{f', {hung} still running after {args.give_up:g} s' if hung else ''}  [{runs}]", flush=True)
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
