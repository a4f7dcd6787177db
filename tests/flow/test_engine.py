"""The engine: ordering, concurrency, streaming, error propagation, stop, reset, events."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from audio.base.registry import AudioRegistry
from flow.engine import FlowEngine
from flow.events import EdgeState, EdgeStateChanged, FlowFinished, FlowReset, FlowStarted, NodeOutput, NodeStatus, NodeStatusChanged
from flow.loader import load_flow_text
from flow.nodes.base import PULSE
from tests.flow import helpers
from tests.flow.helpers import GateNode, PulseSinkNode, StreamNode


@pytest.fixture(autouse=True)
def test_nodes() -> Iterator[None]:
    helpers.install()
    yield
    helpers.uninstall()


def flow(yaml_body: str):
    return load_flow_text("version: 1\nname: test\n" + yaml_body, "test.yaml")


async def wait_for(predicate, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.001)

    await asyncio.wait_for(poll(), timeout)


CHAIN = """
nodes:
  - {id: a, type: test-gate}
  - {id: b, type: test-gate}
  - {id: c, type: test-gate}
  - {id: p, type: preview-output}
edges:
  - {from: a.text, to: b.text}
  - {from: b.text, to: p.text}
"""


async def test_nodes_start_in_dependency_order_and_independent_ones_concurrently(registry: AudioRegistry) -> None:
    engine = FlowEngine(flow(CHAIN), registry=registry)
    run = asyncio.create_task(engine.run())
    await wait_for(lambda: set(GateNode.started) == {"a", "c"})
    # a and c (independent) are both running; b waits for a
    assert engine.status("a") == NodeStatus.RUNNING and engine.status("c") == NodeStatus.RUNNING
    assert engine.status("b") == NodeStatus.WAITING
    GateNode.gates["a"].set()
    await wait_for(lambda: "b" in GateNode.started)
    GateNode.gates["b"].set()
    GateNode.gates["c"].set()
    assert await asyncio.wait_for(run, 5) is True
    assert engine.nodes["p"].latest == "b(a())"
    assert all(engine.status(n) == NodeStatus.DONE for n in "abcp")
    assert engine.edge_state("a.text->b.text") == EdgeState.DONE


async def test_error_marks_node_and_cancels_dependents_only(registry: AudioRegistry) -> None:
    engine = FlowEngine(flow(CHAIN.replace("{id: a, type: test-gate}", "{id: a, type: test-gate, fail: true, message: mic unplugged}")), registry=registry)
    run = asyncio.create_task(engine.run())
    await wait_for(lambda: set(GateNode.started) == {"a", "c"})
    GateNode.gates["a"].set()
    GateNode.gates["c"].set()
    assert await asyncio.wait_for(run, 5) is False
    assert engine.status("a") == NodeStatus.ERROR and engine.reason("a") == "mic unplugged"
    assert engine.status("b") == NodeStatus.CANCELLED
    assert engine.reason("b") == "upstream node 'a' failed"  # the message itself is said once, on 'a'
    assert engine.status("p") == NodeStatus.CANCELLED
    assert engine.reason("p") == "upstream node 'b' was cancelled"
    assert engine.status("c") == NodeStatus.DONE  # unrelated nodes finish


async def test_stop_cancels_running_and_waiting_nodes_and_they_release(registry: AudioRegistry) -> None:
    engine = FlowEngine(flow(CHAIN), registry=registry)
    finished: list[FlowFinished] = []
    engine.events.add_callback(lambda e: finished.append(e) if isinstance(e, FlowFinished) else None)
    run = asyncio.create_task(engine.run())
    await wait_for(lambda: set(GateNode.started) == {"a", "c"})
    await engine.stop()
    assert await asyncio.wait_for(run, 5) is True  # cancelled is not an error
    assert sorted(GateNode.released) == ["a", "c"]
    assert {engine.status(n) for n in "abcp"} == {NodeStatus.CANCELLED}
    assert finished and finished[-1].stopped


async def test_reset_clears_outputs_statuses_registry_and_node_state(registry: AudioRegistry) -> None:
    class Stream:
        stopped = 0

        def stop(self) -> None:
            Stream.stopped += 1

    engine = FlowEngine(flow("nodes:\n  - {id: t, type: text-input, text: hi}\n  - {id: p, type: preview-output}\nedges:\n  - {from: t.text, to: p.text}\n"), registry=registry)
    assert await engine.run()
    registry.register(Stream())
    events: list[object] = []
    engine.events.add_callback(events.append)
    engine.reset()
    assert engine.nodes["p"].latest is None
    assert engine.status("t") == NodeStatus.IDLE and engine.output("t", "text") is None
    assert engine.edge_state("t.text->p.text") == EdgeState.IDLE
    assert len(registry) == 0 and Stream.stopped == 1
    assert isinstance(events[-1], FlowReset)
    assert await engine.run()  # runs again after reset
    assert engine.nodes["p"].latest == "hi"


async def test_streamed_output_reaches_downstream_and_edge_states_follow(registry: AudioRegistry) -> None:
    StreamNode.step = asyncio.Event()
    engine = FlowEngine(flow("nodes:\n  - {id: s, type: test-stream, parts: [Hel, lo, '!']}\n  - {id: p, type: preview-output}\nedges:\n  - {from: s.text, to: p.text}\n"), registry=registry)
    run = asyncio.create_task(engine.run())
    await wait_for(lambda: engine.nodes["p"].latest == "Hel")
    assert engine.edge_state("s.text->p.text") == EdgeState.FLOWING
    assert engine.status("p") == NodeStatus.RUNNING
    StreamNode.step.set()
    await wait_for(lambda: engine.nodes["p"].latest == "Hello")
    StreamNode.step.set()
    await wait_for(lambda: engine.nodes["p"].latest == "Hello!")
    StreamNode.step.set()
    assert await asyncio.wait_for(run, 5)
    assert engine.nodes["p"].latest == "Hello!"
    assert engine.edge_state("s.text->p.text") == EdgeState.DONE


async def test_string_combine_rerenders_when_an_input_streams(registry: AudioRegistry) -> None:
    StreamNode.step = asyncio.Event()
    engine = FlowEngine(flow("""
