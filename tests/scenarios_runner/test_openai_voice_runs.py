"""``caller: {voice: openai:marin}`` through ``voxflow test --provider local``, for real.

A ``voxflow test`` subprocess calls the demo flow with no key and no network: the caller's text is
spoken by the run's own local server (its ``/v1/audio/speech``, eSpeak in marin's local style), the
service hears it and answers, and the recording's caller side has marin's pitch, not the default
eSpeak voice's.
"""

from __future__ import annotations

import json
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from flow.scenarios.results import Suite
from tests.audio.helpers import speaking_pitch
from tests.checkout import checkout_env, voxflow

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180), pytest.mark.xdist_group("scenario-sessions")]

ROOT = Path(__file__).resolve().parents[2]
NO_SERVICE = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "VOXFLOW_SHARE_TOKEN", "VOXFLOW_TOKEN_SERVICE")


def caller_side(recording: Path, start: float, end: float) -> tuple[np.ndarray, int]:
    with wave.open(str(recording)) as wav:
        rate = wav.getframerate()
        frames = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, wav.getnchannels())
    return frames[int(start * rate):int(end * rate), 0], rate


def test_an_openai_voice_is_spoken_by_the_local_server_and_heard(tmp_path: Path) -> None:
    scenario = tmp_path / "marin.yaml"
    scenario.write_text(f"""version: 1
flow: {ROOT / 'flows' / 'demo.yaml'}
caller: {{voice: openai:marin}}
scenarios:
  - name: marin is heard
    turns:
      - say: "Hello, can you hear me?"
        expect:
          transcript: {{max_wer: 0.4}}
          reply: "(?i)you said.*hear me"
""")
    out = tmp_path / "results.json"
    result = subprocess.run(voxflow("test", str(scenario), "--provider", "local", "--json", str(out),
                                    "--artifacts", str(tmp_path / "art")),
                            cwd=tmp_path, env=checkout_env({"VOXFLOW_CACHE_DIR": str(tmp_path / "cache")}, drop=NO_SERVICE),
                            capture_output=True, text=True, timeout=170)
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = Suite.from_json(json.loads(out.read_text())).scenarios[0].runs
    assert run.error is None and run.passed
    (turn,) = run.turns
    assert "hear me" in turn.heard.lower() and all(check.passed for check in turn.checks)
    assert turn.caller_start_s is not None and turn.caller_end_s is not None and run.recording is not None
    spoken, rate = caller_side(Path(run.recording), turn.caller_start_s, turn.caller_end_s)
    assert 150 < speaking_pitch(spoken, rate) < 300  # marin's local style (en-us+f5); espeak:en-us is near 100 Hz
    assert not (tmp_path / "cache").exists()  # the local server's stand-in voice is not cached as marin
