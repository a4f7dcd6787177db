"""Devices and files: the microphone and speaker (PortAudio), audio files in and out, tones, silence, the stereo recorder.

Everything that reads or writes audio outside the process. PortAudio is loaded only when a device
is opened, so file-only flows run on machines with no sound card.

May import: ``audio.base``, ``audio.dsp``.
Public names: ``__all__`` below; other packages import these names only.
"""

from __future__ import annotations

from audio.base.exports import lazy_exports

_HOMES = {
    "AudioFileSink": "sinks",
    "check_audio_file": "file_decoder",
    "compressed_copy": "file_transcoder",
    "DeviceInfo": "devices",
    "devices": "devices",
    "FileSource": "sources",
    "list_devices": "devices",
    "load_sounddevice": "devices",
    "MicrophoneSource": "microphone",
    "NullSink": "sinks",
    "open_callback_stream": "devices",
    "output_kind": "file_writers",
    "portaudio_available": "devices",
    "resolve_device": "devices",
    "SilenceSource": "sources",
    "SpeakerSink": "speaker",
    "StereoRecorder": "recorder",
    "ToneSource": "sources",
}

__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
