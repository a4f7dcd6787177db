"""``voxflow run [FLOW]``: open the app on a flow (or the flow picker), or run it headless.

``--headless`` runs the flow with no terminal UI for CI: files in, files out,
progress on stderr (or JSON events on stdout), and an exit code: 0 success,
1 the flow failed (or did not match ``--expect-transcript``), 2 invalid flow
or arguments.
"""

from __future__ import annotations

import os
import sys
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
@click.option("--transport", type=click.Choice(["webrtc", "websocket", "auto"]), help="How to reach the Realtime service (default: the flow's, else webrtc; auto falls back to WebSocket when UDP is blocked).")
@click.option("--share-token", envvar="VOXFLOW_SHARE_TOKEN", metavar="T", help="Share token for a token service (env VOXFLOW_SHARE_TOKEN).")
@click.option("--token-service", envvar="VOXFLOW_TOKEN_SERVICE", metavar="URL", help="Token service base URL.")
@click.option("--input-device", metavar="D", help="Microphone by index or name (see: voxflow devices).")
@click.option("--output-device", metavar="D", help="Speaker by index or name.")
@click.option("--record", "record_path", type=click.Path(path_type=Path, dir_okay=False), metavar="OUT.wav", help="Record the conversation (stereo: you left, assistant right).")
@click.option("--transcript", "transcript_path", type=click.Path(path_type=Path, dir_okay=False), metavar="OUT.jsonl", help="Write the transcript (JSONL, plus a .md twin) when the flow ends.")
@click.option("--max-duration", metavar="30m", help="Cap each session (e.g. 90s, 30m, 1h; at most 60 min).")
@click.option("--no-mouse", is_flag=True, help="Do not capture the mouse (keyboard only; terminal selection keeps working).")
@click.option("--input", "input_file", type=click.Path(path_type=Path, dir_okay=False), metavar="IN.wav", help="Use this WAV file instead of every microphone in the flow.")
@click.option("--output", "output_file", type=click.Path(path_type=Path, dir_okay=False), metavar="OUT.wav", help="Write every speaker's audio to this WAV file instead.")
@click.option("--start", is_flag=True, help="Run the flow as soon as the app opens (as if r were pressed).")
@click.option("--headless", is_flag=True, help="No terminal UI: run to the end and exit 0 (ok), 1 (failed) or 2 (invalid).")
@click.option("--json", "json_events", is_flag=True, help="Headless: one JSON event per line on stdout.")
@click.option("--quiet", is_flag=True, help="Headless: no progress on stderr (the final error, if any, still shows).")
@click.option("--expect-transcript", "expect_transcript", multiple=True, metavar="REGEX", help="Headless: fail (exit 1) unless the final transcript matches (repeatable; case-insensitive).")
def run(
    flow_path: Path | None,
    provider: str | None,
    transport: str | None,
    share_token: str | None,
    token_service: str | None,
    input_device: str | None,
    output_device: str | None,
    record_path: Path | None,
    transcript_path: Path | None,
    max_duration: str | None,
    no_mouse: bool,
    input_file: Path | None,
    output_file: Path | None,
    start: bool,
    headless: bool,
    json_events: bool,
    quiet: bool,
    expect_transcript: tuple[str, ...],
) -> None:
    """Open the app on FLOW; without FLOW, pick one from ./flows or recent flows.

    With --headless, run FLOW to the end without a UI (for CI and scripts).
    """
    from flow.options import RunOptions

    headless_only = [name for name, given in (("--json", json_events), ("--quiet", quiet), ("--expect-transcript", expect_transcript)) if given]
    if headless_only and not headless:
        raise VoxflowError(f"{headless_only[0]} works only with --headless", hint="Add --headless, or drop the option for the app.")
    if headless and flow_path is None:
        raise VoxflowError("--headless needs a FLOW file", hint="For example: voxflow run flows/demo.yaml --headless --output out.wav")
    if input_file is not None and not input_file.is_file():
        raise VoxflowError(f"--input {input_file}: no such file", hint="Give an existing WAV file.")
    if share_token and not token_service:
        raise VoxflowError("--share-token needs --token-service URL", hint="Ask the flow's owner for the token service address.")
    options = RunOptions(
        input_device=device_choice(input_device),
        output_device=device_choice(output_device),
        provider=provider,
        transport=transport,
        api_key=os.environ.get("OPENAI_API_KEY") or None,
        base_url=os.environ.get("OPENAI_BASE_URL") or None,
        share_token=share_token,
        token_service=token_service,
        max_duration=parse_duration(max_duration) if max_duration else None,
        record_path=record_path,
        input_file=input_file,
        output_file=output_file,
    )
    if headless:
        assert flow_path is not None
        sys.exit(_run_headless(flow_path, options, transcript_path, json_events, quiet, list(expect_transcript)))

    flow = None
    from tui.recent import RecentFlows

    recent = RecentFlows()
    if flow_path is not None:
        from flow.loader import load_flow

        flow = load_flow(flow_path)  # a FlowError lists every problem; the CLI prints it
        recent.add(flow_path)

    from tui.app import VoxflowApp

    app = VoxflowApp(flow, options=options, recent=recent, transcript_path=transcript_path, check_speaker=True, start=start)
    app.run(mouse=not no_mouse)


def _run_headless(
    flow_path: Path,
    options: object,
    transcript_path: Path | None,
    json_events: bool,
    quiet: bool,
    expect_transcript: list[str],
) -> int:
    """Run the flow with the headless runner; returns the exit code."""
    from flow.headless import HeadlessOptions, compile_expectations, run_headless
    from flow.loader import load_flow
    from flow.options import RunOptions

    assert isinstance(options, RunOptions)
    compile_expectations(expect_transcript)  # a bad pattern is an argument error (exit 2) before anything runs
    flow = load_flow(flow_path)
    transcripts: list[Path] = []
    if transcript_path is not None:
        transcripts.append(transcript_path)
        if transcript_path.suffix.lower() == ".jsonl":
            transcripts.append(transcript_path.with_suffix(".md"))
    settings = HeadlessOptions(
        transcript_paths=transcripts,
        expect_transcript=expect_transcript,
        max_duration=options.max_duration,
        json_events=json_events,
        quiet=quiet,
    )
    return run_headless(flow, options, settings, out=sys.stdout, err=sys.stderr)
