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
from typing import Any, TextIO, cast

import click

from audio.base.errors import VoxflowError
from tui.duration import parse_duration
from tui.log_lines import LoggedLines


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
@click.option("--record", "record_path", type=click.Path(path_type=Path, dir_okay=False), metavar="OUT.wav", help="Record the conversation (stereo: you left, assistant right); .wav, .flac, .ogg or .opus.")
@click.option("--transcript", "transcript_path", type=click.Path(path_type=Path, dir_okay=False), metavar="OUT.jsonl", help="Keep the transcript in this file (JSONL, plus a .md twin), rewritten after every finished turn.")
@click.option("--max-duration", metavar="30m", help="Stop the run (and cap each session) after this long, e.g. 90s, 30m, 1h (sessions: at most 60 min).")
@click.option("--renew", is_flag=True, help="Always on: renew each realtime session before its cap, at a turn boundary (the conversation goes on).")
@click.option("--no-reconnect", is_flag=True, help="A realtime session that drops ends (and a headless run fails) instead of reconnecting.")
@click.option("--no-mouse", is_flag=True, help="Do not capture the mouse (keyboard only; terminal selection keeps working).")
@click.option("--input", "input_file", type=click.Path(path_type=Path, dir_okay=False), metavar="IN.wav", help="Use this audio file (WAV, FLAC, MP3, OGG, M4A...) instead of every microphone in the flow.")
@click.option("--output", "output_file", type=click.Path(path_type=Path, dir_okay=False), metavar="OUT.wav", help="Write every speaker's audio to this file instead (.wav, .flac, .ogg or .opus).")
@click.option("--no-history", is_flag=True, help="The app: keep no session history of this run (see: voxflow history).")
@click.option("--start", is_flag=True, help="Run the flow as soon as the app opens (as if r were pressed).")
@click.option("--headless", is_flag=True, help="No terminal UI: run to the end and exit 0 (ok), 1 (failed) or 2 (invalid).")
@click.option("--json", "json_events", is_flag=True, help="Headless: one JSON event per line on stdout.")
@click.option("--quiet", is_flag=True, help="Headless: no progress on stderr (the final error, if any, still shows).")
@click.option("--approve-tools", is_flag=True, help="Headless: run tools marked confirm without asking (they are refused otherwise).")
@click.option("--expect-transcript", "expect_transcript", multiple=True, metavar="REGEX", help="Headless: fail (exit 1) unless the final transcript matches (repeatable; case-insensitive).")
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False), metavar="FILE", help="Defaults for this run (default: $XDG_CONFIG_HOME/voxflow/config.toml; see: voxflow config show).")
@click.option("--metrics", metavar="HOST:PORT", help="Serve /metrics (Prometheus), /healthz and /livez here (loopback unless a host is given; off by default).")
@click.option("--reconnect-budget", metavar="30s", help="How long a session may reconnect before /healthz reports unhealthy (default 30s).")
@click.option("--log-format", type=click.Choice(["text", "json"]), help="stderr: text (default) or json (one object per line: time, level, logger, event, fields).")
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
    renew: bool,
    no_reconnect: bool,
    no_mouse: bool,
    input_file: Path | None,
    output_file: Path | None,
    no_history: bool,
    start: bool,
    headless: bool,
    json_events: bool,
    quiet: bool,
    expect_transcript: tuple[str, ...],
    approve_tools: bool = False,
    config_path: Path | None = None,
    metrics: str | None = None,
    reconnect_budget: str | None = None,
    log_format: str | None = None,
) -> None:
    """Open the app on FLOW; without FLOW, pick one from ./flows or recent flows.

    With --headless, run FLOW to the end without a UI (for CI and scripts).
    """
    from flow.options import RunOptions
    from flow.packaged import find_flow

    if flow_path is not None:
        flow_path = find_flow(flow_path)  # flows/demo.yaml works outside the checkout too
    headless_only = [name for name, given in (("--json", json_events), ("--quiet", quiet), ("--expect-transcript", expect_transcript), ("--approve-tools", approve_tools)) if given]
    if headless_only and not headless:
        raise VoxflowError(f"{headless_only[0]} works only with --headless", hint="Add --headless, or drop the option for the app.")
    if headless and flow_path is None:
        raise VoxflowError("--headless needs a FLOW file", hint="For example: voxflow run flows/demo.yaml --headless --output out.wav")
    _check_audio_files(input_file, output_file, record_path)
    if transcript_path is not None and transcript_path.suffix.lower() not in (".jsonl", ".md"):
        raise VoxflowError(f"--transcript {transcript_path} must end in .jsonl or .md", hint="For example: --transcript talk.jsonl")
    if share_token and not token_service:
        raise VoxflowError("--share-token needs --token-service URL", hint="Ask the flow's owner for the token service address.")
    from flow.run_config import api_key, load, resolve

    config = load(config_path)  # every problem at FILE:LINE, before anything runs
    flags = {"metrics": metrics, "reconnect_budget": reconnect_budget, "log_format": log_format,
             "history": False if no_history else None, "reconnect": False if no_reconnect else None}
    effective = resolve(config, flags)
    options = RunOptions(
        input_device=device_choice(input_device),
        output_device=device_choice(output_device),
        provider=provider,
        transport=transport,
        api_key=api_key(config),
        base_url=os.environ.get("OPENAI_BASE_URL") or None,
        share_token=share_token,
        token_service=token_service,
        max_duration=parse_duration(max_duration) if max_duration else None,
        renew=renew,
        reconnect=not no_reconnect,
        record_path=record_path,
        input_file=input_file,
        output_file=output_file,
        defaults=config_defaults(config),
    )
    log_format = str(effective["log_format"].value)
    service = _service(effective, options)
    logged = _configure_logging(log_format, secrets=(options.api_key, share_token))
    if approve_tools:
        from audio.session.tools import approve_all

        options.tool_approver = approve_all
    if headless:
        assert flow_path is not None
        try:
            if service is not None:
                service.start()
            code = _run_headless(flow_path, options, transcript_path, json_events, quiet, list(expect_transcript),
                                 service=service, err=cast(TextIO, LoggedLines()) if logged else sys.stderr)
        finally:
            if service is not None:
                service.close()
        sys.exit(code)

    flow = None
    from tui.recent import RecentFlows

    recent = RecentFlows()
    if flow_path is not None:
        from flow.loader import load_flow

        flow = load_flow(flow_path)  # a FlowError lists every problem; the CLI prints it
        from flow.overrides import check_device_overrides

        check_device_overrides(flow, input_file, output_file)
        recent.add(flow_path)

    from tui.app import VoxflowApp
    from tui.history import SessionHistory

    history = None if effective["history"].value is False else SessionHistory()
    engine_factory = None
    if service is not None:
        from tui.engine_seam import default_engine_factory

        def watched_engine(flow: Any, options: Any) -> Any:  # the service follows every engine the app makes
            engine = default_engine_factory(flow, options)
            service.watch(engine)
            return engine

        engine_factory = watched_engine
        service.start()
    app = VoxflowApp(flow, options=options, recent=recent, transcript_path=transcript_path, check_speaker=True, start=start,
                     history=history, quit_on_signals=True, engine_factory=engine_factory)
    try:
        app.run(mouse=not no_mouse)
    finally:
        if service is not None:
            service.close()
    if app.quit_requested:  # a hang-up or SIGTERM: everything is closed, and the process ends in bounded time
        from tui.exit_deadline import end_within

        end_within()


