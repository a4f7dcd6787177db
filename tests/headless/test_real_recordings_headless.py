"""What a CI user does with a real recording: ``voxflow run FLOW --headless --input REC ...`` on a person's voice.

Issue 11's headline: human speech in a compressed file, through the microphone → server VAD →
speaker flow of the local server, gives exit 0, final non-empty user turns and an audible
reply, and no turn is left pending. The recordings are LibriVox sentences (Debian's
pocketsphinx-testdata), made phone-quality (8 kHz, 300-3400 Hz, mu-law, noise, a DC offset)
and encoded with PyAV as an M4A (AAC), as users send them. One container is enough here:
every other encoding (MP3 at 8 kHz among them) goes through the same reader, and
tests/audio/test_file_decoding.py checks each of them by length, rate and content.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.audio.real_recordings import ENCODINGS, decode_with_pyav, encode
from tests.checkout import checkout_env
from tests.headless.test_run_headless import NO_SERVICE
from tests.real_speech import LIBRIVOX, degrade, require, silence

pytestmark = [pytest.mark.timeout(120), pytest.mark.slow]

FLOW = """
version: 1
name: Real recording
nodes:
  - id: mic
    type: audio-input
  - id: talk
    type: realtime-conversation
    vad: server_vad
    provider: local
  - id: speaker
    type: audio-output
edges:
  - {from: mic.audio, to: talk.audio-in}
  - {from: talk.audio-out, to: speaker.audio}
"""


def phone_call(rate: int = 16_000) -> np.ndarray:
    """Two read sentences with a pause between, as a noisy phone line with a DC offset (8 kHz)."""
    require(LIBRIVOX)
    first, second = sorted(LIBRIVOX, key=lambda clip: clip.seconds)[:2]
    speech = np.concatenate([silence(0.5, rate), first.load(rate), silence(1.5, rate), second.load(rate),
                             silence(1.0, rate)])
    return degrade(speech, rate, phone=True, snr_db=20, dc=0.05)


def test_a_phone_recording_gets_every_turn_answered(tmp_path: Path) -> None:
    chosen = next(e for e in ENCODINGS if e.name == "m4a-aac-8k")
    recording = encode(phone_call().reshape(-1, 1), 8_000, chosen, tmp_path / f"call{chosen.suffix}")
    (tmp_path / "flow.yaml").write_text(FLOW)
    run = subprocess.run(
        [sys.executable, "-m", "tui", "run", "flow.yaml", "--headless", "--input", str(recording),
         "--output", "reply.ogg", "--transcript", "talk.jsonl"],
        cwd=tmp_path, env=checkout_env(drop=NO_SERVICE), capture_output=True, text=True, timeout=110,
    )
    assert run.returncode == 0, run.stderr
    turns = [json.loads(line) for line in (tmp_path / "talk.jsonl").read_text().splitlines()]
    users = [turn for turn in turns if turn["role"] == "user"]
    assert users and all(turn["text"].strip() and turn["final"] and not turn.get("pending") for turn in users), turns
    assert any(turn["role"] == "assistant" and turn["text"].strip() for turn in turns), turns
    reply, codec, _, _ = decode_with_pyav(tmp_path / "reply.ogg", 16_000)
    assert codec == "opus" and np.abs(reply).max() > 3000, "the reply is an audible Ogg Opus file, not silence"
