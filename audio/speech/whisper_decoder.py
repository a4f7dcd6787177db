"""Whisper on one window of a turn: CTranslate2 (int8) with a context sized to the audio.

This runs inside a recogniser worker process (``recognizer_worker.py``).
faster-whisper's own ``transcribe`` pads every window to 30 s, so a 2 s turn
cost as much as a 30 s one (0.5 s CPU). The encoder accepts shorter input, so
here the audio is padded with silence only to ``MIN_CONTEXT_S`` (10 s) and the
mel features cover that: 0.07 s CPU per audio second instead of 0.23
(BENCHMARKS.md). Padding the *features* with zeros instead of the audio with
silence made tiny.en repeat itself and lose words in noise; contexts under
10 s made it loop ("10 of clubs 10 of clubs ..."). Two more guards against
loops: a repetition penalty of 1.1 and a token budget set by the duration.
Decoding is a beam search of 5 without timestamps (greedy saved ~20 ms of a
3 s turn but doubled the clean WER, 4.4 -> 9.9 %; a beam of 2 lost words on
the phone band); a window that Whisper itself calls silence (no-speech
probability > 0.6 and a low average log probability, faster-whisper's rule)
gives no words.

Per-token log probabilities (the service's ``logprobs``) come from the
decoder's own logits (``return_logits_vocab``), only when asked; CTranslate2
gives them for greedy decoding only, so a turn that asks is decoded greedily
(7.7 % WER on the clean clips instead of 3.3 %).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SAMPLE_RATE = 16_000
MIN_CONTEXT_S = 10
MAX_WINDOW_S = 30
NO_SPEECH_PROBABILITY = 0.6
LOW_AVERAGE_LOGPROB = -1.0
BEAM_SIZE = 5  # Whisper's own default: 3.3 % WER on the clean clips vs 7.7 % greedy (BENCHMARKS.md), ~10 % more CPU
REPETITION_PENALTY = 1.1  # stopped "Where is the train station? Where is the train station?" ("five five" stays)
PROMPT_TOKENS = 223  # Whisper's limit for the previous-text prompt (half its 448-token context)


@dataclass
class Decoded:
    """What one window said, with each token's log probability when asked."""

    text: str
    logprobs: list[dict[str, Any]] = field(default_factory=list)
    tokens: int = 0


class WhisperDecoder:
    """A CTranslate2 Whisper model loaded from a folder (int8 on the CPU).

    ``slots`` decodings may run at once, from as many threads (CTranslate2
    replicas sharing the one copy of the weights), each on ``threads`` threads.
    """

    def __init__(self, folder: str, threads: int, slots: int = 1) -> None:
        from faster_whisper import WhisperModel

        self._whisper = WhisperModel(folder, device="cpu", compute_type="int8", cpu_threads=threads,
                                     num_workers=slots, local_files_only=True)
        self.multilingual = bool(self._whisper.model.is_multilingual)

    def slots_in_use(self) -> tuple[int, int]:
        """(windows being decoded now, windows waiting for a free slot), as CTranslate2 counts them."""
        model = self._whisper.model
        waiting = int(model.num_queued_batches)
        return int(model.num_active_batches) - waiting, waiting

    def decode(self, pcm: np.ndarray, *, language: str | None = None, prompt: str | None = None,
               logprobs: bool = False) -> Decoded:
        """Words in up to 30 s of 16 kHz mono int16 audio."""
        import ctranslate2
        from faster_whisper.tokenizer import Tokenizer

        audio = np.asarray(pcm, dtype=np.int16)[: MAX_WINDOW_S * SAMPLE_RATE].astype(np.float32) / 32768
        if len(audio) < SAMPLE_RATE // 10:
            return Decoded("")
        extractor = self._whisper.feature_extractor
        silence = max(0, MIN_CONTEXT_S * SAMPLE_RATE - len(audio))  # real silence, not zero features
        features = extractor(np.concatenate([audio, np.zeros(silence, np.float32)]), padding=0)
        context = min(extractor.nb_max_frames, features.shape[-1])
        features = features[:, :context]
        tokenizer = Tokenizer(self._whisper.hf_tokenizer, self.multilingual, task="transcribe",
                              language=(language or "en") if self.multilingual else None)
        start: list[int] = []
        if prompt and prompt.strip():
            start = [tokenizer.sot_prev, *tokenizer.encode(" " + prompt.strip())[-PROMPT_TOKENS:]]
        start += [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        seconds = len(audio) / SAMPLE_RATE
        result = self._whisper.model.generate(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None], dtype=np.float32)), [start],
            beam_size=1 if logprobs else BEAM_SIZE, max_length=len(start) + min(224, 12 + int(8 * seconds)), return_scores=True,
            return_no_speech_prob=True, return_logits_vocab=logprobs, suppress_blank=True, suppress_tokens=[-1],
            repetition_penalty=REPETITION_PENALTY,
        )[0]
        ids = [token for token in result.sequences_ids[0] if token < tokenizer.eot]
        average = result.scores[0] if result.scores else 0.0
        if result.no_speech_prob > NO_SPEECH_PROBABILITY and average < LOW_AVERAGE_LOGPROB:
            return Decoded("")
        text = tokenizer.decode(ids).strip()
        probabilities: list[dict[str, Any]] = []
        if logprobs and ids:
            for token, logits in zip(ids, result.logits[0], strict=False):
                row = np.asarray(logits, dtype=np.float64)
                top = float(row.max())
                logprob = float(row[token] - top - np.log(np.exp(row - top).sum()))
                piece = tokenizer.decode([token])
                probabilities.append({"token": piece, "logprob": round(logprob, 6),
                                      "bytes": list(piece.encode("utf-8"))})
        return Decoded(text, probabilities, len(ids))
