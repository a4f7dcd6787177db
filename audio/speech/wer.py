"""Word error rate: how many words a recogniser got wrong, after English normalisation.

Both texts go through :func:`~audio.speech.english_normalizer.normalize_english`
first, so "10 of clubs." and "ten of clubs" are the same words. The speech
tests bound Whisper's accuracy with it, and ``voxflow test`` bounds what the
service heard of a scenario's caller (``expect: transcript: {max_wer: ...}``).
"""

from __future__ import annotations

from audio.speech.english_normalizer import normalize_english


def word_errors(hypothesis: str, reference: str) -> tuple[int, int]:
    """(edit distance in words, reference length): WER = errors / length."""
    hyp, ref = normalize_english(hypothesis), normalize_english(reference)
    previous = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        current = [i] + [0] * len(hyp)
        for j, other in enumerate(hyp, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (word != other))
        previous = current
    return previous[-1], len(ref)


def word_error_rate(hypothesis: str, reference: str) -> float:
    """Word errors per reference word (0 is perfect; above 1 when the hypothesis adds many words)."""
    errors, length = word_errors(hypothesis, reference)
    return errors / max(1, length)
