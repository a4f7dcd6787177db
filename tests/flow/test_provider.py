"""Provider precedence, on flows as the real loader builds them: the header names the service the run uses."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from audio.base.errors import VoxflowError
from audio.transports.secrets import DirectSecretProvider, TokenServiceProvider
from flow.loader import load_flow, load_flow_text
from flow.model import Flow
from flow.options import RunOptions
from flow.provider import LOCAL_NO_KEY, REALTIME_NODE_TYPE, choose_provider, node_provider
from tui.provider import choose_provider as header

ROOT = Path(__file__).resolve().parents[2]
FLOWS = sorted((ROOT / "flows").glob("*.yaml"))


def readme_flow() -> Flow:
    """The example flow of README's "Flow format" section, loaded as a user would."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Flow format"):]
    text = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert text is not None
    return load_flow_text(text.group(1), "README.md")


OPTIONS = {
    "nothing": RunOptions(),
    "key": RunOptions(api_key="sk-test"),
    "--provider local": RunOptions(provider="local", api_key="sk-test"),
    "--provider openai": RunOptions(provider="openai", api_key="sk-test"),
    "share token": RunOptions(share_token="vxs_t", token_service="https://tokens.example.com:8443/x"),
    "token service, own key": RunOptions(token_service="https://tokens.example.com", api_key="sk-test"),
    "--provider openai + share token": RunOptions(provider="openai", share_token="vxs_t", token_service="https://tokens.example.com"),
}


def test_readme_example_header_names_the_local_server_without_a_key() -> None:
    flow = readme_flow()
    assert node_provider(flow) is None  # the real loader marks every field as set; the value decides
    assert header(flow, RunOptions()) == LOCAL_NO_KEY
    assert header(flow, RunOptions(api_key="sk-test")) == "openai"


def test_example_flows_headers() -> None:
    labels = {path.name: header(load_flow(path), RunOptions()) for path in FLOWS}
    assert labels == {"demo.yaml": "local", "greeting.yaml": "none", "tools.yaml": "local (no OPENAI_API_KEY)", "voice-chat.yaml": "openai"}


def test_precedence() -> None:
    for named in (None, "openai", "local"):
        assert choose_provider(RunOptions(provider="local"), named).label == "local"
        assert choose_provider(RunOptions(share_token="s", token_service="https://t.example.com/api"), named).label == "token service t.example.com"
    assert choose_provider(RunOptions(api_key="k"), "local").label == "local"
    assert choose_provider(RunOptions(api_key="k"), None).label == "openai"
    assert choose_provider(RunOptions(), None).label == LOCAL_NO_KEY
    assert choose_provider(RunOptions(), "openai").error is not None
    assert choose_provider(RunOptions(share_token="s"), None).error is not None
    assert choose_provider(RunOptions(provider="azure"), None).error is not None


async def _run_choice(flow: Flow, options: RunOptions) -> str:
    """What the realtime node itself picks for this run (the label it hands the session)."""
    spec = next(spec for spec in flow.nodes if spec.type == REALTIME_NODE_TYPE)
    node = spec.node_class(spec.id, spec.settings, spec.label)
    async with contextlib.AsyncExitStack() as stack:
        folder = flow.path.parent if flow.path is not None else Path.cwd()
        ctx = SimpleNamespace(options=options, resolve_path=lambda path: folder / path)  # what the node reads of its context
        provider, _ = await node._provider(ctx, stack)
        if node.provider_label and node.provider_label.startswith("token service"):
            assert isinstance(provider, TokenServiceProvider)
        else:
            assert isinstance(provider, DirectSecretProvider)
    assert node.provider_label is not None
    return node.provider_label


# "--provider local" starts the local server, whose speech engines run in a worker process
@pytest.mark.parametrize("case", [pytest.param(case, marks=pytest.mark.slow) if case == "--provider local" else case for case in sorted(OPTIONS)])
async def test_header_and_run_agree_on_every_example_flow(case: str) -> None:
    options = OPTIONS[case]
    flows = [load_flow(path) for path in FLOWS] + [readme_flow()]
    for flow in flows:
        if not any(spec.type == REALTIME_NODE_TYPE for spec in flow.nodes):
            assert header(flow, options) == "none"
            continue
        label = header(flow, options)
        expected_error = choose_provider(options, node_provider(flow)).error
        try:
            ran = await _run_choice(flow, options)
        except VoxflowError as error:
            assert str(error) == expected_error, (flow.name, case)
        else:
            assert expected_error is None and ran == label, (flow.name, case)
