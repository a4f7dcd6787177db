"""A bounded pool of recogniser worker processes, shared fairly by every call of the process.

Why processes: recognition keeps a core busy for a fraction of a second per
turn, which in the server's own process would stall the event loop and every
audio stream paced on it (see ``recognizer_worker.py``). Why a pool: several
calls at once. It is bounded so a burst of turns queues instead of
overloading the machine: by default one process (one copy of the model) with
one decoding *slot* per core, so two calls' turns are decoded at once instead
of one after the other, and each slot with two threads, so a lone turn keeps
its pace on a machine that other processes load (``settings.py`` says why,
BENCHMARKS.md has the figures).

How a turn runs: it is cut into windows of at most ``LONGEST_WINDOW_S`` at
its quietest moments, and each window is a job in a :class:`FairQueue` owned
by the turn's call, so one call's long turn cannot hold the workers while
another call's short turn waits behind all of it. Each window's words come
back as soon as it is decoded (the server sends them as a transcription
delta) and the next window is prompted with them, as Whisper continues long
audio.

Failure: each slot of a worker has a thread that feeds it; when the process
dies (or hangs past ``deadline``), the jobs of all its slots fail with
:class:`RecognitionFailed`, their turns end as failed, and the worker is
started again, once. A worker that cannot be started fails the jobs it takes
instead of leaving them queued, and retries every few seconds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from audio.speech.fair_queue import FairQueue
from audio.speech.recognizer_worker import read_message, write_message
from audio.speech.settings import EngineName

logger = logging.getLogger("voxflow.realtime.server")

RATE = 16_000
LONGEST_WINDOW_S = 15.0
SHORTEST_WINDOW_S = 8.0
RESTART_DELAY_S = 5.0
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


class RecognitionFailed(Exception):
    """A window could not be recognised: its worker died, hung or could not be started."""


class WorkerStartError(Exception):
    """A worker said why it could not load its recogniser (one line)."""


@dataclass(frozen=True)
class WorkerCommand:
    """How to start one worker: its engine and, for Whisper, the model folder, its decoding slots and their threads."""

    engine: EngineName
    model_dir: Path | None = None
    threads: int = 1
    slots: int = 1

    def argv(self) -> list[str]:
        argv = [sys.executable, "-m", "audio.speech.recognizer_worker", self.engine, "--threads", str(self.threads),
                "--slots", str(self.slots)]
        return argv + (["--model-dir", str(self.model_dir)] if self.model_dir is not None else [])


@dataclass
class Piece:
    """The words of one window, as soon as it is decoded."""

    text: str
    logprobs: list[dict[str, Any]] | None


@dataclass
class Recognition:
    """A whole turn: its words, and what it cost (for the server's log)."""

    text: str
    logprobs: list[dict[str, Any]] | None
    audio_seconds: float
    cpu_seconds: float
    queued_seconds: float
    windows: int


@dataclass
class _Job:
    owner: object
    audio: np.ndarray
    options: dict[str, Any]
    future: concurrent.futures.Future[dict[str, Any]] = field(default_factory=concurrent.futures.Future)
    queued_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None


def windows(pcm: np.ndarray, rate: int = RATE, longest_s: float = LONGEST_WINDOW_S,
            shortest_s: float = SHORTEST_WINDOW_S) -> list[np.ndarray]:
    """A turn cut into windows of at most ``longest_s``, each cut at the quietest 100 ms after ``shortest_s``."""
    parts: list[np.ndarray] = []
    rest = np.asarray(pcm, dtype=np.int16)
    step = rate // 10
    while len(rest) > longest_s * rate:
        first, last = int(shortest_s * rate) // step, int(longest_s * rate) // step
        frames = rest[first * step:last * step].astype(np.float64).reshape(-1, step)
        quietest = first + int(np.argmin(np.mean(np.square(frames), axis=1)))
        cut = quietest * step + step // 2
        parts.append(rest[:cut])
        rest = rest[cut:]
    parts.append(rest)
    return parts


class _Channel:
    """One worker process's pipes: requests go out tagged with an id, a reader thread matches the answers.

    When the process ends, every request still waiting is answered ``None``.
    """

    def __init__(self, process: subprocess.Popen[bytes], name: str) -> None:
        self.process = process
        self._writing = threading.Lock()
        self._table = threading.Lock()
        self._waiting: dict[int, concurrent.futures.Future[dict[str, Any] | None]] = {}
        self._ids = itertools.count()
        self._ended = False
        self._reader = threading.Thread(target=self._read, name=f"{name}-answers", daemon=True)
        self._reader.start()

    @property
    def in_flight(self) -> int:
        """Windows sent to this process and not answered yet."""
        with self._table:
            return len(self._waiting)

    def ask(self, options: dict[str, Any], audio: np.ndarray) -> concurrent.futures.Future[dict[str, Any] | None]:
        reply: concurrent.futures.Future[dict[str, Any] | None] = concurrent.futures.Future()
        with self._table:
            if self._ended:
                reply.set_result(None)
                return reply
            key = next(self._ids)
            self._waiting[key] = reply
        stdin = self.process.stdin
        assert stdin is not None
        try:
            with self._writing:
                write_message(stdin, json.dumps({**options, "id": key}).encode("utf-8"))
                write_message(stdin, np.ascontiguousarray(audio, dtype=np.int16).tobytes())
        except (BrokenPipeError, OSError, ValueError):
            with self._table:
                self._waiting.pop(key, None)
            if not reply.done():
                reply.set_result(None)
        return reply

    def _read(self) -> None:
        stdout = self.process.stdout
        assert stdout is not None
        try:
            while (message := read_message(stdout)) is not None:
                answer: dict[str, Any] = json.loads(message)
                with self._table:
                    reply = self._waiting.pop(int(answer.pop("id", -1)), None)
                if reply is not None:
                    reply.set_result(answer)
        except (OSError, ValueError):
            pass
        finally:
            with self._table:
                self._ended = True
                waiting, self._waiting = list(self._waiting.values()), {}
            for reply in waiting:
                reply.set_result(None)

    def join(self, timeout: float) -> None:
        if self._reader is not threading.current_thread():
            self._reader.join(timeout)


class _Worker:
    """One worker process with ``slots`` decoding slots, each fed jobs from the pool's queue by a thread.

    The slots share the process: when it dies every window in it fails, and the
    first slot to notice starts it again (one restart, not one per slot).
    """

    def __init__(self, pool: RecognizerPool, index: int) -> None:
        self._pool = pool
        self.index = index
        self.channel: _Channel | None = None
        self._facts: dict[str, Any] = {}
        self._spawning = threading.Lock()
        self._threads = [threading.Thread(target=self._run, name=f"recognizer-{index}.{slot}", daemon=True)
                         for slot in range(max(1, pool.command.slots))]

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        return self.channel.process if self.channel is not None else None

    @property
    def facts(self) -> dict[str, Any]:
        """What the worker said when it was last ready (kept while it is being started again)."""
        return self._facts

    @property
    def in_flight(self) -> int:
        return self.channel.in_flight if self.channel is not None else 0

    def spawn(self) -> None:
        """Start the process and wait until its model is loaded (WorkerStartError with its reason if not)."""
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            filter(None, [str(PACKAGE_ROOT), os.environ.get("PYTHONPATH")]))}
        # its own process group: a terminal's Ctrl-C is the parent's to handle (it closes the worker's
        # input, the worker's signal to exit), not a crash to restart the worker for while shutting down
        process = subprocess.Popen(self._pool.command.argv(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, env=env, process_group=0)
        assert process.stdout is not None
        hello = read_message(process.stdout)
        answer: dict[str, Any] = json.loads(hello) if hello else {}
        if not answer.get("ready"):
            _end(process)
            raise WorkerStartError(answer.get("error") or f"the worker exited with status {process.poll()}")
        self.channel = _Channel(process, f"recognizer-{self.index}")
        self._facts = answer

    def start_threads(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self, timeout: float) -> None:
        for thread in self._threads:
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join(timeout)
        if self.channel is not None:
            self.channel.join(timeout)

    def _run(self) -> None:
        while True:
            job = self._pool.next_job()
            if job is None:  # the pool closed (maybe while this thread was starting a new process)
                self.close()
                return
            channel = self._alive()
            if channel is None:
                job.future.set_exception(RecognitionFailed("the recognition worker could not be started"))
                continue
            try:
                job.future.set_result(self._ask(channel, job))
            except RecognitionFailed as error:
                job.future.set_exception(error)
                self._alive(str(error))  # started again now, not when the next window comes

    def _alive(self, reason: str = "") -> _Channel | None:
        """The running process's channel, after starting it again if it ended (None if it cannot start)."""
        with self._spawning:
            channel = self.channel
            if channel is None or channel.process.poll() is not None:
                why = reason or (f"exited with status {channel.process.poll()}" if channel else "not running")
                self._restart(why)
            return self.channel

    def _ask(self, channel: _Channel, job: _Job) -> dict[str, Any]:
        job.started_at = time.monotonic()
        limit = self._pool.deadline(len(job.audio) / RATE)
        watchdog = threading.Timer(limit, channel.process.kill)
        watchdog.daemon = True
        watchdog.start()
        try:
            answer = channel.ask(job.options, job.audio).result()
        finally:
            watchdog.cancel()
        if answer is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                channel.process.wait(timeout=2)
            status = channel.process.poll()
            why = "hung and was stopped" if status is not None and status < 0 and time.monotonic() - \
                job.started_at >= limit else f"stopped (exit status {status})"
            raise RecognitionFailed(f"the recognition worker {why}")
        if "error" in answer:
            raise RecognitionFailed(f"the recogniser failed on this audio ({answer['error']})")
        return answer

    def _restart(self, reason: str) -> None:
        """Replace a dead process; on failure, leave none (jobs then fail fast) and retry on the next job."""
        if self.channel is not None:
            _end(self.channel.process)
            self.channel = None
        if self._pool.closed:
            return
        now = time.monotonic()
        if now < self._pool.next_restart_at.get(self.index, 0.0):
            return
        logger.warning("speech recognition worker %d ended (%s); starting it again", self.index, reason)
        try:
            self.spawn()
        except (WorkerStartError, OSError) as error:
            self._pool.next_restart_at[self.index] = now + RESTART_DELAY_S
            logger.error("speech recognition worker %d could not be started again: %s", self.index, error)

    def close(self) -> None:
        channel = self.channel
        if channel is not None:
            _end(channel.process)


def _end(process: subprocess.Popen[bytes]) -> None:
    """Close its input (the worker's signal to exit); kill it if it does not."""
    if process.poll() is None:
        with contextlib.suppress(OSError, ValueError):
            assert process.stdin is not None
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    for stream in (process.stdin, process.stdout):
        with contextlib.suppress(OSError, ValueError):
            if stream is not None:
                stream.close()


class RecognizerPool:
    """``workers`` recogniser processes behind one fair queue; :meth:`start` loads them all (blocking)."""

    def __init__(self, command: WorkerCommand, workers: int) -> None:
        self.command = command
        self.closed = False
        self.next_restart_at: dict[int, float] = {}
        self._queue: FairQueue[_Job] = FairQueue()
        self._lock = threading.Condition()
        self._workers = [_Worker(self, index) for index in range(max(1, workers))]

    @classmethod
    def start(cls, command: WorkerCommand, workers: int) -> RecognizerPool:
        """Start every worker and wait for its model (WorkerStartError with the first one's reason)."""
        pool = cls(command, workers)
        try:
            for worker in pool._workers:
                worker.spawn()
        except BaseException:
            pool.close()
            raise
        for worker in pool._workers:
            worker.start_threads()
        return pool

    @property
    def multilingual(self) -> bool:
        return bool(self._workers[0].facts.get("multilingual"))

    @property
    def size(self) -> int:
        return len(self._workers)

    @property
    def slots(self) -> int:
        """Windows each worker process decodes at the same time."""
        return max(1, self.command.slots)

    def worker_pids(self) -> list[int]:
        return [w.process.pid for w in self._workers if w.process is not None and w.process.poll() is None]

    def busy_pids(self) -> list[int]:
        """Workers in the middle of a window (a test kills one to see the turn fail)."""
        return [w.process.pid for w in self._workers if w.in_flight and w.process is not None]

    def windows_in_flight(self) -> int:
        """Windows being decoded now, over every worker's slots (a test waits for two at once)."""
        return sum(worker.in_flight for worker in self._workers)

    def deadline(self, seconds: float) -> float:
        """How long a window may take before its worker is deemed hung.

        Generous: on a machine loaded 5x (other processes), pocketsphinx took
        over 30 s + 4 s per audio second on noisy 7 s clips and was stopped
        while still working. Whisper needs ~0.1 s per audio second.
        """
        return 60.0 + 10.0 * seconds

    # -- the queue (called by worker threads) ----------------------------------------
    def next_job(self) -> _Job | None:
        """Block until a job is due (skipping cancelled ones); None once the pool is closed."""
        with self._lock:
            while True:
                if self.closed:
                    return None
                job = self._queue.take()
                if job is None:
                    self._lock.wait()
                elif job.future.set_running_or_notify_cancel():
                    return job

    def _submit(self, owner: object, audio: np.ndarray, options: dict[str, Any]) -> _Job:
        job = _Job(owner, audio, options)
        with self._lock:
            if self.closed:
                raise RecognitionFailed("speech recognition has stopped")
            self._queue.put(owner, job, len(audio) / RATE)
            self._lock.notify()
        return job

    def forget(self, owner: object) -> None:
        """A call ended: its queued windows are dropped."""
        with self._lock:
            for job in self._queue.remove_owner(owner):
                job.future.cancel()

    # -- recognising ----------------------------------------------------------------
    async def recognize(self, pcm16k: np.ndarray, *, owner: object = None, language: str | None = None,
                        prompt: str | None = None, logprobs: bool = False,
                        on_piece: Callable[[Piece], None] | None = None) -> Recognition:
        """A turn's words, window by window (``on_piece`` hears each); RecognitionFailed if a worker dies."""
        texts: list[str] = []
        probabilities: list[dict[str, Any]] = []
        cpu = queued = 0.0
        parts = windows(pcm16k)
        for part in parts:
            context = " ".join(filter(None, [prompt, *texts])) or None
            job = self._submit(owner if owner is not None else id(pcm16k), part,
                               {"language": language, "prompt": context, "logprobs": logprobs})
            answer = await asyncio.wrap_future(job.future)
            cpu += float(answer.get("cpu") or 0.0)
            queued += (job.started_at or job.queued_at) - job.queued_at
            text = str(answer.get("text") or "").strip()
            chunk = answer.get("logprobs") if logprobs else None
            if text:
                piece = Piece(text if not texts else " " + text, chunk)
                texts.append(text)
                probabilities.extend(chunk or [])
                if on_piece is not None:
                    on_piece(piece)
        return Recognition(" ".join(texts), probabilities if logprobs else None, len(pcm16k) / RATE, cpu, queued,
                           len(parts))

    def recognize_blocking(self, pcm16k: np.ndarray, **options: Any) -> str:
        """The words of 16 kHz mono int16 audio, from a thread with no event loop (tools, benchmarks)."""
        return asyncio.run(self.recognize(pcm16k, **options)).text

    def close(self) -> None:
        """Stop every worker (closing its input ends it) and their threads."""
        with self._lock:
            self.closed = True
            dropped = self._drain()
            self._lock.notify_all()
        for job in dropped:
            job.future.cancel()
        for worker in self._workers:
            worker.close()
        for worker in self._workers:
            worker.join(5)

    def _drain(self) -> Iterator[_Job]:
        jobs = []
        while (job := self._queue.take()) is not None:
            jobs.append(job)
        return iter(jobs)
