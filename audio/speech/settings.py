"""Which recogniser the local server runs, and how many of it: plain values, cheap to import.

``whisper`` (the default): tiny.en bundled by the ``local`` extra, or any
CTranslate2 Whisper folder given as ``model_dir``. ``pocketsphinx``: the
small fallback (English only, far less accurate, see BENCHMARKS.md).
How many: ``workers`` processes (0: one, so the model is loaded once), each
with ``slots`` decodings at a time (0: the cores shared out between the
workers, so two on 2 cores), each on ``threads`` CTranslate2 threads (0: the
cores of its worker, at most ``MAX_DEFAULT_THREADS``: a lone turn may use
them all, turns decoded at once share them). On this shared 2-core machine
one process with two slots of two threads each was the only setting that
held both targets when other processes loaded it (load average 4-10):
single-threaded slots were fastest with one core busy and nothing else, but
a one-thread slot gets one scheduler share among many runnable threads, and
its lone turn took 0.5-1.3 s then (BENCHMARKS.md, "Latency and
concurrency"). pocketsphinx always has one slot per process (its search
holds the GIL).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from audio.base.errors import VoxflowError

EngineName = Literal["whisper", "pocketsphinx"]
ENGINES: tuple[EngineName, ...] = ("whisper", "pocketsphinx")
MAX_DEFAULT_THREADS = 2  # measured on 2 cores only; more slots, not more threads, is how more cores are used


@dataclass(frozen=True)
class RecognizerSettings:
    engine: EngineName = "whisper"
    model_dir: Path | None = None
    workers: int = 0
    threads: int = 0
    slots: int = 0

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise VoxflowError(f"Unknown recogniser {self.engine!r}.", hint="Use whisper or pocketsphinx.")
        if self.model_dir is not None and self.engine != "whisper":
            raise VoxflowError("--model-dir is a Whisper model folder; it needs --recognizer whisper.")
        if self.workers < 0 or self.threads < 0 or self.slots < 0:
            raise VoxflowError("The recogniser's worker, slot and thread counts cannot be negative.")

    def worker_count(self) -> int:
        return self.workers or 1

    def slot_count(self) -> int:
        if self.engine == "pocketsphinx":
            return 1
        return self.slots or max(1, _cores() // self.worker_count())

    def thread_count(self) -> int:
        return self.threads or max(1, min(MAX_DEFAULT_THREADS, _cores() // self.worker_count()))


def _cores() -> int:
    return os.cpu_count() or 2
