"""Device choice, the microphone/speaker callback logic, and life without PortAudio."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest

import audio.io.devices as devices
from audio.base.errors import VoxflowError
from audio.io.microphone import MicrophoneSource
from audio.io.speaker import SpeakerSink
from tests.audio.fake_sounddevice import HEADSET, FakeSoundDevice


@pytest.fixture
def fake_sd(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSoundDevice]:
    fake = FakeSoundDevice(HEADSET)
    monkeypatch.setattr(devices, "_import_sounddevice", lambda: fake)
    monkeypatch.setattr(devices, "_module", None)
    yield fake


@pytest.fixture
def no_portaudio(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail() -> None:
        raise OSError("PortAudio library not found")

    monkeypatch.setattr(devices, "_import_sounddevice", fail)
    monkeypatch.setattr(devices, "_module", None)


def test_list_devices_marks_defaults(fake_sd: FakeSoundDevice) -> None:
    listed = devices.list_devices()
    assert [d.name for d in listed] == [d["name"] for d in HEADSET]
    assert listed[0].is_default_input and listed[1].is_default_output
    assert listed[2].default_samplerate == 44100.0 and listed[2].hostapi == "ALSA"


@pytest.mark.parametrize(
    ("spec", "kind", "index"),
    [(None, "input", 0), (None, "output", 1), (2, "output", 2), ("2", "input", 2), ("alc256", "input", 2), ("hdmi", "output", 3), ("usb headset mic", "input", 0)],
)
def test_resolve_device_by_default_index_or_name(fake_sd: FakeSoundDevice, spec: str | int | None, kind: str, index: int) -> None:
    assert devices.resolve_device(spec, kind).index == index  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "kind", "message"),
    [
        (7, "input", "input device 7 does not exist; available: 0: USB Headset Mic, 2: HDA Intel"),
        (3, "input", "input device 3 has no input channels"),
        ("webcam", "input", "no input device matches 'webcam'; available: 0: USB Headset Mic"),
        ("usb", "output", None),  # one output matches: fine
        ("h", "output", "'h' matches several output devices"),
    ],
)
def test_resolve_device_errors_list_the_choices(fake_sd: FakeSoundDevice, spec: str | int, kind: str, message: str | None) -> None:
    if message is None:
        assert devices.resolve_device(spec, kind).name == "USB Headset Speaker"  # type: ignore[arg-type]
        return
    with pytest.raises(VoxflowError) as info:
        devices.resolve_device(spec, kind)  # type: ignore[arg-type]
    text = str(info.value)
    assert message in text
    assert "voxflow devices" in text or "Use more of the name" in text


def test_no_device_at_all_says_to_use_a_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(devices, "_import_sounddevice", lambda: FakeSoundDevice([], default=(-1, -1)))
    monkeypatch.setattr(devices, "_module", None)
    with pytest.raises(VoxflowError, match="--input FILE.wav"):
        devices.resolve_device(None, "input")
    with pytest.raises(VoxflowError, match="--output FILE.wav"):
        devices.resolve_device(None, "output")


def test_missing_portaudio_gives_the_exact_fix(no_portaudio: None) -> None:
    assert not devices.portaudio_available()
    for action in (devices.list_devices, lambda: devices.resolve_device(None, "input"), SpeakerSink().start):
        with pytest.raises(VoxflowError) as info:
            action()
        text = str(info.value)
        assert "apt-get install libportaudio2" in text and "--input FILE.wav" in text and "--output FILE.wav" in text
        assert len(text.splitlines()) == 2


async def test_missing_portaudio_microphone_fails_on_read_with_the_fix(no_portaudio: None) -> None:
    with pytest.raises(VoxflowError, match="libportaudio2"):
        await MicrophoneSource().read()


async def test_file_audio_keeps_working_without_portaudio(no_portaudio: None, tmp_path) -> None:
    from audio.io.sinks import WavFileSink
    from audio.io.sources import ToneSource

    sink = WavFileSink(tmp_path / "x.wav", 16000, 1)
    source = ToneSource(sample_rate=16000, duration=0.1, realtime=False)
    while (frame := await source.read()) is not None:
        sink.write(frame)
    sink.stop()
    assert sink.frames_written == 5


async def test_microphone_callback_hands_frames_to_the_loop_and_counts_overflows(fake_sd: FakeSoundDevice) -> None:
    mic = MicrophoneSource("usb", sample_rate=16000, channels=1, max_queue_ms=60)
    mic.start()
    stream = fake_sd.streams[-1]
    assert stream.kwargs["samplerate"] == 16000 and stream.kwargs["blocksize"] == 320 and stream.started
    for value in range(5):  # PortAudio's thread delivers five blocks before the reader looks
        stream.callback(np.full((320, 1), value, dtype=np.int16), 320, None, None)
    await asyncio.sleep(0)
    first = await mic.read()
    assert first is not None and first.shape == (320, 1) and first[0, 0] == 0
    assert mic.overflows == 2  # the queue holds three 20 ms frames
    pending = asyncio.create_task(mic.read())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    mic.stop()
    assert stream.closed
    result = await asyncio.wait_for(pending, 5)
    assert result is None or result[0, 0] == 1
    assert await mic.read() is None


async def test_microphone_falls_back_to_the_device_rate_and_resamples(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeSoundDevice(HEADSET, default=(2, 2), rates=(44100,))
    monkeypatch.setattr(devices, "_import_sounddevice", lambda: fake)
    monkeypatch.setattr(devices, "_module", None)
    mic = MicrophoneSource(None, sample_rate=24000, channels=1)
    mic.start()
    stream = fake.streams[-1]
    assert stream.kwargs["samplerate"] == 44100 and stream.kwargs["channels"] == 1
    t = np.arange(882 * 10) / 44100
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16).reshape(-1, 1)
    for i in range(10):
        stream.callback(tone[i * 882 : (i + 1) * 882], 882, None, None)
    await asyncio.sleep(0)
    frames = [await mic.read() for _ in range(8)]
    assert all(f is not None and f.shape == (480, 1) for f in frames)
    mic.stop()


def test_speaker_prebuffers_plays_and_underruns_to_silence(fake_sd: FakeSoundDevice) -> None:
    speaker = SpeakerSink(None, sample_rate=24000, channels=1, prebuffer_ms=40)
    speaker.write(np.full((480, 1), 100, dtype=np.int16))
    stream = fake_sd.streams[-1]
    assert stream.kind == "output" and stream.kwargs["blocksize"] == 480
    out = np.ones((480, 1), dtype=np.int16)
    stream.callback(out, 480, None, None)
    assert not out.any()  # 20 ms queued < 40 ms prebuffer: still silent
    speaker.write(np.full((480, 1), 200, dtype=np.int16))
    stream.callback(out, 480, None, None)
    assert (out == 100).all()
    stream.callback(out, 480, None, None)
    assert (out == 200).all()
    stream.callback(out, 480, None, None)
    assert not out.any() and speaker.underruns == 1
    assert speaker.samples_played == 960
    speaker.stop()
    assert stream.closed


def test_speaker_flush_fades_out_and_drops_the_queue(fake_sd: FakeSoundDevice) -> None:
    speaker = SpeakerSink(None, sample_rate=24000, channels=2)
    for _ in range(10):
        speaker.write(np.full((480, 1), 10000, dtype=np.int16))  # mono written to a stereo sink
    stream = fake_sd.streams[-1]
    out = np.zeros((480, 2), dtype=np.int16)
    stream.callback(out, 480, None, None)
    assert (out == 10000).all() and speaker.buffered_ms == pytest.approx(180)
    assert speaker.unheard_ms == speaker.buffered_ms  # the fake device reports no output latency
    speaker.flush()
    stream.callback(out, 480, None, None)
    fade = out[:120, 0]
    assert fade[0] == 10000 and (np.diff(fade) <= 0).all() and fade[-1] < 200  # 5 ms ramp down
    assert not out[120:].any() and speaker.buffered_samples == 0
    speaker.stop()


def _ramp_speaker(fake_sd: FakeSoundDevice) -> tuple[SpeakerSink, object, np.ndarray]:
    """A speaker with 200 ms of a distinct sample per position queued, one block played."""
    speaker = SpeakerSink(None, sample_rate=24000, channels=1, prebuffer_ms=20)
    samples = (np.arange(4800) % 20000 + 1000).astype(np.int16).reshape(-1, 1)
    for start in range(0, 4800, 480):
        speaker.write(samples[start : start + 480])
    stream = fake_sd.streams[-1]
    out = np.zeros((480, 1), dtype=np.int16)
    stream.callback(out, 480, None, None)
    assert (out == samples[:480]).all()
    return speaker, stream, samples


def test_speaker_hold_fades_to_silence_keeps_the_queue_and_release_resumes(fake_sd: FakeSoundDevice) -> None:
    speaker, stream, samples = _ramp_speaker(fake_sd)
    speaker.hold()
    out = np.zeros((480, 1), dtype=np.int16)
    stream.callback(out, 480, None, None)
    fade = out[:120, 0]
    assert fade[0] == samples[480, 0] and (fade[1:] < samples[481:600, 0]).all() and fade[-1] < 200  # 5 ms down
    assert not out[120:].any()
    for _ in range(5):  # held: silence, the queue kept, and what is written is queued too
        stream.callback(out, 480, None, None)
        assert not out.any()
    speaker.write(np.full((480, 1), 7, dtype=np.int16))
    assert speaker.buffered_samples == 4800 - 480 + 480 and speaker.underruns == 0 and speaker.held
    speaker.release()
    stream.callback(out, 480, None, None)
    assert (out[120:] == samples[600:960]).all()  # the very samples the hold faded out, faded back in
    ramp = out[:120, 0]
    assert ramp[0] < 200 and (ramp <= samples[480:600, 0]).all() and ramp[-1] > 0.9 * samples[599, 0]
    played = []
    while speaker.buffered_samples:
        stream.callback(out, 480, None, None)
        played.append(out.copy())
    assert (np.concatenate(played)[: 4800 - 960] == samples[960:]).all()  # nothing lost
    speaker.stop()


def test_speaker_flush_during_a_hold_drops_the_queue_silently(fake_sd: FakeSoundDevice) -> None:
    speaker, stream, _ = _ramp_speaker(fake_sd)
    speaker.hold()
    out = np.zeros((480, 1), dtype=np.int16)
    stream.callback(out, 480, None, None)  # the hold's fade-out
    speaker.flush()
    stream.callback(out, 480, None, None)
    assert not out.any() and speaker.buffered_samples == 0 and not speaker.held
    speaker.write(np.full((960, 1), 300, dtype=np.int16))  # the next reply plays normally
    stream.callback(out, 480, None, None)
    assert (out == 300).all()
    speaker.stop()


def test_speaker_bounds_its_buffer(fake_sd: FakeSoundDevice) -> None:
    speaker = SpeakerSink(None, sample_rate=16000, channels=1, max_ms=100)
    for _ in range(10):
        speaker.write(np.zeros((320, 1), dtype=np.int16))
    assert speaker.buffered_ms <= 100 and speaker.dropped_samples == 5 * 320
    speaker.stop()


def test_speaker_plays_a_short_tail_after_two_blocks(fake_sd: FakeSoundDevice) -> None:
    speaker = SpeakerSink(None, sample_rate=16000, channels=1, prebuffer_ms=40)
    speaker.write(np.full((320, 1), 5, dtype=np.int16))  # 20 ms: less than the 40 ms prebuffer
    stream = fake_sd.streams[-1]
    out = np.zeros((320, 1), dtype=np.int16)
    heard = []
    for _ in range(4):
        stream.callback(out, 320, None, None)
        heard.append(int(out[0, 0]))
    assert heard == [0, 0, 5, 0]
    speaker.stop()


def test_speaker_prebuffer_follows_the_write_jitter_and_shrinks_back(fake_sd: FakeSoundDevice) -> None:
    now = [0.0]
    speaker = SpeakerSink(None, sample_rate=16000, channels=1, now=lambda: now[0])
    block = np.full((320, 1), 7, dtype=np.int16)
    out = np.zeros((320, 1), dtype=np.int16)

    def tick(write_at: float) -> None:
        now[0] = write_at
        speaker.write(block)

    speaker.write(block)
    stream = fake_sd.streams[-1]
    stream.callback(out, 320, None, None)
    assert (out == 7).all() and speaker.prebuffer_ms == 20  # a steady stream: one frame, played at once
    for i in range(1, 100):  # writes every 20 ms, each followed by one device block
        tick(i * 0.02)
        stream.callback(out, 320, None, None)
    assert speaker.prebuffer_ms == 20 and speaker.underruns == 0 and speaker.buffered_ms == 0
    # a 100 ms stall, then five frames at once: the prebuffer grows to cover it
    stream.callback(out, 320, None, None)
    for k in range(5):
        tick(2.08 + k * 0.0001)
    assert speaker.prebuffer_ms >= 60
    # steady again for 3 s: the burst leaves the window and the queue comes back down
    for i in range(150):
        tick(2.1 + i * 0.02)
        stream.callback(out, 320, None, None)
    assert speaker.prebuffer_ms == 20 and speaker.buffered_ms <= 40 and speaker.skipped_samples > 0
    speaker.stop()


def test_devices_command_without_portaudio_prints_the_fix(no_portaudio: None, capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["devices"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "PortAudio" in err and "apt-get install libportaudio2" in err and "--input FILE.wav" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 2


def test_devices_command_lists_devices(fake_sd: FakeSoundDevice, capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(["devices"])
    assert exit_info.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("<   0  USB Headset Mic") and lines[2].startswith(" >  1  USB Headset Speaker")
    assert "44100" in lines[3] and "ALSA" in lines[3]


def test_devices_command_with_no_sound_card(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from tui.cli import main

    monkeypatch.setattr(devices, "_import_sounddevice", lambda: FakeSoundDevice([], default=(-1, -1)))
    monkeypatch.setattr(devices, "_module", None)
    with pytest.raises(SystemExit) as exit_info:
        main(["devices"])
    assert exit_info.value.code == 1
    assert "--input FILE.wav" in capsys.readouterr().err


def test_native_library_noise_never_reaches_the_terminal(monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    import os

    def noisy_import() -> FakeSoundDevice:
        os.write(2, b"ALSA lib pcm.c:2666:(snd_pcm_open_noupdate) Unknown PCM cards.pcm.rear\n")
        return FakeSoundDevice(HEADSET)

    monkeypatch.setattr(devices, "_import_sounddevice", noisy_import)
    monkeypatch.setattr(devices, "_module", None)
    monkeypatch.delenv("VOXFLOW_AUDIO_DEBUG", raising=False)
    assert len(devices.list_devices()) == 4
    os.write(2, b"after\n")  # stderr works again afterwards
    assert capfd.readouterr().err == "after\n"


@pytest.mark.parametrize("kind", ["input", "output"])
async def test_a_device_that_opens_but_will_not_start_is_a_voxflow_error(fake_sd: FakeSoundDevice, kind: str) -> None:
    def refuse() -> None:
        raise OSError("Device unavailable [PaErrorCode -9985]")

    original = fake_sd.InputStream if kind == "input" else fake_sd.OutputStream

    def opener(**kwargs: object):  # type: ignore[no-untyped-def]
        stream = original(**kwargs)
        stream.start = refuse  # type: ignore[method-assign]
        return stream

    setattr(fake_sd, "InputStream" if kind == "input" else "OutputStream", opener)
    endpoint = MicrophoneSource(None, sample_rate=24000) if kind == "input" else SpeakerSink(None, sample_rate=24000)
    with pytest.raises(VoxflowError, match="Device unavailable") as caught:
        endpoint.start()
    assert ("--input FILE.wav" if kind == "input" else "--output FILE.wav") in str(caught.value)
    assert fake_sd.streams and all(stream.closed for stream in fake_sd.streams)  # no half-open stream left behind
    assert not endpoint.started


def test_what_a_cut_leaves_unheard_includes_the_devices_output_latency(fake_sd: FakeSoundDevice) -> None:
    """A barge-in truncates a WebSocket reply at what was heard: the device's own buffer was not heard either."""
    fake_sd.latency = 0.034  # PortAudio's figure for an ALSA card at latency="low"
    speaker = SpeakerSink(None, sample_rate=24000, channels=1, prebuffer_ms=20)
    assert speaker.unheard_ms == 0.0  # no stream yet
    for _ in range(3):
        speaker.write(np.full((480, 1), 100, dtype=np.int16))
    assert speaker.buffered_ms == pytest.approx(60) and speaker.unheard_ms == pytest.approx(94)
    speaker.stop()
