"""--max-duration bounds every flow in the app too: at the cap the run stops and the app says so."""

from __future__ import annotations

from pathlib import Path

from flow.events import NodeStatus

from .conftest import make_app
from .test_app_scripted import wait_for


async def test_max_duration_stops_any_flow_in_the_app(tmp_path: Path) -> None:
    from flow.loader import load_flow_text
    from flow.options import RunOptions

    flow = load_flow_text(
        "version: 1\nname: Tone\nnodes:\n  - {id: tone, type: audio-input, source: tone}\n"
        "  - {id: out, type: audio-output, sink: 'null'}\nedges:\n  - {from: tone.audio, to: out.audio}\n", "tone.yaml")
    app = make_app(tmp_path, flow=flow, options=RunOptions(max_duration=0.3))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("r")
        # an endless tone, stopped by the cap alone
        await wait_for(lambda: any("Reached --max-duration (0.3 s)" in str(n.message) for n in app._notifications), pilot)
        await wait_for(lambda: not app.engine.running, pilot)
        assert app.engine.status("tone") == NodeStatus.CANCELLED
