"""``voxflow serve-realtime``: run the local Realtime server until Ctrl-C.

The server speaks OpenAI's GA Realtime protocol (HTTP + WebRTC) offline, so a
flow, a second terminal or CI can talk to it instead of the paid service.
Everything it says goes to stderr; the key is never printed.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import click

from audio.base.errors import VoxflowError

if TYPE_CHECKING:  # the server (aiortc, uvicorn) loads only when the command runs
    from audio.metrics.address import MetricsAddress
    from audio.server import LocalRealtimeServer


@click.command("serve-realtime")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default).")
@click.option("--port", default=8789, show_default=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option("--api-key", envvar="VOXFLOW_LOCAL_API_KEY", default=None, metavar="KEY",
              help="Accept only this bearer key when minting client secrets (default: any key). "
                   "Also read from VOXFLOW_LOCAL_API_KEY, which keeps it out of the process list.")
@click.option("--reply", type=click.Choice(["echo", "script", "echo-audio"]), default="echo", show_default=True,
              help="echo: 'You said: ...'; script: the next line of --script; echo-audio: mirror the caller's audio.")
@click.option("--script", "script_file", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Replies for --reply script, one per line; or a YAML rule script (when/call/arguments/say) "
                   "that maps what the user said to replies and function calls.")
@click.option("--no-speech", is_flag=True, help="Answer with tones and '(speech, N s)' even if offline speech is installed.")
@click.option("--recognizer", type=click.Choice(["whisper", "pocketsphinx"]), default="whisper", show_default=True,
              help="whisper: tiny.en bundled by the 'local' extra (or --model-dir); pocketsphinx: the small, "
                   "far less accurate fallback.")
@click.option("--model-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A CTranslate2 Whisper model folder to load instead of the bundled tiny.en "
                   "(its SHA256SUMS, if present, is checked).")
@click.option("--recognizer-workers", type=click.IntRange(0, 64), default=0, show_default=True,
              help="Recogniser processes shared fairly by all calls; 0: one (the model is loaded once).")
@click.option("--recognizer-slots", type=click.IntRange(0, 64), default=0, show_default=True,
              help="Turns each recogniser process decodes at the same time (Whisper), each on its own core; "
                   "0: the cores shared out between the processes.")
@click.option("--recognizer-threads", type=click.IntRange(0, 64), default=0, show_default=True,
              help="CTranslate2 threads per slot; 0: the cores of its process, at most 2.")
@click.option("--session-minutes", type=click.FloatRange(min=0.1, max=60.0), default=60.0, show_default=True,
              help="Cap on a session's length (the service's is 60).")
@click.option("--websocket-burst", is_flag=True,
              help="Send each WebSocket reply's audio at once, as the paid service does (default: in real time, "
                   "as over WebRTC); shows whether a client keeps a reply that arrives faster than it plays.")
@click.option("--shuffle-keys", is_flag=True,
              help="Test mode: write every event's keys in random order (seeded) with extra unknown keys, as other "
                   "servers may; a client must not rely on key order.")
@click.option("--shuffle-seed", type=int, default=0, show_default=True, help="The random seed of --shuffle-keys.")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--metrics", metavar="HOST:PORT", default=None,
              help="Serve /metrics (calls, requests, errors by code, recognition time), /healthz and /livez here "
                   "(loopback unless a host is given; off by default).")
def serve_realtime(host: str, port: int, api_key: str | None, reply: str, script_file: Path | None,
                   no_speech: bool, recognizer: str, model_dir: Path | None, recognizer_workers: int,
                   recognizer_slots: int, recognizer_threads: int, session_minutes: float, websocket_burst: bool,
                   shuffle_keys: bool,
                   shuffle_seed: int, log_level: str, metrics: str | None = None) -> None:
    """Serve an offline stand-in for OpenAI's Realtime API (same HTTP + WebRTC protocol)."""
    from audio.server import LocalRealtimeServer, ServerConfig
    from audio.server.replies import read_script
    from audio.server.tool_script import ToolScript, looks_like_rules

    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    if reply == "script" and script_file is None:
        raise VoxflowError("--reply script needs --script FILE (one reply per line).")
    script: list[str] = []
    rules: ToolScript | None = None
    if script_file is not None:
        try:
            text = script_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise VoxflowError(f"Cannot read the script {script_file}: {error}.",
                               hint="Give a UTF-8 text file with one reply per line.") from None
        if looks_like_rules(text):
            rules = ToolScript.parse(text, str(script_file))
        else:
            script = read_script(text)
    config = ServerConfig(host=host, port=port, api_key=api_key, reply=reply, script=script,  # type: ignore[arg-type]
                          speech=not no_speech, recognizer=recognizer, model_dir=model_dir,  # type: ignore[arg-type]
                          recognizer_workers=recognizer_workers, recognizer_slots=recognizer_slots,
                          recognizer_threads=recognizer_threads,
                          max_session_seconds=session_minutes * 60, rules=rules,
                          websocket_burst=websocket_burst, shuffle_keys=shuffle_keys, shuffle_seed=shuffle_seed)
    from audio.metrics.address import parse_address

    address = parse_address(metrics) if metrics is not None else None
    asyncio.run(_serve(LocalRealtimeServer(config), address))


async def _serve(server: LocalRealtimeServer, metrics: MetricsAddress | None = None) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    telemetry = None
    if metrics is not None:
        from prometheus_client import CollectorRegistry

        from audio.metrics.realtime_server import RealtimeServerMetrics
        from audio.metrics.serving import ServerTelemetry

        registry = CollectorRegistry()
        RealtimeServerMetrics(registry).install(server)  # before start: Starlette takes middleware until it serves
        telemetry = ServerTelemetry(metrics, registry, started=lambda: server.serving, what="local Realtime server")
        telemetry.start()
    try:
        await server.start()
    except BaseException:
        if telemetry is not None:
            await telemetry.close()
        raise
    try:
        if telemetry is not None:
            click.echo(f"Metrics on {telemetry.exporter.url}/metrics (health: /healthz, /livez)", err=True)
        speech = f"offline speech on: {server.recognizer_name}" if server.speech_enabled else (
            "no offline speech (tones instead): pip install 'voxflow[local]' adds it")
        key_note = "OPENAI_API_KEY=<the --api-key you chose>" if server.config.api_key else "OPENAI_API_KEY=any"
        policy = "rule script" if server.config.rules is not None else server.config.reply
        burst = "; WebSocket replies sent at once" if server.config.websocket_burst else ""
        burst += "; event keys shuffled" if server.config.shuffle_keys else ""
        click.echo(f"Local Realtime server on {server.base_url} (reply: {policy}; {speech}{burst})", err=True)
        click.echo(f"Point voxflow at it:  OPENAI_BASE_URL={server.base_url} {key_note} voxflow run FLOW.yaml", err=True)
        click.echo("Press Ctrl-C to stop.", err=True)
        await stop.wait()
    finally:
        click.echo("Stopping the local Realtime server...", err=True)
        await server.stop()
        if telemetry is not None:
            await telemetry.close()