def config_defaults(config: Any) -> Any:
    """The config file's defaults for the nodes (below flags and node settings)."""
    from flow.options import ConfigDefaults

    def device(value: object) -> str | int | None:
        return value if isinstance(value, int) else device_choice(value if isinstance(value, str) else None)

    return ConfigDefaults(provider=config.get("provider"), transport=config.get("transport"),
                          input_device=device(config.get("input_device")), output_device=device(config.get("output_device")),
                          renew=config.get("renew"), reconnect=config.get("reconnect"))


def _service(effective: dict[str, Any], options: Any) -> Any:
    """Metrics, health and systemd notifications for this run, or None when none is asked for."""
    from audio.base.sd_notify import SdNotifier, watchdog_interval
    from flow.run_config import duration_seconds

    address = effective["metrics"].value
    notifier = SdNotifier.from_env()
    if address is None and notifier is None:
        return None
    from audio.metrics.address import parse_address
    from flow.service import RunService, ServiceSettings

    try:
        budget = duration_seconds(effective["reconnect_budget"].value)
    except ValueError as error:
        raise VoxflowError(f"--reconnect-budget: {error}") from None
    settings = ServiceSettings(metrics=parse_address(str(address)) if address is not None else None,
                               reconnect_budget=budget, notifier=notifier, watchdog_seconds=watchdog_interval())
    return RunService(settings, clock=options.clock)


def _configure_logging(log_format: str, *, secrets: tuple[str | None, ...]) -> bool:
    """JSON lines, or priority prefixes under the journal; True when the run's own lines must go through logging too."""
    from audio.base.log_format import configure, journal_stream

    if log_format == "text" and not journal_stream(sys.stderr):
        return False  # the default: human lines, as always
    configure(log_format, sys.stderr, secrets=[s for s in secrets if s])
    return True


def _check_audio_files(input_file: Path | None, output_file: Path | None, record_path: Path | None) -> None:
    """Usage errors (exit 2) before anything runs: an unreadable --input, an output type voxflow cannot write."""
    from audio.io.file_writers import output_kind

    for option, path in (("--output", output_file), ("--record", record_path)):
        if path is not None:
            output_kind(path, option)
    if input_file is not None:
        from audio.io.file_decoder import check_audio_file

        check_audio_file(input_file, "--input")


def _run_headless(
    flow_path: Path,
    options: object,
    transcript_path: Path | None,
    json_events: bool,
    quiet: bool,
    expect_transcript: list[str],
    *,
    service: Any = None,
    err: TextIO = sys.stderr,
) -> int:
    """Run the flow with the headless runner; returns the exit code."""
    from flow.headless import HeadlessOptions, compile_expectations, run_headless
    from flow.loader import load_flow
    from flow.nodes.audio_input import check_input_files
    from flow.options import RunOptions
    from flow.overrides import check_device_overrides

    assert isinstance(options, RunOptions)
    compile_expectations(expect_transcript)  # a bad pattern is an argument error (exit 2) before anything runs
    flow = load_flow(flow_path)
    check_input_files(flow)  # a bad recording is a usage error (exit 2), before anything runs
    check_device_overrides(flow, options.input_file, options.output_file)
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
    return run_headless(flow, options, settings, out=sys.stdout, err=err, service=service)
