"""PCM audio in memory: frames, formats and resampling, levels, pacing, the playback pipe, the jitter buffer, codecs.

Pure signal code with no devices and no network: 20 ms frames, channel and rate conversion, dBFS
levels, real-time pacing, the pipe between a reply and the speaker, the adaptive jitter buffer,
Opus decoding and the WAV codec.

May import: ``audio.base``.
Public names: ``__all__`` below; other packages import these names only.
"""

from __future__ import annotations

from audio.base.exports import lazy_exports

_HOMES = {
    "AdaptiveJitterBuffer": "jitter",
    "as_frame": "formats",
    "AudioPipe": "pipe",
    "AudioSink": "frames",
    "AudioSource": "frames",
    "av_frame_from_pcm": "formats",
    "checked_block": "frames",
    "Conceal": "jitter",
    "FRAME_MS": "frames",
    "frame_samples": "frames",
    "FrameChunker": "formats",
    "interrupt": "pacing",
    "interruptible_sleep": "pacing",
    "JitterStats": "jitter",
    "LevelMeter": "levels",
    "OpusDecoder": "opus_decoder",
    "pcm_from_edge_buffer": "formats",
    "Play": "jitter",
    "Resampler": "formats",
    "rms_dbfs": "levels",
    "SpreadEstimator": "jitter",
    "to_channels": "formats",
    "to_frame": "opus_decoder",
    "to_mono": "formats",
    "wav_header": "wavfile",
    "WavWriter": "wavfile",
}

__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
