"""Opus decoding with real loss concealment: libopus itself, through ctypes.

PyAV decodes Opus but only ever takes whole packets, so it cannot ask libopus
for packet-loss concealment (decode "nothing" for a missing frame) or for
in-band FEC (rebuild a lost frame from the redundancy in the next packet).
libopus does both; we call it directly, using the copy PyAV's wheel ships
(``av.libs/libopus*``) or the system's ``libopus.so.0``. The output matches
aiortc's decoder (48 kHz interleaved stereo s16 ``av.AudioFrame``) so the rest
of the receive path cannot tell the difference.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fractions
import glob
import os
from functools import lru_cache

import av
import numpy as np

from audio.base.errors import VoxflowError

SAMPLE_RATE = 48000
CHANNELS = 2
MAX_FRAME = 5760  # 120 ms, the longest Opus frame
TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


@lru_cache(maxsize=1)
def _libopus() -> ctypes.CDLL:
    bundled = sorted(glob.glob(os.path.join(os.path.dirname(av.__file__), os.pardir, "av.libs", "libopus*.so*")))
    candidates = bundled + [name for name in (ctypes.util.find_library("opus"),) if name]
    for path in candidates:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        lib.opus_decoder_create.restype = ctypes.c_void_p
        lib.opus_decoder_create.argtypes = [ctypes.c_int32, ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
        lib.opus_decode.restype = ctypes.c_int
        lib.opus_decode.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32,
            ctypes.POINTER(ctypes.c_int16), ctypes.c_int, ctypes.c_int,
        ]
        lib.opus_decoder_destroy.restype = None
        lib.opus_decoder_destroy.argtypes = [ctypes.c_void_p]
        return lib
    raise VoxflowError(
        "libopus was not found (needed to decode received audio)",
        hint="Reinstall PyAV from its wheel (pip install --force-reinstall av) or apt-get install libopus0.",
    )


class OpusDecoder:
    """One stream's decoder state; ``decode``, ``conceal`` and ``recover`` all return one frame."""

    def __init__(self) -> None:
        self._lib = _libopus()
        error = ctypes.c_int(0)
        self._state = self._lib.opus_decoder_create(SAMPLE_RATE, CHANNELS, ctypes.byref(error))
        if not self._state or error.value != 0:
            raise VoxflowError(f"libopus could not create a decoder (error {error.value})")
        self._pcm = np.zeros(MAX_FRAME * CHANNELS, dtype=np.int16)
        self._out = self._pcm.ctypes.data_as(ctypes.POINTER(ctypes.c_int16))
        self.decoded = 0
        self.concealed = 0
        self.recovered = 0
        self.errors = 0

    def _run(self, data: bytes | None, samples: int, fec: int) -> np.ndarray:
        length = len(data) if data else 0
        got = self._lib.opus_decode(self._state, data if length else None, length, self._out, samples, fec)
        if got < 0:
            self.errors += 1
            got = self._lib.opus_decode(self._state, None, 0, self._out, samples, 0)  # conceal a corrupt packet
            if got < 0:
                return np.zeros((samples, CHANNELS), dtype=np.int16)
        return self._pcm[: got * CHANNELS].reshape(-1, CHANNELS).copy()

    def decode(self, payload: bytes) -> np.ndarray:
        """A received packet -> (samples, 2) int16."""
        self.decoded += 1
        return self._run(payload, MAX_FRAME, 0)

    def conceal(self, samples: int) -> np.ndarray:
        """Packet-loss concealment for ``samples`` (a multiple of 2.5 ms) of a missing frame."""
        self.concealed += 1
        return self._run(None, samples, 0)

    def recover(self, next_payload: bytes, samples: int) -> np.ndarray:
        """Rebuild a missing frame from the in-band FEC of the packet after it (libopus falls back to PLC)."""
        self.recovered += 1
        return self._run(next_payload, samples, 1)

    def close(self) -> None:
        if self._state:
            self._lib.opus_decoder_destroy(self._state)
            self._state = None

    def __del__(self) -> None:
        self.close()


def to_frame(pcm: np.ndarray, pts: int) -> av.AudioFrame:
    """(samples, 2) int16 -> the packed stereo frame aiortc's own decoder would have produced."""
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="stereo")
    frame.sample_rate = SAMPLE_RATE
    frame.pts = pts
    frame.time_base = TIME_BASE
    return frame
