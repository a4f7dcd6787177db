"""``voxflow echo-cancel`` on a recorded pair (real encoded files) and ``voxflow echo-test`` with and without devices."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from audio.echo import echo_probe
from audio.io import devices
from audio.dsp.wavfile import WavReader, WavWriter
from tests.audio.fake_sounddevice import FakeSoundDevice
from tests.audio.test_real_devices import portaudio_installed, run_with_alsa_null
from tests.echo.room import Room, assistant_voice
from tui.cli import main

RATE = 48_000


def write_flac(path: Path, pcm: np.ndarray, rate: int) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("flac", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_echo_cancel_on_a_recorded_pair(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    voice = assistant_voice("The weather today is sunny with a light breeze from the west.", RATE)
    far = np.tile(voice, 3)
    mic = Room(RATE, delay_ms=90).microphone(far)
    write_flac(tmp_path / "far.flac", far, RATE)  # the speaker's side as FLAC: any format PyAV reads
    with WavWriter(tmp_path / "mic.wav", RATE, 1) as writer:
        writer.write(mic.reshape(-1, 1))
    out_path = tmp_path / "clean" / "out.wav"
    code, out, err = run(
        ["echo-cancel", "--far", str(tmp_path / "far.flac"), "--mic", str(tmp_path / "mic.wav"), "--output", str(out_path)],
        capsys,
    )
    assert code == 0, err
    assert "echo delay: 90 ms" in out
    removed = float(out.split("echo removed: ")[1].split(" dB")[0])
    assert removed >= 20
    with WavReader(out_path) as reader:
        cleaned = reader.read_all()[:, 0]
    assert reader.sample_rate == RATE and cleaned.shape[0] == mic.shape[0]
    tail = slice(3 * RATE, None)
    assert np.sqrt(np.mean(cleaned[tail].astype(np.float64) ** 2)) < np.sqrt(np.mean(mic[tail].astype(np.float64) ** 2)) / 10


def test_echo_cancel_missing_file_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["echo-cancel", "--far", str(tmp_path / "nope.wav"), "--mic", str(tmp_path / "nope.wav"),
                          "--output", str(tmp_path / "o.wav")], capsys)
    assert code == 2 and "no such file" in err and "Traceback" not in err


def test_echo_test_without_a_device_fails_with_a_clear_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(devices, "_import_sounddevice", lambda: FakeSoundDevice([], default=(-1, -1)))
    monkeypatch.setattr(devices, "_module", None)
    code, out, err = run(["echo-test"], capsys)
    assert code == 2 and "Traceback" not in err
    assert "no microphone (input device) found" in err
    assert len(err.strip().splitlines()) <= 3


@pytest.mark.slow
@pytest.mark.skipif(not portaudio_installed(), reason="PortAudio is not installed (apt-get install libportaudio2)")
def test_echo_test_plays_and_records_real_streams(tmp_path: Path) -> None:
    """ALSA's null device: real PortAudio streams, but no clock (it runs hundreds of times faster than real time).

    The pair is still saved with the phrase in it, and the command says the
    device cannot be measured instead of reporting an echo figure.
    """
    save = tmp_path / "pair"
    result = run_with_alsa_null(tmp_path, f"from tui.cli import main; main(['echo-test', '--save', {str(save)!r}])")
    assert result.returncode == 1, result.stderr[-2000:]
    assert "real time (a null or virtual device?)" in result.stderr and "--input-device" in result.stderr
    assert "Traceback" not in result.stderr and "echo delay" not in result.stdout
    with WavReader(save / "far.wav") as reader:
        far = reader.read_all()[:, 0]
    with WavReader(save / "mic.wav") as reader:
        mic = reader.read_all()[:, 0]
    assert far.shape == mic.shape and far.shape[0] > RATE  # the phrase was played and the microphone recorded meanwhile
    assert np.abs(far).max() > 3000  # what went to the speaker is the phrase, not the silence before the first write


def test_probe_pace_tells_a_clock_from_a_null_device(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr(echo_probe.time, "monotonic", lambda: now[0])
    block = np.zeros((480, 1), np.int16)
    for blocks_per_10ms, real_time in ((1, True), (500, False)):
        taps = echo_probe._Taps(max_samples=10 * RATE)
        taps.played(block, RATE)  # before the first write: not kept, not counted
        taps.arm()
        for _ in range(100):  # one wall-clock second
            for _ in range(blocks_per_10ms):
                taps.played(block, RATE)
                taps.heard(block, RATE)
            now[0] += 0.01
        recording = echo_probe.ProbeRecording(np.zeros(1, np.int16), np.zeros(1, np.int16), pace=taps.pace())
        assert recording.pace == pytest.approx(blocks_per_10ms, rel=0.01)
        assert recording.real_time is real_time
        assert taps.far_seen == taps.mic_seen == 100 * blocks_per_10ms * 480
