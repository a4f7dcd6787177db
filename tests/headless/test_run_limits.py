"""--max-duration bounds every flow (a clean stop, files complete, exit 0); a session that dies early fails the run."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from audio.server import LocalRealtimeServer, ServerConfig
from audio.server.config import FaultConfig
from flow.headless import EXIT_FAILED, HeadlessOptions, HeadlessRun
from flow.loader import load_flow_text
from flow.options import RunOptions
from tests.checkout import checkout_env
from tests.headless.test_run_headless import DEMO, NO_SERVICE, ROOT, read_wav

pytestmark = [pytest.mark.slow]

TONE_TO_FILE = """
version: 1
name: Endless tone
nodes:
  - {id: tone, type: audio-input, source: tone, frequency: 440}
  - {id: out, type: audio-output, sink: file, path: tone.wav}
edges:
  - {from: tone.audio, to: out.audio}
"""


def voxflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui", "run", *args], cwd=cwd, env=checkout_env(drop=NO_SERVICE),
                          capture_output=True, text=True, timeout=90)


def test_max_duration_stops_an_endless_flow_without_a_session_cleanly(tmp_path: Path) -> None:
    (tmp_path / "tone.yaml").write_text(TONE_TO_FILE)
    result = voxflow("tone.yaml", "--headless", "--max-duration", "2s", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    assert "voxflow: reached --max-duration (2 s): stopping the flow and closing files…" in lines
    assert lines[-1] == "voxflow: done at --max-duration (2 s)", result.stderr
    audio, rate, _ = read_wav(tmp_path / "tone.wav")  # a complete WAV holding about the two seconds played
    assert 1.0 < len(audio) / rate < 3.0, (len(audio) / rate, result.stderr)


def test_max_duration_stops_a_conversation_cleanly_with_its_files(tmp_path: Path) -> None:
    out, record, transcript = tmp_path / "reply.wav", tmp_path / "both.wav", tmp_path / "t.jsonl"
    # 10 s: time for the local server's recogniser to start and the session to connect on a loaded machine
    # (4 s was seen to end the run before it connected, with four test workers on two cores), yet well short
    # of the demo's own end.
    result = voxflow(str(DEMO), "--headless", "--max-duration", "10s", "--output", str(out), "--record", str(record),
                     "--transcript", str(transcript), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "voxflow: reached --max-duration (10 s): stopping the flow and closing files…" in result.stderr
    assert result.stderr.splitlines()[-1] == "voxflow: done at --max-duration (10 s)", result.stderr
    assert "Traceback" not in result.stderr
    both, rate, channels = read_wav(record)  # recorded from the moment the session connected
    assert channels == 2 and 0 < len(both) / rate < 12.0, (len(both) / rate, result.stderr)  # complete, bounded by the cap
    read_wav(out)
    assert transcript.exists()


async def test_a_session_the_service_ends_while_input_remains_fails_the_run(tmp_path: Path) -> None:
    server = LocalRealtimeServer(ServerConfig(speech=False, faults=FaultConfig(expire_after_seconds=1.0)))
    await server.start()
    try:
        flow = load_flow_text(
            "version: 1\nname: Dies early\nnodes:\n  - {id: talk, type: realtime-conversation, provider: openai}\n"
            "  - {id: notes, type: preview-output}\nedges:\n  - {from: talk.transcript, to: notes.text}\n", "early.yaml")
        options = RunOptions(input_file=ROOT / "flows" / "audio" / "demo-user.wav", provider="openai", api_key="sk-test",
                             base_url=server.base_url)
        err = io.StringIO()
        code = await HeadlessRun(flow, options, HeadlessOptions(), out=io.StringIO(), err=err).run()
    finally:
        await server.stop()
    assert code == EXIT_FAILED
    assert err.getvalue().splitlines()[-1] == (
        "voxflow: failed: node 'talk': the session ended before the input did: "
        "maximum session duration reached: the service ended the session (session_expired)")
