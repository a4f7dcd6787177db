"""``voxflow run [FLOW]``: open the app on a flow (or the flow picker without one)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from audio.errors import VoxflowError
from tui.duration import parse_duration


def device_choice(value: str | None) -> str | int | None:
    """A device given by index (``3``) or by (part of its) name (``USB``)."""
    if value is None:
        return None
    return int(value) if value.strip().isdigit() else value


@click.command("run")
@click.argument("flow_path", metavar="[FLOW]", required=False, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--provider", type=click.Choice(["openai", "local"]), help="Realtime service (default: openai with OPENAI_API_KEY, else local).")
@click.option("--share-token", envvar="VOXFLOW_SHARE_TOKEN", metavar="T", help="Share token for a token service (env VOXFLOW_SHARE_TOKEN).")
@click.option("--token-service", envvar="VOXFLOW_TOKEN_SERVICE", metavar="URL", help="Token service base URL.")
@click.option("--input-device", metavar="D", help="Microphone by index or name (see: voxflow devices).")
@click.option("--output-device", metavar="D", help="Speaker by index or name.")
@click.option("--record", "record_path", type=click.Path(path_type=Path, dir_okay=False), metavar="OUT.wav", help="Record the conversation (stereo: you left, assistant right).")
@click.option("--transcript", "transcript_path", type=click.Path(path_type=Path, dir_okay=False), metavar="OUT.jsonl", help="Write the transcript (JSONL, plus a .md twin) when the flow ends.")
@click.option("--max-duration", metavar="30m", help="Cap each session (e.g. 90s, 30m, 1h; at most 60 min).")
@click.option("--no-mouse", is_flag=True, help="Do not capture the mouse (keyboard only; terminal selection keeps working).")
def run(
    flow_path: Path | None,
    provider: str | None,
    share_token: str | None,
    token_service: str | None,
    input_device: str | None,
    output_device: str | None,
    record_path: Path | None,
    transcript_path: Path | None,
    max_duration: str | None,
    no_mouse: bool,
) -> None:
    """Open the app on FLOW; without FLOW, pick one from ./flows or recent flows."""
    from flow.options import RunOptions

    if share_token and not token_service:
        raise VoxflowError("--share-token needs --token-service URL", hint="Ask the flow's owner for the token service address.")
    options = RunOptions(
        input_device=device_choice(input_device),
        output_device=device_choice(output_device),
        provider=provider,
        api_key=os.environ.get("OPENAI_API_KEY") or None,
        base_url=os.environ.get("OPENAI_BASE_URL") or None,
        share_token=share_token,
        token_service=token_service,
        max_duration=parse_duration(max_duration) if max_duration else None,
        record_path=record_path,
    )
    flow = None
    from tui.recent import RecentFlows

    recent = RecentFlows()
    if flow_path is not None:
        from flow.loader import load_flow

        flow = load_flow(flow_path)  # a FlowError lists every problem; the CLI prints it
        recent.add(flow_path)

    from tui.app import VoxflowApp

    app = VoxflowApp(flow, options=options, recent=recent, transcript_path=transcript_path, check_speaker=True)
    app.run(mouse=not no_mouse)
