"""Whisper in the local server: real words, streamed transcripts, model checks, fair sharing, dead workers.

Transcripts are compared after ``audio/speech/english_normalizer.py`` (Whisper's
spelling conventions: "7 of clubs." is "seven of clubs"). Tests that start
recogniser processes or a server are marked slow.
"""

from __future__ import annotations

import asyncio
import re
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audio.server import LocalRealtimeServer, ServerConfig
from audio.speech.engines import Recognizer, SpeechEngines
from audio.speech.fair_queue import FairQueue
from audio.speech.recognizer_pool import RecognitionFailed, RecognizerPool, WorkerCommand, windows
from audio.speech.settings import RecognizerSettings
from audio.speech.whisper_decoder import WhisperDecoder
from audio.speech.whisper_model import BUNDLED_SHA256, ModelError, ModelFolder
from tests.checkout import checkout_env
from tests.real_speech import CARDS, LIBRIVOX, decode, degrade, normalize_words, silence, word_errors
from tests.realtime_server.sdk_ws import Recorder, sdk

ROOT = Path(__file__).resolve().parents[2]
DEMO_WAV = ROOT / "flows" / "audio" / "demo-user.wav"
DEMO_SENTENCES = "How are you today? What is the weather forecast for tomorrow? Where is the train station?"
MANUAL = {"type": "realtime", "audio": {"input": {"turn_detection": None,
                                                  "transcription": {"model": "gpt-4o-transcribe"}}}}


def wer(heard: list[str], clips: tuple[Any, ...]) -> float:
    errors = words = 0
    for text, clip in zip(heard, clips, strict=True):
        e, n = word_errors(text, clip.words)
        errors, words = errors + e, words + n
    return errors / words


# -- pure parts -----------------------------------------------------------------------

def test_a_short_turn_of_another_call_goes_before_a_queued_long_one() -> None:
    queue: FairQueue[str] = FairQueue()
    queue.put("a", "a-long", 15.0)
    queue.put("a", "a-long-2", 15.0)
    queue.put("b", "b-short", 2.0)
    assert queue.take() == "b-short"  # queued last, served first: its finish tag is earliest
    assert [queue.take(), queue.take(), queue.take()] == ["a-long", "a-long-2", None]


def test_calls_with_many_turns_take_turns_and_an_idle_call_banks_no_credit() -> None:
    queue: FairQueue[str] = FairQueue()
    for index in range(3):
        queue.put("busy", f"busy-{index}", 3.0)
    queue.put("other", "other-0", 3.0)
    queue.put("other", "other-1", 3.0)
    order = [queue.take() for _ in range(5)]
    assert order.index("other-0") <= 1 and order.index("other-1") <= 3  # interleaved, not after all of busy's
    for index in range(4):  # "late" was idle meanwhile: it joins at the current virtual time, not ahead of it
        queue.put("busy", f"busy-late-{index}", 3.0)
    queue.put("late", "late-0", 3.0)
    queue.put("late", "late-1", 3.0)
    order = [queue.take() for _ in range(6)]
    assert order.index("late-0") <= 1 and order.index("late-1") <= 3
    queue.put("gone", "gone-0", 1.0)
    assert queue.remove_owner("gone") == ["gone-0"] and queue.take() is None


def test_long_turns_are_cut_at_pauses_into_windows_of_at_most_15_seconds() -> None:
    speech = np.concatenate([clip.load() for clip in LIBRIVOX] * 2)  # ~49 s of a reader, with her pauses
    parts = windows(speech)
    assert np.array_equal(np.concatenate(parts), speech)
    assert len(parts) >= 4 and all(8 * 16_000 <= len(part) <= 15 * 16_000 for part in parts[:-1])
    for left in parts[:-1]:  # each cut is in a quiet moment: quieter than the window's speech on average
        edge = left[-800:].astype(np.float64)
        assert np.sqrt(np.mean(edge ** 2)) < 0.5 * np.sqrt(np.mean(left.astype(np.float64) ** 2))
    assert len(windows(speech[: 15 * 16_000])) == 1


