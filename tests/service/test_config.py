"""The config file: precedence (flag, then the flow's node, then the file, then the default), `voxflow config show`
for each source, FILE:LINE errors with suggestions, and secrets kept out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.checkout import checkout_env

from audio.base.errors import VoxflowError
from flow.loader import load_flow_text
from flow.options import ConfigDefaults, RunOptions, node_setting
from flow.provider import choose_provider
from flow.run_config import api_key, load, resolve
from tui.commands.run import config_defaults

ROOT = Path(__file__).resolve().parents[2]


def flow_with(node_lines: str) -> object:
    return load_flow_text(f"""
version: 1
name: T
nodes:
  - id: mic
    type: audio-input
    source: microphone
{node_lines.split('|')[1] if '|' in node_lines else ''}
  - id: talk
    type: realtime-conversation
{node_lines.split('|')[0]}
  - id: out
    type: audio-output
    sink: speaker
edges:
  - from: mic.audio
    to: talk.audio-in
  - from: talk.audio-out
    to: out.audio
""", "t.yaml")


# name, flag value (None: not given), node setting line (or ""), config line (or ""), expected value, expected source
CASES = [
    ("transport", "auto", "    transport: websocket", 'transport = "webrtc"', "auto", "--transport"),
    ("transport", None, "    transport: websocket", 'transport = "auto"', "websocket", "node talk"),
    ("transport", None, "", 'transport = "auto"', "auto", "config:1"),
    ("transport", None, "", "", "webrtc", "default"),
    ("renew", True, "    renew: false", "renew = false", True, "--renew"),
    ("renew", None, "    renew: false", "renew = true", False, "node talk"),
    ("renew", None, "", "renew = true", True, "config:1"),
    ("renew", None, "", "", False, "default"),
    ("provider", "local", "    provider: openai", 'provider = "openai"', "local", "--provider"),
    ("provider", None, "    provider: local", 'provider = "openai"', "local", "node talk"),
    ("provider", None, "", 'provider = "local"', "local", "config:1"),
    ("input_device", "USB", "|    device: 3", "input_device = 5", "USB", "--input-device"),
    ("input_device", None, "|    device: 3", "input_device = 5", 3, "node mic"),
    ("input_device", None, "", "input_device = 5", 5, "config:1"),
]


@pytest.mark.parametrize(("name", "flag", "node", "config_line", "expected", "source"), CASES)
def test_precedence(tmp_path: Path, name: str, flag: object, node: str, config_line: str, expected: object, source: str) -> None:
    path = tmp_path / "config.toml"
    path.write_text(config_line + "\n")
    config = load(path)
    flow = flow_with(node)
    effective = resolve(config, {name: flag}, flow)[name]
    assert effective.value == expected
    assert effective.source.endswith(source.replace("config", str(path))) or effective.source == source, effective.source

    # the run itself: the same value through RunOptions and the node code's own precedence
    defaults = config_defaults(config)
    options = RunOptions(defaults=defaults, api_key="sk-test")
    talk, mic = flow.node("talk").settings, flow.node("mic").settings  # type: ignore[attr-defined]
    if name == "transport":
        options.transport = flag  # type: ignore[assignment]
        got = options.transport or node_setting(talk, "transport", defaults.transport)
    elif name == "renew":
        options.renew = bool(flag)
        got = options.renew or node_setting(talk, "renew", defaults.renew)
    elif name == "provider":
        options.provider = flag  # type: ignore[assignment]
        got = choose_provider(options, getattr(talk, "provider")).service
    else:
        got = flag if flag is not None else node_setting(mic, "device", defaults.input_device)
    assert got == expected


def test_unknown_keys_and_bad_values_are_file_line_errors_with_suggestions(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('# kiosk\ntransprt = "websocket"\nlog_format = "jsn"\n[run]\nprovider = "local"\n')
    with pytest.raises(VoxflowError) as caught:
        load(path)
    assert caught.value.message.splitlines() == [
        f"{path}:2: unknown key 'transprt'; did you mean 'transport'?",
        f"{path}:3: log_format must be one of 'text', 'json'; did you mean 'json'?",
        f"{path}:4: unknown table 'run' (keys: provider, transport, input_device, output_device, renew, reconnect, "
        "metrics, reconnect_budget, log_format, history, api_key_file)",
    ]
    path.write_text('provider = "local"\nopenai_api_key = "sk-abc"\n')
    with pytest.raises(VoxflowError, match=r":2: 'openai_api_key': secrets do not go in the config file") as caught:
        load(path)
    assert "sk-abc" not in caught.value.message
    path.write_text('metrics = "127.0.0.1:'  + '\n')
    with pytest.raises(VoxflowError, match=r"config.toml:1: not valid TOML"):
        load(path)


def test_api_key_file_must_not_be_world_readable(tmp_path: Path) -> None:
    key = tmp_path / "openai.key"
    key.write_text("sk-from-the-file-123456\n")
    config_path = tmp_path / "config.toml"
    config_path.write_text('api_key_file = "openai.key"\n')
    config = load(config_path)
    key.chmod(0o644)
    with pytest.raises(VoxflowError) as caught:
        api_key(config, env={})
    assert caught.value.message == f"api_key_file {key} is readable by every user: run chmod 600 {key}"
    key.chmod(0o600)
    assert api_key(config, env={}) == "sk-from-the-file-123456"
    assert api_key(config, env={"OPENAI_API_KEY": "sk-env"}) == "sk-env"  # the environment wins


def test_the_default_file_lives_in_xdg_config_home_and_may_be_absent(tmp_path: Path) -> None:
    from flow.run_config import default_path

    assert default_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "voxflow" / "config.toml"
    assert load(None, env={"XDG_CONFIG_HOME": str(tmp_path)}).entries == {}
    with pytest.raises(VoxflowError, match="--config .*: no such file"):
        load(tmp_path / "missing.toml")


def show(*args: str, env_extra: dict[str, str] | None = None, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui", "config", "show", *args], capture_output=True, text=True,
                          env=checkout_env({"XDG_CONFIG_HOME": str(home), **(env_extra or {})}, drop=("OPENAI_API_KEY",)),
                          cwd=ROOT, timeout=60)


@pytest.mark.slow
def test_config_show_names_each_source(tmp_path: Path) -> None:
    home = tmp_path / "xdg"
    (home / "voxflow").mkdir(parents=True)
    config = home / "voxflow" / "config.toml"
    config.write_text('# kiosk defaults\ntransport = "websocket"\nmetrics = "127.0.0.1:9464"\nrenew = true\n'
                      'provider = "openai"\napi_key_file = "key"\n')
    (home / "voxflow" / "key").write_text("sk-secret-in-file-999\n")
    flow = tmp_path / "kiosk.yaml"
    flow.write_text("version: 1\nname: K\nnodes:\n  - id: talk\n    type: realtime-conversation\n    provider: local\n")
    done = show(str(flow), "--log-format", "json", home=home)
    assert done.returncode == 0, done.stderr
    rows = {line.split("=")[0].strip(): line for line in done.stdout.splitlines() if "=" in line and not line.startswith("#")}
    assert rows["transport"].endswith(f"# {config}:2")
    assert rows["metrics"].endswith(f"# {config}:3")
    assert rows["provider"].split("#")[1].strip() == f"{flow}, node talk" and "= local" in rows["provider"]
    assert rows["log_format"].endswith("# --log-format") and "json" in rows["log_format"]
    assert rows["history"].endswith("# default")
    assert rows["api_key"].endswith(f"# {config}:6") and "sk-secret" not in done.stdout
    with_env = show(home=home, env_extra={"OPENAI_API_KEY": "sk-env-1234567"})
    assert "environment OPENAI_API_KEY" in with_env.stdout and "sk-env" not in with_env.stdout
    assert f"# config file: {config}" in with_env.stdout
    config.write_text("transport = 'websockt'\n")
    bad = show(home=home)
    assert bad.returncode == 2
    assert bad.stderr.strip() == f"voxflow: {config}:1: transport must be one of 'webrtc', 'websocket', 'auto'; did you mean 'websocket'?"
