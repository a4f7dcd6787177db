"""Real network faults benchmark: a cut network and a lossy one, made by the kernel, against both transports.

Run (root, nftables, util-linux's unshare; nothing outside a private network namespace is touched):
    python tests/benchmarks/bench_link_faults.py [--rounds 10]

User-space impairment (``audio/transports/impairment.py``) is the test suite's
network; this checks the link watch against the real thing, TCP included:
``tests/realtime_session/kernel_faults.py`` runs the local server and one
``renew: true`` session per transport in ``unshare -n`` and drops packets with
nftables. Three faults, ROUNDS times each at random phases: a 6 s cut (must
be noticed within 3 s), a 2 s cut (ridden through, or reconnected: which, per
transport) and 20 % loss each way for 10 s (must not drop the link). Prints
per transport and fault the reconnections, the time to notice and the
longest silence the watch counted.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.realtime_session.kernel_faults import available, run_in_namespace  # noqa: E402

FAULTS = [("cut", 6.0), ("cut", 2.0), ("loss", 10.0)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    unavailable = available()
    if unavailable is not None:
        raise SystemExit(f"cannot make real network faults here: {unavailable}")
    print(f"{'fault':16} {'transport':10} {'reconnected':>11} {'noticed p50/max':>16} {'longest silence p50/max':>24}")
    for fault, seconds in FAULTS:
        results = run_in_namespace(fault, seconds, args.rounds, timeout=60 + args.rounds * (seconds + 30))
        for transport in ("webrtc", "websocket"):
            rows = [r for r in results if r["transport"] == transport]
            noticed = [r["noticed_after"] for r in rows if r["noticed_after"] is not None]
            silence = [r["longest_silence"] for r in rows]
            name = f"{'20 % loss' if fault == 'loss' else 'cut'} {seconds:g} s"
            seen = f"{statistics.median(noticed):.2f}/{max(noticed):.2f} s" if noticed else "-"
            print(f"{name:16} {transport:10} {sum(r['reconnected'] for r in rows):5d} of {len(rows):<3d} {seen:>16} "
                  f"{statistics.median(silence):>15.2f}/{max(silence):.2f} s", flush=True)
            for r in rows:
                if r["reconnected"] and fault != "cut" or (fault == "cut" and seconds > 3 and not r["reconnected"]):
                    print(f"    round {r['round']}: {r['reason']}")


if __name__ == "__main__":
    main()