nodes:
  - {id: s, type: test-stream, parts: [a, b]}
  - {id: t, type: text-input, text: T}
  - {id: j, type: string-combine, template: "{x}/{y}"}
  - {id: p, type: preview-output}
edges:
  - {from: s.text, to: j.x}
  - {from: t.text, to: j.y}
  - {from: j.text, to: p.text}
"""), registry=registry)
    run = asyncio.create_task(engine.run())
    await wait_for(lambda: engine.nodes["p"].latest == "a/T")
    StreamNode.step.set()
    await wait_for(lambda: engine.nodes["p"].latest == "ab/T")
    StreamNode.step.set()
    assert await asyncio.wait_for(run, 5)


async def test_pulse_edges_fire(registry: AudioRegistry) -> None:
    engine = FlowEngine(flow("nodes:\n  - {id: g, type: test-gate}\n  - {id: s, type: test-pulse-sink}\nedges:\n  - {from: g.done, to: s.go}\n"), registry=registry)
    run = asyncio.create_task(engine.run())
    await wait_for(lambda: "g" in GateNode.started)
    GateNode.gates["g"].set()
    assert await asyncio.wait_for(run, 5)
    assert PulseSinkNode.received == [PULSE]


async def test_event_order_for_a_simple_flow(registry: AudioRegistry) -> None:
    engine = FlowEngine(flow("nodes:\n  - {id: t, type: text-input, text: hi}\n  - {id: p, type: preview-output}\nedges:\n  - {from: t.text, to: p.text}\n"), registry=registry)
    async with engine.events.subscribe() as sub:
        assert await engine.run()
        events = []
        while not events or not isinstance(events[-1], FlowFinished):
            events.append(await sub.get(timeout=5))
    compact = []
    for e in events:
        if isinstance(e, NodeStatusChanged):
            compact.append(f"{e.node_id}:{e.status}")
        elif isinstance(e, NodeOutput):
            compact.append(f"out {e.node_id}.{e.port}={e.value}")
        elif isinstance(e, EdgeStateChanged):
            compact.append(f"edge {e.state}")
        else:
            compact.append(type(e).__name__)
    assert compact[0] == "FlowStarted"
    assert compact[-1] == "FlowFinished"
    order = [c for c in compact if c not in ("FlowStarted", "FlowFinished")]
    assert order.index("t:waiting") < order.index("t:running") < order.index("out t.text=hi") < order.index("t:done")
    assert order.index("out t.text=hi") < order.index("edge flowing") < order.index("p:running") < order.index("p:done")
    assert order.index("t:done") < order.index("edge done")
    times = [e.at for e in events if hasattr(e, "at")]
    assert times == sorted(times)
    assert isinstance(events[0], FlowStarted)


async def test_run_twice_concurrently_is_refused(registry: AudioRegistry) -> None:
    from audio.base.errors import VoxflowError

    engine = FlowEngine(flow("nodes:\n  - {id: g, type: test-gate}\n"), registry=registry)
    run = asyncio.create_task(engine.run())
    await wait_for(lambda: "g" in GateNode.started)
    with pytest.raises(VoxflowError, match="already running"):
        await engine.run()
    with pytest.raises(VoxflowError, match="stop the flow"):
        engine.reset()
    await engine.stop()
    await run
