"""Any audio file through ``voxflow run --headless``: compressed files survive Ctrl-C, SIGTERM and a hang-up; bad files exit 2."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from tests.audio.real_recordings import CLIP_LONG, ENCODINGS, RATE, aligned_correlation, decode_with_pyav, encode, needs_recordings, read_clip
from tests.audio.test_file_writers import assert_finalised
from tests.checkout import checkout_env
from tests.headless.test_run_headless import NO_SERVICE

ROOT = Path(__file__).resolve().parents[2]
PASS_THROUGH = """\
version: 1
name: Pass-through
nodes:
  - id: mic
    type: audio-input
  - id: speaker
    type: audio-output
edges:
  - from: mic.audio
    to: speaker.audio
"""
M4A = next(e for e in ENCODINGS if e.name == "m4a-aac-44k1-stereo")

pytestmark = [needs_recordings, pytest.mark.slow]


def voxflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui", "run", *args], cwd=cwd, env=checkout_env(drop=NO_SERVICE), capture_output=True, text=True, timeout=60)


def long_speech_m4a(tmp_path: Path) -> tuple[Path, np.ndarray]:
    """7.1 s of LibriVox speech as a stereo 44.1 kHz M4A (both channels the same sentence)."""
    clip = read_clip(CLIP_LONG)
    return encode(np.column_stack([clip, clip]), RATE, M4A, tmp_path / "speech.m4a"), clip


@pytest.mark.parametrize(("signum", "suffix"), [(signal.SIGINT, ".flac"), (signal.SIGTERM, ".ogg"), (signal.SIGHUP, ".opus")])
def test_a_stop_signal_leaves_a_complete_compressed_output(tmp_path: Path, signum: signal.Signals, suffix: str) -> None:
    (tmp_path / "flow.yaml").write_text(PASS_THROUGH)
    speech, clip = long_speech_m4a(tmp_path)
    out = tmp_path / f"reply{suffix}"
    process = subprocess.Popen(
        [sys.executable, "-m", "tui", "run", "flow.yaml", "--headless", "--input", str(speech), "--output", str(out)],
        cwd=tmp_path, env=checkout_env(drop=NO_SERVICE), stderr=subprocess.PIPE, text=True,
    )
    assert process.stderr is not None
    lines, deadline = [], time.monotonic() + 60
    for line in process.stderr:  # real time: wait until a fifth of the 7 s input has been sent
        lines.append(line)
        if "input mic [██·" in line or time.monotonic() > deadline:
            break
    process.send_signal(signum)
    _, rest = process.communicate(timeout=30)
    stderr = "".join(lines) + rest
    assert process.returncode == 1, stderr
    assert "interrupted: stopping the flow and closing files" in stderr and "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1] == "voxflow: stopped by interrupt; files written so far are complete"

    assert_finalised(out)
    with av.open(str(out)) as container:
        assert container.streams.audio[0].codec_context.name == ("flac" if suffix == ".flac" else "opus")
    decoded, *_ = decode_with_pyav(out, RATE)
    assert 1.0 < decoded.size / RATE < 6.0  # cut off where the signal came, not at the end of the input
    correlation, _ = aligned_correlation(decoded, clip[: decoded.size].astype(np.float64))
    assert correlation > 0.9  # the speech that was sent, playable


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--output", "reply.mp3"], "voxflow: --output reply.mp3: cannot write '.mp3' audio files; end the name in one of .wav, .flac, .ogg, .opus"),
        (["--record", "both.aac"], "voxflow: --record both.aac: cannot write '.aac' audio files; end the name in one of .wav, .flac, .ogg, .opus"),
        (["--input", "missing.flac"], "voxflow: --input missing.flac: no such file; give an existing audio file"),
        (["--input", "notes.mp3"], "voxflow: --input 'notes.mp3' is not an audio file voxflow can read (damaged or an unknown format): give a WAV, FLAC"),
        (["--input", "empty.ogg"], "voxflow: --input 'empty.ogg' is empty (0 bytes): give a file that holds audio"),
    ],
)
def test_bad_audio_files_exit_two_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "flow.yaml").write_text(PASS_THROUGH)
    (tmp_path / "notes.mp3").write_text("meeting notes, not audio\n")
    (tmp_path / "empty.ogg").write_bytes(b"")
    result = voxflow("flow.yaml", "--headless", *args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(message)
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert not any(p.suffix in (".mp3", ".aac") and p.name.startswith(("reply", "both")) for p in tmp_path.iterdir())


def test_a_hang_up_mid_conversation_completes_the_compressed_recording_and_reply(tmp_path: Path) -> None:
    record, reply = tmp_path / "both.opus", tmp_path / "reply.flac"
    process = subprocess.Popen(
        [sys.executable, "-m", "tui", "run", str(ROOT / "flows" / "demo.yaml"), "--headless", "--record", str(record), "--output", str(reply)],
        cwd=tmp_path, env=checkout_env(drop=NO_SERVICE), stderr=subprocess.PIPE, text=True,
    )
    assert process.stderr is not None
    lines, deadline = [], time.monotonic() + 90
    for line in process.stderr:  # wait for the first finished assistant turn
        lines.append(line)
        if "] assistant:" in line or time.monotonic() > deadline:
            break
    process.send_signal(signal.SIGHUP)
    _, rest = process.communicate(timeout=60)
    stderr = "".join(lines) + rest
    assert process.returncode == 1 and "interrupted: stopping the flow and closing files" in stderr, stderr
    assert "Traceback" not in stderr
    assert_finalised(record)
    assert_finalised(reply)
    with av.open(str(record)) as container:
        stream = container.streams.audio[0]
        assert stream.channels == 2
        stereo = np.concatenate([f.to_ndarray().T if f.format.is_planar else f.to_ndarray().reshape(-1, 2) for f in container.decode(stream)])
    level = np.sqrt(np.mean(stereo.astype(np.float64) ** 2, axis=0))
    assert (level > 0.01).all(), level  # the user on the left and the assistant's reply on the right, both audible
    reply_audio, *_ = decode_with_pyav(reply, RATE)
    assert reply_audio.size > RATE and np.sqrt(np.mean(reply_audio**2)) > 100


def test_a_flow_whose_recording_is_unreadable_exits_two_before_running(tmp_path: Path) -> None:
    (tmp_path / "flow.yaml").write_text(PASS_THROUGH.replace("    type: audio-input\n", "    type: audio-input\n    source: file\n    path: rec/notes.m4a\n"))
    (tmp_path / "rec").mkdir()
    (tmp_path / "rec" / "notes.m4a").write_text("minutes of the meeting\n")
    result = voxflow(str(tmp_path / "flow.yaml"), "--headless", "--output", "reply.flac", cwd=ROOT)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"voxflow: node 'mic' path: '{tmp_path / 'rec' / 'notes.m4a'}' is not an audio file voxflow can read")
    assert len(result.stderr.strip().splitlines()) == 1 and not (ROOT / "reply.flac").exists()
