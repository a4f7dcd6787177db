"""Benchmark: what the tool runner adds to a function call (schema check, redaction, cap, events, output item).

Run: python tests/benchmarks/bench_tool_runner.py
Prints the runner's cost per call against calling the same instant tool directly, and the time for 50
concurrent slow calls of one response against one such call (concurrency: the ratio should stay near 1).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

from audio.session.tools import ToolRunner

CALLS = 2000
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
          "required": ["city"]}


class Instant:
    name, description, parameters, confirm, node_id = "weather", "", SCHEMA, False, None

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    async def call(self, arguments: dict[str, Any]) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        return "sunny and 21 degrees " * 20

    def secrets(self) -> Sequence[str]:
        return ["tok-secret-value"]


async def through_runner(tool: Instant, calls: int, per_response: int) -> float:
    finished = asyncio.Event()
    outputs = 0

    def send(event: dict[str, Any]) -> None:
        nonlocal outputs
        if event["type"] == "conversation.item.create":
            outputs += 1
            if outputs == calls:
                finished.set()

    runner = ToolRunner([tool], send=send, on_update=lambda update: None)
    arguments = json.dumps({"city": "Paris", "days": 3})
    start = time.perf_counter()
    for index in range(calls):
        response = f"resp_{index // per_response}"
        runner.call_requested({"type": "function_call", "id": f"item_{index}", "call_id": f"call_{index}",
                               "name": "weather", "arguments": arguments}, response)
        if index % per_response == per_response - 1:
            runner.response_done(response, "completed")
    await finished.wait()
    return time.perf_counter() - start


async def direct(tool: Instant, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        await tool.call({"city": "Paris", "days": 3})
    return time.perf_counter() - start


async def main() -> None:
    await through_runner(Instant(), 100, 1)  # warm up (jsonschema builds its validators lazily)
    runner_s = await through_runner(Instant(), CALLS, 1)
    direct_s = await direct(Instant(), CALLS)
    per_call = (runner_s - direct_s) / CALLS * 1e6
    print(f"runner overhead per call: {per_call:.0f} µs ({runner_s / CALLS * 1e6:.0f} µs through the runner vs "
          f"{direct_s / CALLS * 1e6:.1f} µs direct)")
    one = await through_runner(Instant(0.2), 1, 1)
    fifty = await through_runner(Instant(0.2), 50, 50)
    print(f"50 concurrent 200 ms calls of one response: {fifty * 1000:.0f} ms vs one call {one * 1000:.0f} ms "
          f"(ratio {fifty / one:.2f})")


if __name__ == "__main__":
    asyncio.run(main())
