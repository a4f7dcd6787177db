"""Benchmark: load and validate a generated 1,000-node flow (target: under 150 ms).

Run: python tests/benchmarks/bench_flow_load.py
Prints the median and best of several runs, and the ratio to the target.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from flow.loader import load_flow

TARGET_MS = 150.0


def generate(nodes: int) -> str:
    """A chain of string-combine nodes fed by text inputs: every node and edge is checked."""
    lines = ["version: 1", "name: Big generated flow", "nodes:"]
    edges = ["edges:"]
    half = nodes // 2
    for i in range(half):
        lines += [f"  - id: t{i}", "    type: text-input", f"    text: part {i}"]
    for i in range(nodes - half - 1):
        lines += [f"  - id: c{i}", "    type: string-combine", '    template: "{a} {b}"']
        edges += [f"  - from: t{i}.text", f"    to: c{i}.a"]
        edges += [f"  - from: {'c' + str(i - 1) if i else 't' + str(half - 1)}.text", f"    to: c{i}.b"]
    lines += ["  - id: preview", "    type: preview-output"]
    edges += [f"  - from: c{nodes - half - 2}.text", "    to: preview.text"]
    return "\n".join(lines + edges) + "\n"


def main() -> None:
    text = generate(1000)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.yaml"
        path.write_text(text)
        load_flow(path)  # warm imports and caches
        times = []
        for _ in range(7):
            start = time.perf_counter()
            flow = load_flow(path)
            times.append((time.perf_counter() - start) * 1000)
    median = statistics.median(times)
    print(f"flow load+validate, {len(flow.nodes)} nodes / {len(flow.edges)} edges, {len(text) // 1024} KiB")
    print(f"  median {median:.1f} ms   best {min(times):.1f} ms   target {TARGET_MS:.0f} ms   ratio median/target {median / TARGET_MS:.2f}")


if __name__ == "__main__":
    main()