def test_a_damaged_bundled_model_is_refused_in_one_line(tmp_path: Path) -> None:
    copy = tmp_path / "model"
    shutil.copytree(ModelFolder.bundled().path, copy)
    assert ModelFolder(copy, BUNDLED_SHA256).verify() == copy  # an intact copy passes the bundled pin
    with (copy / "model.bin").open("r+b") as model:
        model.seek(40_000_000)
        byte = model.read(1)
        model.seek(40_000_000)
        model.write(bytes([byte[0] ^ 0xFF]))  # one flipped byte in the weights: CTranslate2 would load it
    with pytest.raises(ModelError) as refused:
        ModelFolder(copy, BUNDLED_SHA256, fix="reinstall").verify()
    assert "corrupt" in str(refused.value) and "\n" not in str(refused.value)


def test_two_slots_of_one_loaded_model_decode_two_windows_at_the_same_time() -> None:
    decoder = WhisperDecoder(str(ModelFolder.bundled().path), threads=1, slots=2)
    clip = LIBRIVOX[0].load()
    seen: set[tuple[int, int]] = set()
    texts: list[str] = []
    decoding = [threading.Thread(target=lambda: texts.append(decoder.decode(clip).text)) for _ in range(2)]
    for thread in decoding:
        thread.start()
    while any(thread.is_alive() for thread in decoding):
        seen.add(decoder.slots_in_use())  # (decoding now, waiting for a slot)
        time.sleep(0.001)
    assert (2, 0) in seen, seen  # one slot would show (1, 1): the second window waiting
    assert len(texts) == 2 and texts[0] == texts[1] and texts[0].startswith("And Mr. John Dashwood")


def test_the_default_is_one_process_with_a_slot_per_core_each_of_two_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    default = RecognizerSettings()
    assert (default.worker_count(), default.slot_count(), default.thread_count()) == (1, 2, 2)
    two = RecognizerSettings(workers=2)  # the cores shared out: one single-threaded slot each
    assert (two.worker_count(), two.slot_count(), two.thread_count()) == (2, 1, 1)
    assert RecognizerSettings(slots=1, threads=1).thread_count() == 1
    assert RecognizerSettings("pocketsphinx").slot_count() == 1  # one search at a time per process
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    assert (default.worker_count(), default.slot_count(), default.thread_count()) == (1, 8, 2)


# -- the recogniser -------------------------------------------------------------------

@pytest.fixture(scope="module")
def speech() -> SpeechEngines:
    engines = SpeechEngines.shared()
    assert engines.recognizer is not None and engines.recognizer.name.startswith("whisper"), \
        "Whisper is part of the 'local' extra the tests install"
    return engines


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_two_slots_take_two_calls_windows_at_once_and_a_killed_worker_fails_both_and_restarts_once() -> None:
    pool = RecognizerPool.start(WorkerCommand("whisper", ModelFolder.bundled().path, threads=1, slots=2), 1)
    try:
        clip = LIBRIVOX[0].load()
        await pool.recognize(clip)  # warm
        # each worker leads its own process group: a terminal's Ctrl-C reaches voxflow, which closes it, not the worker
        assert [os.getpgid(pid) for pid in pool.worker_pids()] == pool.worker_pids()

        async def timed(owner: str) -> tuple[Any, float]:
            started = time.perf_counter()
            heard = await pool.recognize(clip, owner=owner)
            return heard, time.perf_counter() - started

        (first, took_first), (second, took_second) = await asyncio.gather(timed("a"), timed("b"))
        assert first.text == second.text and first.text.startswith("And Mr. John Dashwood")
        # neither call's window waited for the other's (one slot: the second queues for the whole first window)
        assert max(first.queued_seconds, second.queued_seconds) < 0.25 * min(took_first, took_second), \
            (first.queued_seconds, second.queued_seconds, took_first, took_second)

        long_turn = np.concatenate([clip] * 2)  # ~14 s, one window each: both slots busy for a while
        turns = [asyncio.ensure_future(pool.recognize(long_turn, owner=owner)) for owner in ("a", "b")]
        deadline = time.monotonic() + 30
        while pool.windows_in_flight() < 2:
            assert time.monotonic() < deadline and not any(turn.done() for turn in turns)
            await asyncio.sleep(0.005)
        [killed] = pool.busy_pids()
        os.kill(killed, signal.SIGKILL)
        outcomes = await asyncio.gather(*turns, return_exceptions=True)
        assert all(isinstance(outcome, RecognitionFailed) for outcome in outcomes), outcomes
        heard = await pool.recognize(CARDS[2].load())  # the restarted worker hears the next turn
        assert normalize_words(heard.text) == normalize_words("seven of clubs")
        assert len(pool.worker_pids()) == 1 and killed not in pool.worker_pids()
    finally:
        pool.close()
    assert pool.worker_pids() == []


