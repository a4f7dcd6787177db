"""JSON logs of a run that used an API key, a share token and an ephemeral secret carry none of them.

The token service (real uvicorn, SQLite) mints at the local Realtime server
with the owner's key; the run holds the caller's own key and a share token
and connects with the ephemeral secret it was given. Every logger, at DEBUG,
writes through the handler ``--log-format json`` installs, and the run's own
progress lines go through it too. Every line must parse, and none may
contain a secret.
"""

from __future__ import annotations

import io
import json
import logging

import httpx
import pytest

from audio.base.log_format import configure
from audio.tokens.app import create_app
from audio.tokens.crypto import Keyring
from audio.server import LocalRealtimeServer, ServerConfig
from flow.headless import EXIT_OK, HeadlessOptions, HeadlessRun
from flow.loader import load_flow_text
from flow.options import RunOptions
from tui.log_lines import LoggedLines

from .conftest import OWNER_KEY, USER_KEY, Factory, seed_owner, serving

FLOW = """
version: 1
name: Shared
nodes:
  - id: talk
    type: realtime-conversation
    provider: openai
    vad: server_vad
  - id: notes
    type: preview-output
edges:
  - from: talk.transcript
    to: notes.text
"""


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_json_logs_of_a_shared_run_hold_no_secret(sqlite_url: str, make_service: Factory, keyring: Keyring) -> None:
    from tests.headless.test_always_on import write_input

    realtime = LocalRealtimeServer(ServerConfig(speech=False, api_key=OWNER_KEY, reply="script", script=["Okay."]))
    await realtime.start()
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.level, {name: logging.getLogger(name).level for name in ("audio", "flow", "tui", "voxflow", "voxflow.run")}
    handler = configure("json", stream, secrets=[USER_KEY])
    root.setLevel(logging.DEBUG)
    for name in ("audio", "flow", "tui", "voxflow", "httpx", "httpcore", "uvicorn"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    minted: list[str] = []
    try:
        service = await make_service(sqlite_url, transport=httpx.AsyncHTTPTransport(), openai_base_url=realtime.base_url)
        token = await seed_owner(service.store, keyring)
        async with serving(create_app(service), log_level="debug") as token_service:
            import tempfile
            from pathlib import Path

            with tempfile.TemporaryDirectory() as tmp:
                options = RunOptions(input_file=write_input(Path(tmp) / "in.wav"), api_key=USER_KEY, share_token=token,
                                     token_service=token_service, base_url=realtime.base_url)
                runner = HeadlessRun(load_flow_text(FLOW, "shared.yaml"), options, HeadlessOptions(max_duration=60),
                                     out=io.StringIO(), err=LoggedLines())  # type: ignore[arg-type]
                code = await runner.run()
            # the ephemeral secret really was minted and used: the server's call log names its session
            minted = [line for line in stream.getvalue().splitlines() if "token_service" in line]
        # a record that would leak all three if the handler did not redact
        logging.getLogger("audio.test").warning("leak check %s %s %s", OWNER_KEY, token, "ek_" + "abcdef1234567890",
                                                extra={"secret_field": USER_KEY})
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)
        await realtime.stop()
    assert code == EXIT_OK, stream.getvalue()[-2000:]
    text = stream.getvalue()
    lines = text.splitlines()
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "event"} <= record.keys() for record in records)
    assert any(r["logger"] == "voxflow.run" and r["event"] == "session talk: connected" for r in records)
    assert any(r["logger"] == "voxflow.token_service" and "owner-funded session ok" in r["event"] for r in records), minted
    leak = records[-1]
    assert leak["event"] == "leak check [redacted] [redacted] [redacted]" and leak["secret_field"] == "[redacted]"
    for secret in (OWNER_KEY, USER_KEY, token, "ek_"):
        assert secret not in text, secret
