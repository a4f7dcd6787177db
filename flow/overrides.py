"""``--input`` and ``--output`` replace a flow's devices; a flow without the device would ignore the file silently.

``--input FILE`` turns every microphone into that file and ``--output FILE``
every speaker. On a flow whose audio already comes from or goes to files
(the demo reads a recorded WAV) nothing would be replaced: the run would use
the flow's own file and the user's would never be read or written. That is
a usage error, said before anything runs.
"""

from __future__ import annotations

from pathlib import Path

from audio.base.errors import VoxflowError
from flow.model import Flow
from flow.nodes.audio_input import AudioInputSettings
from flow.nodes.audio_output import AudioOutputSettings


def check_device_overrides(flow: Flow, input_file: Path | None, output_file: Path | None) -> None:
    """Raise when ``--input`` has no microphone to replace, or ``--output`` no speaker."""
    settings = [spec.settings for spec in flow.nodes]
    if input_file is not None and not any(
        isinstance(s, AudioInputSettings) and s.source == "microphone" for s in settings
    ):
        raise VoxflowError(
            f"--input {input_file}: flow '{flow.name}' has no microphone to replace (its audio comes from its own nodes)",
            hint="Use a flow with an audio-input of source: microphone, or point that node's path at your file.",
        )
    if output_file is not None and not any(isinstance(s, AudioOutputSettings) and s.sink == "speaker" for s in settings):
        raise VoxflowError(
            f"--output {output_file}: flow '{flow.name}' has no speaker to replace (its audio goes to its own nodes)",
            hint="Use a flow with an audio-output of sink: speaker, or set that node's sink: file and path.",
        )