@pytest.mark.slow
async def test_the_demo_sentences_are_transcribed_exactly(speech: SpeechEngines) -> None:
    pieces: list[str] = []
    heard = await speech.recognize(decode(DEMO_WAV, 16_000), on_piece=lambda piece: pieces.append(piece.text))
    assert heard is not None and heard.windows == 2  # 19.5 s: two windows, cut between sentences
    assert normalize_words(heard.text) == normalize_words(DEMO_SENTENCES), heard.text
    assert "".join(pieces) == heard.text and len(pieces) == 2


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_real_recordings_are_heard_within_the_word_error_bounds(speech: SpeechEngines) -> None:
    clips = LIBRIVOX + CARDS  # every pocketsphinx-testdata clip with a reference text
    clean = [await speech.transcribe(clip.load(), clip.rate) for clip in clips]
    phone = [await speech.transcribe(degrade(clip.load(), clip.rate, phone=True), 8_000) for clip in clips]
    assert wer(clean, clips) <= 0.08, clean  # measured 3.3 % (BENCHMARKS.md)
    assert wer(phone, clips) <= 0.15, phone  # measured 7.7 %
    assert any(ch.isupper() for ch in clean[0]) and clean[0].rstrip().endswith(".")  # casing and punctuation kept


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_model_dir_loads_any_whisper_folder_and_checks_its_sums(tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    shutil.copytree(ModelFolder.bundled().path, folder)
    (folder / "SHA256SUMS").write_text(f"{BUNDLED_SHA256}  model.bin\n")
    recognizer = Recognizer.load(RecognizerSettings(model_dir=folder, workers=1))
    assert recognizer is not None
    try:
        clip = LIBRIVOX[4]  # "he might even have been made amiable himself"
        assert normalize_words(recognizer.recognize(clip.load())) == normalize_words(clip.words)
    finally:
        recognizer.close()
    (folder / "SHA256SUMS").write_text(f"{'0' * 64}  model.bin\n")
    with pytest.raises(ModelError) as mismatch:
        Recognizer.load(RecognizerSettings(model_dir=folder, workers=1))
    assert "corrupt" in str(mismatch.value) and "\n" not in str(mismatch.value)
    (folder / "SHA256SUMS").unlink()
    with (folder / "model.bin").open("r+b") as model:
        model.truncate(1_000_000)  # a cut-off download: CTranslate2 itself cannot read it
    with pytest.raises(ModelError) as unreadable:
        Recognizer.load(RecognizerSettings(model_dir=folder, workers=1))
    assert "cannot be loaded" in str(unreadable.value) and "\n" not in str(unreadable.value)


@pytest.mark.slow
@pytest.mark.timeout(150)
def test_serve_realtime_refuses_a_damaged_model_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    shutil.copytree(ModelFolder.bundled().path, folder)
    (folder / "SHA256SUMS").write_text(f"{'f' * 64}  model.bin\n")
    result = subprocess.run([sys.executable, "-m", "tui", "serve-realtime", "--port", "0", "--model-dir", str(folder)],
                            capture_output=True, text=True, env=checkout_env(), timeout=120)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip() and "WARNING" not in line]
    assert len(lines) == 1 and "corrupt" in lines[0] and "Traceback" not in result.stderr, result.stderr


# -- transcripts on the wire ----------------------------------------------------------------

OUTCOMES = ("conversation.item.input_audio_transcription.completed", "conversation.item.input_audio_transcription.failed")


