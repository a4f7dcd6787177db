"""``voxflow run --headless`` as CI runs it: a real subprocess, the local Realtime server, files in and out."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.checkout import checkout_env

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "flows" / "demo.yaml"
SHORT_SPEECH = ROOT / "tests" / "data" / "speech_how_are_you.wav"
MIC_FLOW = """
version: 1
name: Microphone
nodes:
  - {id: mic, type: audio-input}
  - {id: talk, type: realtime-conversation, provider: local, vad: server_vad}
  - {id: speaker, type: audio-output}
edges:
  - {from: mic.audio, to: talk.audio-in}
  - {from: talk.audio-out, to: speaker.audio}
"""


def mic_flow(folder: Path) -> Path:
    """A microphone flow: ``--input`` replaces its microphone (the demo's file source would play in full)."""
    path = folder / "mic.yaml"
    path.write_text(MIC_FLOW)
    return path


# each demo run plays the demo's recording in real time in a subprocess (about 25 s, slower on a loaded machine)
pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]

NO_SERVICE = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "VOXFLOW_SHARE_TOKEN", "VOXFLOW_TOKEN_SERVICE")


def voxflow(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui", "run", *args], cwd=cwd, env=checkout_env(drop=NO_SERVICE), capture_output=True, text=True, timeout=timeout)


def read_wav(path: Path) -> tuple[np.ndarray, int, int]:
    with wave.open(str(path), "rb") as handle:
        channels, rate = handle.getnchannels(), handle.getframerate()
        data = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16).reshape(-1, channels)
    return data, rate, channels


def onsets(signal_1d: np.ndarray, rate: int, threshold_dbfs: float = -40.0) -> list[float]:
    """Start times (s) of stretches louder than the threshold, in 20 ms windows."""
    window = rate // 50
    frames = signal_1d[: len(signal_1d) // window * window].reshape(-1, window).astype(np.float64)
    loud = 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) / 32768 + 1e-12) > threshold_dbfs
    starts = [i for i in range(len(loud)) if loud[i] and (i == 0 or not loud[i - 1])]
    return [i / 50 for i in starts]


