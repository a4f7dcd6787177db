"""No speaker on this machine? Send the assistant's audio to a file instead, and say where.

The demo must work on a fresh machine without a sound card (CI, a server over
SSH). When a flow plays to the default speaker and none exists, the run writes
the assistant's audio to ``out/<flow>-assistant.wav`` (``RunOptions.output_file``
replaces every speaker sink) and the app shows that path. An explicitly chosen
``--output-device`` is never replaced: if it is missing, the node says so.
"""

from __future__ import annotations

from pathlib import Path

from audio.base.errors import VoxflowError
from flow.model import Flow
from flow.options import RunOptions


def plays_to_speaker(flow: Flow) -> bool:
    return any(spec.type == "audio-output" and getattr(spec.settings, "sink", None) == "speaker" for spec in flow.nodes)


def default_speaker_exists() -> bool:
    from audio.io.devices import resolve_device

    try:
        resolve_device(None, "output")
    except VoxflowError:
        return False
    return True


def fall_back_to_file(flow: Flow, options: RunOptions, out_dir: Path = Path("out"), *, speaker_exists: bool | None = None) -> Path | None:
    """Set ``options.output_file`` when the flow needs the default speaker and there is none; return the path."""
    if options.output_file is not None or options.output_device is not None or not plays_to_speaker(flow):
        return None
    if speaker_exists is None:
        speaker_exists = default_speaker_exists()
    if speaker_exists:
        return None
    slug = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in flow.name.lower()).strip("-") or "flow"
    options.output_file = out_dir / f"{slug}-assistant.wav"
    return options.output_file