async def one_turn(recorder: Recorder, samples16k: np.ndarray) -> tuple[Any, Any]:
    """Append a turn (as 24 kHz PCM) and commit it; its committed event and its transcription's outcome."""
    mark = recorder.mark()
    await recorder.append(degrade(samples16k, 16_000, to_rate=24_000))
    await recorder.connection.input_audio_buffer.commit()
    committed = await recorder.next("input_audio_buffer.committed", after=mark)

    async def outcome() -> Any:
        position = mark
        while True:
            while position < len(recorder.events):
                event = recorder.events[position]
                if event.type in OUTCOMES and event.item_id == committed.item_id:
                    return event
                position += 1
            recorder.events.append(await recorder.connection.recv())

    return committed, await asyncio.wait_for(outcome(), 90)


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_deltas_then_completed_with_case_and_punctuation_and_no_logprobs(
        make_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    server = await make_server()
    async with sdk(server).realtime.connect(model="gpt-realtime") as connection:
        recorder = Recorder(connection)
        await connection.session.update(session=MANUAL)  # type: ignore[arg-type]
        await recorder.next("session.updated")
        with caplog.at_level("INFO", logger="voxflow.realtime.server"):
            committed, done = await one_turn(recorder, LIBRIVOX[0].load())
    logged = [r.getMessage() for r in caplog.records if committed.item_id in r.getMessage()]
    assert any(re.search(r": 7\.\d\d s of audio, \d+\.\d+ s CPU \(", line) for line in logged), logged  # CPU per turn
    assert done.type == "conversation.item.input_audio_transcription.completed"
    call = next(iter(server.ended_calls.values()))
    mine = [e for e in call.sent if e.get("item_id") == committed.item_id and "input_audio_transcription" in e["type"]]
    assert [e["type"].rsplit(".", 1)[1] for e in mine] == ["delta", "completed"]
    assert mine[0]["delta"] == mine[1]["transcript"] and mine[1]["transcript"].startswith("And Mr. John Dashwood")
    assert all("logprobs" not in e for e in mine)


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_unknown_models_and_unheard_languages_are_refused_as_the_service_would(make_server: Any) -> None:
    server = await make_server()
    async with sdk(server).realtime.connect(model="gpt-realtime") as connection:
        recorder = Recorder(connection)
        for transcription in ({"model": "whisper-large-v9"}, {"model": "whisper-1", "language": "de"},
                              {"model": "whisper-1", "language": "english"}, {"model": "whisper-1", "language": "en"}):
            mark = recorder.mark()
            await connection.session.update(session={  # type: ignore[arg-type,misc]
                "type": "realtime", "audio": {"input": {"transcription": transcription}}})
            if transcription.get("language") == "en":
                updated = await recorder.next("session.updated", after=mark)
                assert updated.session.audio.input.transcription.language == "en"
                continue
            error = (await recorder.next("error", after=mark)).error
            assert error.code == "invalid_value" and error.param.startswith("session.audio.input.transcription.")
    assert "English only" in str([e for c in server.ended_calls.values() for e in c.sent if e["type"] == "error"])


@pytest.mark.slow
@pytest.mark.timeout(180)
async def test_a_killed_worker_fails_its_turn_and_the_next_turn_is_heard(make_server: Any) -> None:
    server = await make_server(recognizer_workers=1)  # a pool of its own (the shared one has workers=0)
    engines = SpeechEngines.shared(RecognizerSettings(workers=1))
    assert engines.recognizer is not None
    pool = engines.recognizer.pool
    long_turn = np.concatenate([clip.load() for clip in LIBRIVOX] * 2)  # ~49 s: four windows, seconds of work
    async with sdk(server).realtime.connect(model="gpt-realtime") as connection:
        recorder = Recorder(connection)
        await connection.session.update(session=MANUAL)  # type: ignore[arg-type]
        await recorder.next("session.updated")

        async def kill_when_busy() -> int:
            while not pool.busy_pids():
                await asyncio.sleep(0.01)
            pid = pool.busy_pids()[0]
            os.kill(pid, signal.SIGKILL)
            return pid

        killer = asyncio.ensure_future(kill_when_busy())
        _, outcome = await one_turn(recorder, long_turn)
        killed = await asyncio.wait_for(killer, 5)
        assert outcome.type == "conversation.item.input_audio_transcription.failed", outcome
        assert outcome.error.code == "transcription_failed" and "restarted" in outcome.error.message
        _, outcome = await one_turn(recorder, np.concatenate([CARDS[2].load(), silence(0.3, 16_000)]))
        assert outcome.type == "conversation.item.input_audio_transcription.completed", outcome
        assert normalize_words(outcome.transcript) == normalize_words("seven of clubs")
    assert killed not in pool.worker_pids() and len(pool.worker_pids()) == 1