def test_demo_runs_headless_to_the_end_with_files(tmp_path: Path) -> None:
    out, record, transcript = tmp_path / "reply.wav", tmp_path / "both.wav", tmp_path / "talk.jsonl"
    result = voxflow(str(DEMO), "--headless", "--output", str(out), "--record", str(record), "--transcript", str(transcript),
                     "--expect-transcript", "how are you", "--expect-transcript", r"assistant: you said", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "transcript matches all 2 expectation(s)" in result.stderr
    assert "input user [██████████] 100%" in result.stderr  # the file-input progress bar reached the end

    reply, rate, channels = read_wav(out)
    assert channels == 1 and len(reply) / rate > 2.0
    assert onsets(reply[:, 0], rate), "the reply audio is silent"

    records = [json.loads(line) for line in transcript.read_text().splitlines()]
    roles = [r["role"] for r in records]
    assert "user" in roles and "assistant" in roles
    user_text = " ".join(r["text"] for r in records if r["role"] == "user").lower()  # Whisper keeps case and punctuation
    assert "how are you" in user_text and "weather" in user_text
    assert all({"item_id", "role", "text", "start", "end"} <= set(r) for r in records)
    assert transcript.with_suffix(".md").read_text().startswith("# Demo")

    both, rate, channels = read_wav(record)
    assert channels == 2
    user_on, assistant_on = onsets(both[:, 0], rate), onsets(both[:, 1], rate)
    assert user_on and assistant_on
    # time-aligned on one clock: the first reply starts after the user began speaking,
    # and the user's side keeps the input file's spacing between sentences
    assert assistant_on[0] > user_on[0]
    source, source_rate, _ = read_wav(ROOT / "flows" / "audio" / "demo-user.wav")
    source_on = onsets(source[:, 0], source_rate)
    gaps_in, gaps_rec = np.diff(source_on[:3]), np.diff([t for t in user_on if t >= user_on[0]][:3])
    assert len(gaps_rec) == len(gaps_in) and np.allclose(gaps_in, gaps_rec, atol=0.3), (source_on, user_on)


def test_expect_transcript_failure_exits_one_and_keeps_files(tmp_path: Path) -> None:
    transcript = tmp_path / "t.jsonl"
    result = voxflow(str(mic_flow(tmp_path)), "--headless", "--input", str(SHORT_SPEECH), "--output", str(tmp_path / "o.wav"),
                     "--transcript", str(transcript), "--expect-transcript", "purple elephant", cwd=tmp_path)
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == "voxflow: failed: transcript does not match --expect-transcript 'purple elephant'"
    records = [json.loads(line) for line in transcript.read_text().splitlines()]  # the files are kept all the same
    assert any(r["role"] == "user" and r["final"] and r["text"] for r in records), records
    assert any(r["role"] == "assistant" and r["text"].startswith("You said:") for r in records), records


def test_json_mode_streams_events_on_stdout(tmp_path: Path) -> None:
    result = voxflow(str(mic_flow(tmp_path)), "--headless", "--json", "--input", str(SHORT_SPEECH), "--output", str(tmp_path / "o.wav"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = {e["event"] for e in events}
    assert {"flow_started", "node_status_changed", "state_changed", "transcript_updated", "flow_finished"} <= kinds
    assert result.stderr == ""


def test_ctrl_c_mid_run_exits_nonzero_with_valid_files(tmp_path: Path) -> None:
    out, record, transcript = tmp_path / "o.wav", tmp_path / "r.wav", tmp_path / "t.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "tui", "run", str(DEMO), "--headless", "--output", str(out), "--record", str(record), "--transcript", str(transcript)],
        cwd=tmp_path, env=checkout_env(drop=NO_SERVICE), stderr=subprocess.PIPE, text=True,
    )
    assert process.stderr is not None
    deadline = time.monotonic() + 90
    lines = []
    for line in process.stderr:  # wait for the first finished turn
        lines.append(line)
        if "] assistant:" in line or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=60)
    stderr = "".join(lines) + rest
    assert process.returncode == 1, stderr
    assert "interrupted: stopping the flow and closing files" in stderr
    assert "Traceback" not in stderr
    for wav_path in (out, record):
        data, rate, _ = read_wav(wav_path)  # a valid WAV header and whole frames
        assert len(data) > 0
    records = [json.loads(line) for line in transcript.read_text().splitlines()]
    assert any(r["role"] == "assistant" for r in records)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["flows/nope.yaml", "--headless"], "flows/nope.yaml:1:1: no such file"),
        (["tests/flow/broken/cycle.yaml", "--headless"], "cycle: left -> right -> left"),
        (["flows/demo.yaml", "--json"], "voxflow: --json works only with --headless"),
        (["flows/demo.yaml", "--headless", "--input", "missing.wav"], "voxflow: --input missing.wav: no such file"),
        (["flows/demo.yaml", "--headless", "--expect-transcript", "(oops"], "is not a valid regular expression"),
        (["flows/demo.yaml", "--headless", "--max-duration", "soon"], "cannot read the duration 'soon'"),
        (["flows/demo.yaml", "--headless", "--provider", "anthropic"], "voxflow run: Invalid value for '--provider': 'anthropic' is not one of 'openai', 'local'."),
        (["flows/demo.yaml", "--headless", "--bogus"], "voxflow run: No such option '--bogus'."),
    ],
)
def test_bad_arguments_and_invalid_flows_exit_two_with_short_messages(args: list[str], message: str) -> None:
    result = voxflow(*args, cwd=ROOT, timeout=60)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 3


def test_a_headless_run_over_websocket(tmp_path: Path) -> None:
    """``--transport websocket``: a spoken turn over TCP only, answered; the JSON events name the transport.

    (A short recording: the demo's own 25 s run is covered over WebRTC above.)
    """
    result = voxflow(str(mic_flow(tmp_path)), "--headless", "--json", "--transport", "websocket", "--input", str(SHORT_SPEECH),
                     "--output", str(tmp_path / "r.wav"), "--expect-transcript", r"user: \w", "--expect-transcript",
                     r"assistant: you said: \w", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    transports = {e.get("transport") for e in events if e.get("event") == "connection_info"} - {None}
    assert transports == {"WebSocket"}


def test_input_on_a_flow_without_a_microphone_exits_two_before_running(tmp_path: Path) -> None:
    result = voxflow(str(DEMO), "--headless", "--input", str(SHORT_SPEECH), cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2 and "has no microphone to replace" in lines[0] and "source: microphone" in lines[1], lines
