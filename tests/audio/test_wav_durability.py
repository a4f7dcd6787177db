"""The WAV sink leaves a valid file even when the writing process is killed mid-write."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from audio.dsp.wavfile import WavReader, WavWriter

WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from audio.io.sinks import WavFileSink
    sink = WavFileSink(sys.argv[1], 16000, 2)
    frame = np.full((320, 2), 1234, dtype=np.int16)
    n = 0
    while True:
        sink.write(frame)
        n += 1
        if n == 50:
            print("ready", flush=True)
    """
)


def test_file_is_valid_after_every_write(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    writer = WavWriter(path, 8000, 1)
    for i in range(3):
        writer.write(np.full((160, 1), i, dtype=np.int16))
        with wave.open(str(path)) as w:  # the standard library agrees the header is right
            assert w.getnframes() == 160 * (i + 1) and w.getframerate() == 8000
    writer.close()


@pytest.mark.slow
def test_wav_sink_valid_after_the_writer_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "killed.wav"
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, env=env, cwd=root)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(20)
    assert proc.returncode == -signal.SIGKILL
    with wave.open(str(path)) as w:
        frames = w.getnframes()
        assert frames >= 50 * 320 and frames % 320 == 0
        assert w.getnchannels() == 2 and w.getsampwidth() == 2
        data = np.frombuffer(w.readframes(frames), dtype="<i2")
    assert data.size == frames * 2 and (data == 1234).all()
    # a kill between appending samples and fixing the header leaves at most one frame unclaimed
    assert 0 <= path.stat().st_size - (44 + frames * 4) <= 320 * 4


def test_reader_recovers_a_file_whose_header_was_never_updated(tmp_path: Path) -> None:
    path = tmp_path / "raw.wav"
    writer = WavWriter(path, 8000, 1)
    writer.close()
    with open(path, "ab") as file:  # samples appended by a writer that died before fixing the header
        file.write(np.arange(100, dtype="<i2").tobytes())
    with WavReader(path) as reader:
        assert reader.frames == 100
        assert reader.read_all()[:, 0].tolist() == list(range(100))


def test_a_full_disk_is_a_voxflow_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from audio.base.errors import VoxflowError

    if os.path.exists("/dev/full"):
        with pytest.raises(VoxflowError, match="No space left on device"):
            WavWriter("/dev/full", 24000, 1)
    writer = WavWriter(tmp_path / "full.wav", 24000, 1)
    writer.write(np.full((480, 1), 7, dtype=np.int16))
    assert writer._file is not None

    def no_space(data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(writer._file, "write", no_space)
    with pytest.raises(VoxflowError, match="No space left on device") as caught:
        writer.write(np.full((480, 1), 9, dtype=np.int16))
    assert "another output path" in str(caught.value)
    assert writer.samples_written == 480  # the failed frame is not counted: the header still matches the data
