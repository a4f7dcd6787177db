"""Audio as the WebSocket carries it: the session's ``audio/pcm`` (24 kHz PCM16) or G.711 ``audio/pcmu`` /
``audio/pcma`` (8 kHz), base64 in events (``openai.types.realtime.realtime_audio_formats``).

G.711 is coded with PyAV's ``pcm_mulaw`` / ``pcm_alaw`` codecs; both are stateless per sample, so one
codec context per direction and format serves a whole call.
"""

from __future__ import annotations

from typing import Any, cast

import av
import numpy as np
from av.audio.codeccontext import AudioCodecContext

G711_CODECS = {"audio/pcmu": "pcm_mulaw", "audio/pcma": "pcm_alaw"}
PCM_RATE = 24_000
G711_RATE = 8_000


def format_type(audio_format: dict[str, Any] | None) -> str:
    return str((audio_format or {}).get("type") or "audio/pcm")


def rate_of(audio_format: dict[str, Any] | None) -> int:
    return G711_RATE if format_type(audio_format) in G711_CODECS else PCM_RATE


class WireCodec:
    """Bytes <-> mono int16 samples for one call, in whichever format the session names."""

    def __init__(self) -> None:
        self._decoders: dict[str, AudioCodecContext] = {}
        self._encoders: dict[str, AudioCodecContext] = {}

    def decode(self, payload: bytes, audio_format: dict[str, Any] | None) -> np.ndarray:
        kind = format_type(audio_format)
        if kind not in G711_CODECS:
            if len(payload) % 2:
                raise ValueError("PCM16 needs an even number of bytes")
            return np.frombuffer(payload, dtype="<i2").astype(np.int16)
        if kind not in self._decoders:
            decoder = cast(AudioCodecContext, av.CodecContext.create(G711_CODECS[kind], "r"))
            decoder.sample_rate, decoder.layout = G711_RATE, "mono"
            self._decoders[kind] = decoder
        frames = self._decoders[kind].decode(av.Packet(payload)) if payload else []
        parts = [frame.to_ndarray().reshape(-1) for frame in frames]
        return np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, dtype=np.int16)

    def encode(self, samples: np.ndarray, audio_format: dict[str, Any] | None) -> bytes:
        kind = format_type(audio_format)
        pcm = np.ascontiguousarray(samples, dtype=np.int16).reshape(-1)
        if kind not in G711_CODECS:
            return pcm.astype("<i2").tobytes()
        if kind not in self._encoders:
            encoder = cast(AudioCodecContext, av.CodecContext.create(G711_CODECS[kind], "w"))
            encoder.sample_rate, encoder.layout, encoder.format = G711_RATE, "mono", "s16"
            self._encoders[kind] = encoder
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = G711_RATE
        return b"".join(bytes(packet) for packet in self._encoders[kind].encode(frame))
