"""Log lines: JSON objects one per line, syslog priority prefixes when stderr is the journal, secrets redacted."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.checkout import checkout_env

from audio.base.log_format import JsonFormatter, configure, journal_stream
from tui.log_lines import LoggedLines, line_level

ROOT = Path(__file__).resolve().parents[2]


def record(level: int, message: str, *args: object, **extra: object) -> logging.LogRecord:
    item = logging.LogRecord("audio.session.renewal", level, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(item, key, value)
    return item


def test_json_lines_carry_time_level_logger_event_and_fields_redacted() -> None:
    line = JsonFormatter(["hunter2-secret"]).format(
        record(logging.WARNING, "reconnecting with %s", "Bearer sk-abcdef123456", node="talk", attempt=2, secret="hunter2-secret"))
    body = json.loads(line)
    assert body["level"] == "warning" and body["logger"] == "audio.session.renewal"
    assert body["event"] == "reconnecting with [redacted]"
    assert body["node"] == "talk" and body["attempt"] == 2 and body["secret"] == "[redacted]"
    assert body["time"].endswith("Z") and "T" in body["time"]


def test_priority_prefixes_only_when_stderr_is_the_journal(tmp_path: Path) -> None:
    out = (tmp_path / "stream").open("w+")
    stat = os.fstat(out.fileno())
    journal = {"JOURNAL_STREAM": f"{stat.st_dev}:{stat.st_ino}"}
    assert journal_stream(out, journal) and not journal_stream(out, {"JOURNAL_STREAM": "1:2"}) and not journal_stream(out, {})
    root = logging.getLogger()
    handler = configure("text", out, env=journal)
    try:
        logging.getLogger("audio.x").warning("ICE failed")
        logging.getLogger("flow.x").error("node failed\nsecond line")
        logging.getLogger("voxflow.run").info("session talk: connected")
        logging.getLogger("audio.x").info("not shown as text")
    finally:
        root.removeHandler(handler)
    out.seek(0)
    assert out.read().splitlines() == ["<4>voxflow: ICE failed", "<3>voxflow: node failed", "<3>second line",
                                       "<6>voxflow: session talk: connected"]


def test_the_runs_own_lines_become_records_at_their_level(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="voxflow.run")
    lines = LoggedLines()
    lines.write("voxflow: session talk: connected\nvoxflow: failed: node 'talk': boom\nvoxflow: warning: no spe")
    lines.write("ech\n")
    assert [(r.levelno, r.getMessage()) for r in caplog.records] == [
        (logging.INFO, "session talk: connected"), (logging.ERROR, "failed: node 'talk': boom"),
        (logging.WARNING, "warning: no speech")]
    assert line_level("session talk: reconnecting (attempt 1: x)") == logging.WARNING


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_cli_run_with_json_logs_writes_only_json_lines(tmp_path: Path) -> None:
    flow = tmp_path / "talk.yaml"
    flow.write_text(f"""version: 1
name: Json
nodes:
  - id: user
    type: audio-input
    source: file
    path: {ROOT / 'tests/data/speech_how_are_you.wav'}
  - id: talk
    type: realtime-conversation
    provider: local
    vad: server_vad
edges:
  - from: user.audio
    to: talk.audio-in
""")
    done = subprocess.run([sys.executable, "-m", "tui", "run", str(flow), "--headless", "--log-format", "json"],
                          capture_output=True, text=True, timeout=110, cwd=tmp_path,
                          env=checkout_env({"XDG_CONFIG_HOME": str(tmp_path / "xdg")},
                                           drop=("OPENAI_API_KEY", "JOURNAL_STREAM", "NOTIFY_SOCKET")))
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert {"session talk: connected", "done"} <= {r["event"] for r in records if r["logger"] == "voxflow.run"}
    assert any(r["event"].startswith("[") and "user:" in r["event"] for r in records)
