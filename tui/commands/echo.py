"""``voxflow echo-cancel`` (a recorded pair, offline) and ``voxflow echo-test`` (your speaker and microphone).

Both print the echo delay and the echo removed; the work is in
``audio/echo/echo_pair.py`` and ``audio/echo/echo_probe.py``. Missing devices or files
become the usual one- or two-line message.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click


@click.command("echo-cancel")
@click.option("--far", "far", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="What the speaker played (any audio file).")
@click.option("--mic", "mic", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="What the microphone heard meanwhile (same start time).")
@click.option("--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="WAV file for the microphone with the echo removed.")
@click.option("--noise-suppression", is_flag=True, help="Also suppress steady background noise.")
def echo_cancel(far: Path, mic: Path, output: Path, noise_suppression: bool) -> None:
    """Remove the speaker's echo from a recorded microphone, like WebRTC's audioproc_f."""
    from audio.echo.echo_pair import cancel_files

    report = cancel_files(far, mic, output, noise_suppression=noise_suppression)
    for line in report.lines():
        click.echo(line)
    click.echo(f"wrote {output} ({report.seconds:.1f} s, {report.rate} Hz)")


@click.command("echo-test")
@click.option("--input-device", default=None, help="Microphone: index or part of its name (default: the default).")
@click.option("--output-device", default=None, help="Speaker: index or part of its name (default: the default).")
@click.option("--save", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Also write far.wav and mic.wav here (for `voxflow echo-cancel`).")
def echo_test(input_device: str | None, output_device: str | None, save: Path | None) -> None:
    """Play a short phrase, record it, and report the echo delay and the echo removed (on and off)."""
    from audio.io.devices import resolve_device
    from audio.echo.echo_probe import measure, phrase_audio, record_probe

    resolve_device(input_device, "input")  # no device: say so before anything else
    resolve_device(output_device, "output")
    click.echo("playing a short phrase on the speaker and recording the microphone…", err=True)
    recording = asyncio.run(record_probe(input_device, output_device, phrase_audio()))
    if save is not None:
        from audio.dsp.wavfile import WavWriter

        save.mkdir(parents=True, exist_ok=True)
        for name, pcm in (("far", recording.far), ("mic", recording.mic)):
            with WavWriter(save / f"{name}.wav", recording.rate, 1) as writer:
                writer.write(pcm.reshape(-1, 1))
    if not recording.real_time:
        click.echo(f"voxflow: the devices ran at {recording.pace:.1f}× real time (a null or virtual device?), "
                   "so no echo can be measured.\nPick real devices with --input-device/--output-device "
                   "(`voxflow devices` lists them).", err=True)
        sys.exit(1)
    report = measure(recording)
    if report.delay_ms is None or report.echo_dbfs is None or report.residual_dbfs is None:
        click.echo("no echo heard: headphones, a muted microphone, or the speaker's volume is down")
        sys.exit(0)
    click.echo(f"echo delay: {report.delay_ms:.0f} ms")
    click.echo(f"cancellation off: echo heard at {report.echo_dbfs:.1f} dBFS")
    click.echo(f"cancellation on:  {report.residual_dbfs:.1f} dBFS left ({report.erle_db:.1f} dB removed)")
