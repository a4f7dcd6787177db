"""Which recogniser the local server runs, and how many of it: plain values, cheap to import.

``whisper`` (the default): tiny.en bundled by the ``local`` extra, or any
CTranslate2 Whisper folder given as ``model_dir``. ``pocketsphinx``: the
small fallback (English only, far less accurate, see BENCHMARKS.md).
``workers`` 0 means one worker process per two cores; ``threads`` 0 means
the cores shared out between the workers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from audio.base.errors import VoxflowError

EngineName = Literal["whisper", "pocketsphinx"]
ENGINES: tuple[EngineName, ...] = ("whisper", "pocketsphinx")


@dataclass(frozen=True)
class RecognizerSettings:
    engine: EngineName = "whisper"
    model_dir: Path | None = None
    workers: int = 0
    threads: int = 0

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise VoxflowError(f"Unknown recogniser {self.engine!r}.", hint="Use whisper or pocketsphinx.")
        if self.model_dir is not None and self.engine != "whisper":
            raise VoxflowError("--model-dir is a Whisper model folder; it needs --recognizer whisper.")
        if self.workers < 0 or self.threads < 0:
            raise VoxflowError("The recogniser's worker and thread counts cannot be negative.")

    def worker_count(self) -> int:
        return self.workers or max(1, (os.cpu_count() or 2) // 2)

    def thread_count(self) -> int:
        return self.threads or max(1, (os.cpu_count() or 2) // self.worker_count())
