"""``voxflow devices``: list the sound devices a flow can use, or say exactly why there are none."""

from __future__ import annotations

import sys

import click


@click.command()
def devices() -> None:
    """List input and output devices: index, name, channels, default rate and the defaults (*)."""
    from audio.io.devices import list_devices

    found = list_devices()  # a VoxflowError (no PortAudio) becomes the two-line fix via the CLI
    if not found:
        click.echo("voxflow: no sound devices found (no sound card, or none reachable from this session)", err=True)
        click.echo("Plug one in, or run flows with --input FILE.wav / --output FILE.wav.", err=True)
        sys.exit(1)
    width = max(len(device.name) for device in found)
    click.echo(f"{'':2}{'#':>3}  {'name':<{width}}  {'in':>3}  {'out':>3}  {'rate':>6}  api")
    for device in found:
        marks = ("<" if device.is_default_input else " ") + (">" if device.is_default_output else " ")
        click.echo(
            f"{marks}{device.index:>3}  {device.name:<{width}}  {device.max_input_channels:>3}  "
            f"{device.max_output_channels:>3}  {device.default_samplerate:>6.0f}  {device.hostapi}"
        )
    click.echo("< default input   > default output   (choose with --input-device / --output-device: index or name)")
