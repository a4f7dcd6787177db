"""Benchmark: what echo cancellation costs per microphone stream, and the delay it adds.

    python tests/benchmarks/bench_echo_cancel.py [--seconds 20]

Feeds SECONDS of the assistant's voice (eSpeak) through the simulated room of
tests/echo (RT60 0.3 s, 70 ms) into an EchoCanceller exactly as the devices
do (20 ms played, then 20 ms captured) and prints, per audio second:

* CPU of livekit's APM alone (10 ms frames, no Python around it) and of the
  whole canceller path (speaker tap, queue, meter, APM), for a 48 kHz
  microphone and for a 44.1 kHz one (two resamplers more), with the ratio to
  the target of 2 % of one core;
* the delay the canceller adds to the microphone, found by cross-correlating
  its output with its input while the speaker is silent (pass-through);
* the echo removed over the run (far end only, after the first 2 s);
* with ``--turns``: what the local server's turn detector (Silero, ``server_vad``
  defaults) makes of the cleaned microphone (``tests/echo/offline.py``, no
  network or Opus): speech started by the echo alone over ten short replies from
  a fresh canceller, with and without its convergence gate, at six delays; how
  long after a person's first word, at the echo's level, speech starts (five
  LibriVox readers x three delays, over the first, the second and a later
  reply); and the words pocketsphinx recognises of a person talking at the
  echo's level over a reply that keeps playing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from audio.echo.echo_cancel import ApmProcessor, EchoCanceller  # noqa: E402
from tests.echo.room import Room, assistant_voice, erle_db, librivox, resample  # noqa: E402

TARGET = 0.02


def cpu_per_second(run, seconds: float) -> float:
    start = time.process_time()
    run()
    return (time.process_time() - start) / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--turns", action="store_true", help="also the turn-detector figures (~5 min)")
    parser.add_argument("--renders", type=int, default=0, metavar="N",
                        help="only AEC3's first convergence over N eSpeak renders (~3 s each)")
    args = parser.parse_args()
    if args.renders:
        first_convergence(args.renders)
        return
    seconds = args.seconds
    voice = assistant_voice("The weather today is sunny with a light breeze from the west. Tomorrow brings rain.", 48_000)
    far = np.tile(voice, int(seconds * 48_000) // voice.shape[0] + 1)[: int(seconds * 48_000)]
    mic = Room(48_000, delay_ms=70).microphone(far)

    apm = ApmProcessor(48_000)
    def apm_only() -> None:
        for i in range(0, far.shape[0] - 479, 480):
            apm.process_far(far[i : i + 480])
            apm.process_near(mic[i : i + 480])
    raw = cpu_per_second(apm_only, seconds)

    # the convergence gate's share: the first 3 s of a fresh canceller (gate working) vs the same without it
    first = 3 * 48_000
    def converging(gate: bool) -> None:
        canceller = EchoCanceller(gate=gate)
        canceller.attach_speaker()
        for i in range(0, first, 960):
            canceller.note_played(far[i : i + 960].reshape(-1, 1), 48_000)
            canceller.process(mic[i : i + 960].reshape(-1, 1), 48_000)
    gated, ungated = cpu_per_second(lambda: converging(True), 3.0), cpu_per_second(lambda: converging(False), 3.0)

    results: dict[int, tuple[float, np.ndarray]] = {}
    for rate in (48_000, 44_100):
        f, m = (far, mic) if rate == 48_000 else (resample(far, 48_000, rate), resample(mic, 48_000, rate))
        canceller = EchoCanceller()
        canceller.attach_speaker()
        block = rate // 50
        out: list[np.ndarray] = []
        def path() -> None:
            for i in range(0, f.shape[0] - block + 1, block):
                canceller.note_played(f[i : i + block].reshape(-1, 1), rate)
                out.append(canceller.process(m[i : i + block].reshape(-1, 1), rate).reshape(-1))
        results[rate] = (cpu_per_second(path, seconds), np.concatenate(out))

    # delay added: speaker silent, a person talking; where does the output line up with the input?
    person = librivox("0870", 48_000)
    canceller = EchoCanceller()
    canceller.attach_speaker()
    silent = np.zeros((960, 1), dtype=np.int16)
    passed = []
    for i in range(0, person.shape[0] - 959, 960):
        canceller.note_played(silent, 48_000)
        passed.append(canceller.process(person[i : i + 960].reshape(-1, 1), 48_000).reshape(-1))
    cleaned = np.concatenate(passed).astype(np.float64)
    source = person[: cleaned.shape[0]].astype(np.float64)
    lags = range(0, 960)
    corr = [abs(np.dot(cleaned[lag:], source[: source.shape[0] - lag])) for lag in lags]
    added_ms = 1000.0 * int(np.argmax(corr)) / 48_000

    cleaned48 = results[48_000][1]
    n = min(cleaned48.shape[0], mic.shape[0])
    print(f"APM alone, 48 kHz:            {raw * 1000:.2f} ms CPU per audio s ({raw * 100:.2f} % of a core)")
    for rate, (cost, _) in results.items():
        print(f"canceller path, {rate / 1000:g} kHz mic:  {cost * 1000:.2f} ms CPU per audio s "
              f"({cost * 100:.2f} % of a core; ratio to the 2 % target {cost / TARGET:.2f})")
    print(f"delay added to the microphone: {added_ms:.2f} ms (20 ms blocks; any other block size holds back < 10 ms)")
    print(f"first 3 s (convergence gate working): {gated * 100:.2f} % of a core; without the gate {ungated * 100:.2f} %")
    print(f"echo removed (far end only, 2 s on): {erle_db(mic[2 * 48_000 : n], cleaned48[2 * 48_000 : n]):.1f} dB")
    ungated = EchoCanceller(gate=False)
    ungated.attach_speaker()
    alone = []
    for i in range(0, far.shape[0] - 959, 960):
        ungated.note_played(far[i : i + 960].reshape(-1, 1), 48_000)
        alone.append(ungated.process(mic[i : i + 960].reshape(-1, 1), 48_000).reshape(-1))
    aec3 = np.concatenate(alone)
    m = min(aec3.shape[0], mic.shape[0])
    print(f"  by AEC3 alone (no convergence gate): {erle_db(mic[2 * 48_000 : m], aec3[2 * 48_000 : m]):.1f} dB from 2 s on, "
          f"{erle_db(mic[3 * 48_000 : m], aec3[3 * 48_000 : m]):.1f} dB from 3 s on")
    if args.turns:
        turns()


def first_convergence(renders: int) -> None:
    """Echo removed by AEC3 alone (no gate), far end only, 12 s of the echo tests' reply with the echo path
    jumping 40 ms at 6 s, over ``renders`` renders of it (each a little different, as the local server's
    are): from 2.5 s to 6 s (the first convergence) and from 8 s to 12 s (2 s after the jump)."""
    from tests.echo.room import assistant_voice_rerendered
    from tests.echo.test_echo_cancel import ASSISTANT, run_room, window

    rate = 48_000
    figures: dict[int, list[tuple[float, float]]] = {40: [], 80: [], 120: []}
    for _ in range(renders):
        voice = assistant_voice_rerendered(ASSISTANT, rate)
        far = np.tile(voice, 12 * rate // voice.shape[0] + 1)[: 12 * rate]
        for delay_ms, rows in figures.items():
            mic, cleaned = run_room(far, Room(rate, delay_ms=delay_ms), jump_at=6.0)
            rows.append((erle_db(window(mic, 2.5, 6), window(cleaned, 2.5, 6)), erle_db(window(mic, 8, 12), window(cleaned, 8, 12))))
    for delay_ms, rows in figures.items():
        first, after = np.array(rows).T
        print(f"{delay_ms} ms, {renders} renders: 2.5-6 s median {np.median(first):.1f} dB, min {first.min():.1f}, "
              f"max {first.max():.1f}, under 30 dB in {int((first < 30).sum())}; "
              f"8-12 s median {np.median(after):.1f} dB, min {after.min():.1f}")


def turns() -> None:
    from tests.echo.offline import CLIPS, barge_in_delay, false_starts

    delays = (30, 50, 70, 90, 110, 130)
    for gate in (True, False):
        starts = [false_starts(lambda: EchoCanceller(gate=gate), delay) for delay in delays]
        print(f"speech started by the echo, 10 replies, {delays} ms, gate {'on' if gate else 'off'}: {starts}")
    for warm, label in ((0, "first reply"), (1, "second reply"), (3, "after 3 replies (converged)")):
        found = [barge_in_delay(EchoCanceller, delay, clip, warm=warm) for delay in (40, 70, 120) for clip in CLIPS]
        times = sorted(t for t in found if t is not None and t >= 0)
        missed = len(found) - len(times)
        print(f"barge-in at 0 dB, {label}: median {np.median(times):.2f} s, max {max(times):.2f} s, "
              f"{sum(t <= 0.5 for t in times)}/{len(found)} within 0.5 s, {missed} missed or early")
    double_talk_words()


def double_talk_words() -> None:
    """A person at the echo's level from 4 s on, over a reply that keeps playing (70 ms room)."""
    from audio.speech.engines import Recognizer
    from tests.echo.offline import CLIPS
    from tests.echo.room import librivox_words
    from tests.real_speech import normalize_words

    recognizer = Recognizer.load()
    if recognizer is None:
        print("double talk: offline recognition is not installed")
        return
    voice = assistant_voice("The weather today is sunny with a light breeze from the west. Tomorrow brings rain.", 48_000)
    far = np.tile(voice, 4)[: 14 * 48_000]
    echo = Room(48_000, delay_ms=70).echo(far)
    echo_rms = np.sqrt(np.mean(echo[np.abs(echo) > 0.01 * np.abs(echo).max()] ** 2))
    totals = {"alone": 0, "microphone, no cancellation": 0, "aec": 0}
    words_total = 0
    for clip in CLIPS:
        reader = librivox(clip, 48_000).astype(np.float64)
        at = 4 * 48_000
        near = np.zeros(far.shape[0])
        length = min(reader.shape[0], far.shape[0] - at)
        near[at : at + length] = (reader * echo_rms / np.sqrt(np.mean(reader**2)))[:length]
        raw = Room(48_000, delay_ms=70).microphone(far, near)
        canceller = EchoCanceller()
        canceller.attach_speaker()
        blocks = []
        for i in range(0, far.shape[0], 960):
            canceller.note_played(far[i : i + 960].reshape(-1, 1), 48_000)
            blocks.append(canceller.process(raw[i : i + 960].reshape(-1, 1), 48_000).reshape(-1))
        cleaned = np.concatenate(blocks)
        words = set(normalize_words(" ".join(librivox_words(clip))))
        words_total += len(words)
        span = slice(at - 48_000 // 4, at + length + 48_000 // 4)
        for name, signal in (("alone", near), ("microphone, no cancellation", raw), ("aec", cleaned)):
            pcm = np.clip(signal[span], -32768, 32767).astype(np.int16)
            totals[name] += len(words & set(normalize_words(recognizer.recognize(resample(pcm, 48_000, 16_000)))))
    recognizer.close()
    print(f"double talk at 0 dB over a reply that keeps playing, words recognised of {words_total}: "
          + ", ".join(f"{name} {count}" for name, count in totals.items()))


if __name__ == "__main__":
    main()
