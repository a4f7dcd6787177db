"""Real PortAudio streams on a machine without a sound card, through ALSA's ``null`` device.

PortAudio reads the ALSA configuration when ``sounddevice`` is first
imported, so each check runs in a subprocess whose HOME holds an
``.asoundrc`` that makes the default device a null PCM (it accepts playback
and returns silence on capture, as fast as asked). Needs libportaudio2 and
libasound2 (both in .ci/run); skipped with the reason when PortAudio is absent.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

ASOUNDRC = """\
pcm.!default {
    type null
}
pcm.voxflow_null {
    type null
    hint { show on description "voxflow test null device" }
}
"""

CHECK = textwrap.dedent(
    """
    import asyncio, json, threading, time
    import numpy as np
    from audio.io.devices import list_devices, resolve_device
    from audio.io.microphone import MicrophoneSource
    from audio.io.speaker import SpeakerSink

    async def main():
        report = {"devices": [[d.index, d.name, d.max_input_channels, d.max_output_channels] for d in list_devices()]}
        report["input"] = resolve_device(None, "input").name
        report["named"] = resolve_device("voxflow_null", "output").name
        threads = threading.active_count()
        mic = MicrophoneSource(None, sample_rate=48000, channels=1)
        frames = [await asyncio.wait_for(mic.read(), 10) for _ in range(25)]
        report["mic_frames"] = [list(f.shape) for f in frames if f is not None]
        mic.stop()
        report["mic_after_stop"] = await mic.read()
        speaker = SpeakerSink("voxflow_null", sample_rate=24000, channels=1)
        for _ in range(25):
            speaker.write(np.full((480, 1), 1000, dtype=np.int16))
            await asyncio.sleep(0.005)
        report["output_latency_ms"] = speaker.device_latency_ms
        await speaker.drain(timeout=10)
        report["played"] = speaker.samples_played
        speaker.flush()
        speaker.stop()
        report["speaker_started_after_stop"] = speaker.started
        deadline = time.monotonic() + 20  # PortAudio's threads may take a while to wind down under load
        while threading.active_count() > threads and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        report["extra_threads"] = threading.active_count() - threads
        print(json.dumps(report))

    asyncio.run(main())
    """
)


def run_with_alsa_null(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / ".asoundrc").write_text(ASOUNDRC)
    env = {**os.environ, "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)}
    env.pop("ALSA_CONFIG_PATH", None)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)


def portaudio_installed() -> bool:
    probe = subprocess.run([sys.executable, "-c", "import sounddevice"], capture_output=True, timeout=60)
    return probe.returncode == 0


pytestmark = [pytest.mark.skipif(not portaudio_installed(), reason="PortAudio is not installed (apt-get install libportaudio2)"), pytest.mark.slow]


def test_real_input_and_output_streams_over_alsa_null(tmp_path: Path) -> None:
    result = run_with_alsa_null(tmp_path, CHECK)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    names = [d[1] for d in report["devices"]]
    assert "default" in names and "voxflow_null" in names
    assert report["input"] in names and report["named"] == "voxflow_null"
    assert report["mic_frames"] == [[960, 1]] * 25  # frames flowed from a real input stream
    assert report["mic_after_stop"] is None
    assert report["played"] >= 25 * 480  # the output stream pulled everything we wrote
    assert report["output_latency_ms"] > 0, report  # PortAudio reports the device's own buffer (counted as unheard)
    assert report["speaker_started_after_stop"] is False
    assert report["extra_threads"] <= 0  # both PortAudio streams closed their threads


def test_voxflow_devices_command_lists_the_null_devices(tmp_path: Path) -> None:
    result = run_with_alsa_null(tmp_path, "from tui.cli import main; main(['devices'])")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "voxflow_null" in result.stdout and "default" in result.stdout
    assert "in" in result.stdout and "out" in result.stdout
