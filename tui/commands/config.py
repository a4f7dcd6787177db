"""``voxflow config show [FLOW]``: the settings a run would use, and where each one came from.

The same precedence as ``voxflow run`` (:func:`flow.run_config.resolve`):
a flag given here, then the flow's node setting (with FLOW), then the config
file (``FILE:LINE``), then the built-in default. The OpenAI key is shown by
source only, never its value.
"""

from __future__ import annotations

from pathlib import Path

import click


@click.group("config")
def config() -> None:
    """The config file ($XDG_CONFIG_HOME/voxflow/config.toml): defaults for voxflow run."""


@config.command("show")
@click.argument("flow_path", metavar="[FLOW]", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE", help="This config file instead of the default one.")
@click.option("--provider", type=click.Choice(["openai", "local"]))
@click.option("--transport", type=click.Choice(["webrtc", "websocket", "auto"]))
@click.option("--input-device", metavar="D")
@click.option("--output-device", metavar="D")
@click.option("--renew", is_flag=True, default=None)
@click.option("--metrics", metavar="HOST:PORT")
@click.option("--reconnect-budget", metavar="30s")
@click.option("--log-format", type=click.Choice(["text", "json"]))
@click.option("--no-history", is_flag=True, default=None)
def show(flow_path: Path | None, config_path: Path | None, provider: str | None, transport: str | None,
         input_device: str | None, output_device: str | None, renew: bool | None, metrics: str | None,
         reconnect_budget: str | None, log_format: str | None, no_history: bool | None) -> None:
    """Print each effective setting of `voxflow run [FLOW]` with its source (flag, flow node, config FILE:LINE, default)."""
    from flow.run_config import default_path, load, resolve

    loaded = load(config_path)
    flow = None
    if flow_path is not None:
        from flow.loader import load_flow
        from flow.packaged import find_flow

        flow = load_flow(find_flow(flow_path))
    flags = {"provider": provider, "transport": transport, "input_device": input_device, "output_device": output_device,
             "renew": True if renew else None, "metrics": metrics, "reconnect_budget": reconnect_budget,
             "log_format": log_format, "history": False if no_history else None}
    source = loaded.path if loaded.path is not None else f"{default_path()} (none)"
    click.echo(f"# config file: {source}")
    effective = resolve(loaded, flags, flow)
    width = max(len(name) for name in effective)
    for name, item in effective.items():
        click.echo(f"{name:<{width}} = {_shown(item.value):<24} # {item.source}")


def _shown(value: object) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
