"""The server-event interpreter on its own: events in; transcript, state and typed events out. No network."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from audio.base.clock import FakeClock
from audio.wire import protocol
from audio.session.events import (
    AssistantAudio,
    Notice,
    RateLimitsUpdated,
    ResponseDone,
    ResponseStarted,
    SessionErrorEvent,
    SessionEvent,
    SpeechStarted,
    SpeechStopped,
    TranscriptUpdated,
    TurnLatency,
    Usage,
)
from audio.session.interpreter import EventInterpreter


class RecordingEffects:
    """Implements InterpreterEffects by recording what was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def flush_playback(self) -> None:
        self.calls.append(("flush", None))

    def session_created(self) -> None:
        self.calls.append(("created", None))

    def service_ended(self, reason: str, error: bool) -> None:
        self.calls.append(("ended", (reason, error)))

    def connection_facts(self, **facts: Any) -> None:
        self.calls.append(("facts", facts))


def make(push_to_talk: bool = False) -> tuple[EventInterpreter, list[SessionEvent], RecordingEffects, FakeClock]:
    clock = FakeClock()
    published: list[SessionEvent] = []
    effects = RecordingEffects()
    return EventInterpreter(clock, published.append, effects, push_to_talk=push_to_talk), published, effects, clock


def feed(interpreter: EventInterpreter, *events: dict[str, Any]) -> None:
    for event in events:
        interpreter.feed(json.dumps(event))


def of(published: list[SessionEvent], kind: type) -> list[Any]:
    return [event for event in published if isinstance(event, kind)]


def test_a_voice_turn_builds_the_transcript_in_service_order() -> None:
    interpreter, published, effects, _ = make()
    feed(
        interpreter,
        {"type": "session.created", "session": {"model": "gpt-realtime", "audio": {"output": {"voice": "cedar"},
                                                 "input": {"turn_detection": {"type": "semantic_vad"}}}}},
        {"type": "input_audio_buffer.speech_started", "item_id": "u1"},
        {"type": "input_audio_buffer.speech_stopped", "item_id": "u1"},
        {"type": "input_audio_buffer.committed", "item_id": "u1", "previous_item_id": None},
        {"type": "response.created", "response": {"id": "r1"}},
        {"type": "conversation.item.added", "previous_item_id": "u1",
         "item": {"id": "a1", "type": "message", "role": "assistant", "content": []}},
        {"type": "response.output_audio_transcript.delta", "item_id": "a1", "delta": "Hel"},
        {"type": "response.audio_transcript.delta", "item_id": "a1", "delta": "lo"},  # beta alias
        # the user's transcription arrives after the reply started: it stays first
        {"type": "conversation.item.input_audio_transcription.completed", "item_id": "u1", "transcript": "hi there"},
        {"type": "response.output_audio_transcript.done", "item_id": "a1", "transcript": "Hello!"},
        {"type": "response.done", "response": {"id": "r1", "status": "completed",
                                               "usage": {"input_tokens": 3, "output_tokens": 4}}},
    )
    assert interpreter.transcript.as_text() == "User: hi there\nAssistant: Hello!"
    finals = {e.entry.item_id: e.index for e in of(published, TranscriptUpdated) if e.entry.final}
    assert finals == {"u1": 0, "a1": 1}
    assert ("created", None) in effects.calls
    assert ("facts", {"model": "gpt-realtime", "voice": "cedar", "vad": "semantic_vad"}) in effects.calls
    assert ("flush", None) in effects.calls  # barge-in on speech start with VAD
    assert of(published, SpeechStarted) == [SpeechStarted("u1")] and of(published, SpeechStopped) == [SpeechStopped("u1")]
    assert of(published, ResponseStarted) == [ResponseStarted("r1")]
    done = of(published, ResponseDone)
    assert done == [ResponseDone("r1", "completed", Usage(3, 4, 7), Usage(3, 4, 7))]
    assert not interpreter.response_active


def test_push_to_talk_speech_start_does_not_flush_playback() -> None:
    interpreter, _, effects, _ = make(push_to_talk=True)
    feed(interpreter, {"type": "input_audio_buffer.speech_started", "item_id": "u1"})
    assert ("flush", None) not in effects.calls


def test_speech_over_a_reply_does_not_cut_it_when_the_vad_does_not_interrupt() -> None:
    """``interrupt_response: false``: the service lets the reply play on, so local playback must not be flushed."""
    interpreter, _, effects, _ = make()
    feed(interpreter, {"type": "session.created", "session": {"audio": {"input": {"turn_detection": {
        "type": "server_vad", "interrupt_response": False}}}}},
        {"type": "input_audio_buffer.speech_started", "item_id": "u1"})
    assert ("flush", None) not in effects.calls
    feed(interpreter, {"type": "session.updated", "session": {"audio": {"input": {"turn_detection": {
        "type": "server_vad", "interrupt_response": True}}}}},
        {"type": "input_audio_buffer.speech_started", "item_id": "u2"})
    assert ("flush", None) in effects.calls


def test_usage_adds_up_over_responses_and_open_replies_are_closed() -> None:
    interpreter, published, _, _ = make()
    feed(
        interpreter,
        {"type": "conversation.item.added", "item": {"id": "a1", "type": "message", "role": "assistant"}},
        {"type": "response.output_text.delta", "item_id": "a1", "delta": "partial"},
        {"type": "response.done", "response": {"id": "r1", "output": [{"id": "a1"}], "usage": {"total_tokens": 10}}},
        {"type": "response.done", "response": {"id": "r2", "usage": {"input_tokens": 1, "output_tokens": 2}}},
    )
    assert interpreter.transcript.get("a1").final
    assert interpreter.total_usage == Usage(1, 2, 13)
    assert of(published, ResponseDone)[-1].total_usage == Usage(1, 2, 13)


def test_errors_are_sorted_by_what_they_mean() -> None:
    interpreter, published, effects, _ = make()
    feed(
        interpreter,
        {"type": "error", "error": {"code": "response_cancel_not_active", "message": "nothing to cancel"}},
        {"type": "error", "error": {"code": "input_audio_buffer_commit_empty", "message": "empty"}},
        {"type": "error", "error": {"code": "rate_limit", "message": "slow down"}},
    )
    assert of(published, SessionErrorEvent) == [SessionErrorEvent("slow down", "rate_limit", fatal=False)]
    assert [n.level for n in of(published, Notice)] == ["warning"]
    assert not [call for call in effects.calls if call[0] == "ended"]
    feed(interpreter, {"type": "error", "error": {"code": "session_expired", "message": "expired"}})
    assert of(published, SessionErrorEvent)[-1].fatal
    assert effects.calls[-1][0] == "ended" and effects.calls[-1][1][1] is False


def test_malformed_and_unknown_events_change_nothing() -> None:
    interpreter, published, _, _ = make()
    assert interpreter.feed("not json") is None
    assert interpreter.feed(json.dumps({"type": "something.new"})) is not None
    # a handler that meets a surprising payload logs and goes on
    feed(interpreter, {"type": "response.done", "response": {"usage": {"input_tokens": "many"}}})
    assert published == []


def test_listeners_see_events_after_the_built_in_handling() -> None:
    interpreter, _, _, _ = make()
    seen: list[tuple[str, bool]] = []
    remove = interpreter.add_listener(
        "response.function_call_arguments.done",
        lambda event: seen.append((event.get("call_id"), interpreter.response_active)),
    )
    interpreter.add_listener(protocol.RESPONSE_CREATED, lambda event: seen.append(("created", interpreter.response_active)))
    feed(
        interpreter,
        {"type": "response.created", "response": {"id": "r1"}},
        {"type": "response.function_call_arguments.done", "call_id": "c1", "arguments": "{}"},
    )
    assert seen == [("created", True), ("c1", True)]
    remove()
    feed(interpreter, {"type": "response.function_call_arguments.done", "call_id": "c2"})
    assert len(seen) == 2


async def test_playing_state_and_turn_latency() -> None:
    interpreter, published, _, clock = make()
    feed(interpreter, {"type": "input_audio_buffer.speech_stopped", "item_id": "u1"})
    await clock.advance(0.3)
    loud = np.full((480, 1), 8000, dtype=np.int16)
    interpreter.latency.played(loud)  # audio of an older reply: the new one has not started
    assert of(published, TurnLatency) == []
    feed(interpreter, {"type": "output_audio_buffer.started", "response_id": "r1"})
    assert interpreter.assistant_playing and interpreter.assistant_busy
    await clock.advance(0.2)
    interpreter.latency.played(np.zeros((480, 1), dtype=np.int16))  # silence does not count
    interpreter.latency.played(loud)
    interpreter.latency.played(loud)
    assert [round(e.seconds, 3) for e in of(published, TurnLatency)] == [0.5]
    feed(interpreter, {"type": "output_audio_buffer.stopped", "response_id": "r1"})
    assert of(published, AssistantAudio) == [AssistantAudio(True, "r1"), AssistantAudio(False, "r1")]
    assert not interpreter.assistant_busy


def test_rate_limits_and_failed_transcription() -> None:
    interpreter, published, _, _ = make()
    feed(
        interpreter,
        {"type": "rate_limits.updated", "rate_limits": [{"name": "tokens", "limit": 10, "remaining": 4,
                                                         "reset_seconds": 1.5}, "junk"]},
        {"type": "input_audio_buffer.committed", "item_id": "u1"},
        {"type": "conversation.item.input_audio_transcription.failed", "item_id": "u1",
         "error": {"message": "model overloaded"}},
    )
    (limits,) = of(published, RateLimitsUpdated)
    assert [(l.name, l.remaining, l.reset_seconds) for l in limits.limits] == [("tokens", 4, 1.5)]
    entry = interpreter.transcript.get("u1")
    assert entry.failed and entry.final and "model overloaded" in entry.text


def test_a_new_connection_keeps_the_transcript_but_not_the_flags() -> None:
    interpreter, _, _, _ = make()
    feed(
        interpreter,
        {"type": "conversation.item.added", "item": {"id": "u1", "type": "message", "role": "user",
                                                     "content": [{"type": "input_text", "text": "typed"}]}},
        {"type": "response.created", "response": {"id": "r1"}},
        {"type": "session.updated", "session": {"model": "m"}},
    )
    interpreter.reset_connection()
    assert not interpreter.response_active and interpreter.effective_session == {}
    assert interpreter.transcript.as_text() == "User: typed"


def test_a_refused_best_effort_event_is_a_notice_and_a_null_code_shows_the_type() -> None:
    interpreter, published, _, _ = make()
    clear = interpreter.stamp({"type": "input_audio_buffer.clear"})
    assert interpreter.stamp({"type": "response.create"}) == {"type": "response.create"}  # not best-effort
    feed(
        interpreter,
        {"type": "error", "error": {"type": "invalid_request_error", "code": None, "event_id": clear["event_id"],
                                    "message": "input_audio_buffer.clear is not supported"}},
        {"type": "error", "error": {"type": "server_error", "code": None, "message": "The server had an error"}},
    )
    (notice,) = of(published, Notice)
    assert notice.message == "The service refused input_audio_buffer.clear: input_audio_buffer.clear is not supported"
    assert of(published, SessionErrorEvent) == [SessionErrorEvent("server_error: The server had an error", None)]


def test_a_reply_cut_while_it_plays_is_marked_interrupted_and_a_finished_one_is_not() -> None:
    from dataclasses import replace

    from audio.session.transcript_format import shown_text, to_jsonl, to_markdown

    interpreter, published, _, _ = make()

    def reply(response_id: str, item_id: str, text: str) -> None:
        feed(
            interpreter,
            {"type": "response.created", "response": {"id": response_id}},
            {"type": "conversation.item.added", "item": {"id": item_id, "type": "message", "role": "assistant"}},
            {"type": "output_audio_buffer.started", "response_id": response_id},
            {"type": "response.output_audio_transcript.done", "item_id": item_id, "transcript": text},
            {"type": "response.done", "response": {"id": response_id, "status": "completed"}},
        )

    reply("r1", "a1", "The first answer.")
    feed(interpreter, {"type": "output_audio_buffer.stopped", "response_id": "r1"})
    interpreter.playback_cut()  # after it played out: nothing to mark
    reply("r2", "a2", "A long answer the person talks over.")
    interpreter.playback_cut()  # generated, still playing: the person cut in
    interpreter.playback_cut()  # once is enough
    entries = {entry.item_id: entry for entry in interpreter.transcript.entries()}
    assert not entries["a1"].interrupted and entries["a2"].interrupted
    assert interpreter.transcript.as_text().splitlines() == [
        "Assistant: The first answer.", "Assistant: A long answer the person talks over. [interrupted]"]
    records = [json.loads(line) for line in to_jsonl(interpreter.transcript.entries()).splitlines()]
    assert "interrupted" not in records[0] and records[1]["interrupted"] is True
    assert "A long answer the person talks over. [interrupted]" in to_markdown(interpreter.transcript.entries())
    marked = [e.entry for e in of(published, TranscriptUpdated) if e.entry.interrupted]
    assert len(marked) == 1 and marked[0].item_id == "a2"  # the app and the files hear of it once
    cut_mid_word = replace(entries["a2"], text="A long ans ")  # cancelled while its text streamed
    assert shown_text(cut_mid_word) == "A long ans [interrupted]"
    feed(interpreter, {"type": "response.created", "response": {"id": "r3"}})
    interpreter.playback_cut()  # the next reply has no item yet: the cut one is not marked again, nor a1
    assert [e.item_id for e in interpreter.transcript.entries() if e.interrupted] == ["a2"]
    reply("r4", "a4", "An answer the service reports played out while it is still being heard here.")
    feed(interpreter, {"type": "output_audio_buffer.stopped", "response_id": "r4"})
    interpreter.playback_cut()  # nothing heard: nothing to mark
    assert not interpreter.transcript.get("a4").interrupted
    interpreter.playback_cut(audible=True)  # the receive path lags the service: the person cut in on what they heard
    assert interpreter.transcript.get("a4").interrupted


def test_nulls_in_the_session_leave_the_configured_facts_on_show() -> None:
    """A server's session.created may be pydantic's dump of a fresh session: nulls everywhere (issue #21)."""
    interpreter, _, effects, _ = make()
    nulls = {"type": "realtime", "model": None, "instructions": None, "tools": None, "audio": None}
    feed(interpreter, {"type": "session.created", "session": nulls})
    feed(interpreter, {"type": "session.created", "session": {**nulls, "audio": {"input": None, "output": None}}})
    feed(interpreter, {"type": "session.created",
                       "session": {**nulls, "audio": {"input": {"format": None}, "output": {"voice": None}}}})
    assert [facts for kind, facts in effects.calls if kind == "facts"] == [{}, {}, {}]  # nothing confirmed: nothing changes
    feed(interpreter, {"type": "session.updated", "session": {"type": "realtime", "model": "m1", "audio": {
        "input": {"turn_detection": None}, "output": {"voice": {"id": "voice_1234"}}}}})
    assert effects.calls[-1] == ("facts", {"model": "m1", "voice": "voice_1234", "vad": "push-to-talk"})


def test_the_users_transcription_streams_live_as_deltas_then_completes() -> None:
    """The local server's Whisper sends a delta per decoded window, then completed: each delta shows at once."""
    interpreter, published, _, _ = make()
    feed(interpreter, {"type": "input_audio_buffer.committed", "item_id": "u1", "previous_item_id": None})
    feed(interpreter, {"type": "conversation.item.input_audio_transcription.delta", "item_id": "u1",
                       "content_index": 0, "delta": "How are you today? What is the weather forecast for tomorrow?"})
    partial = of(published, TranscriptUpdated)[-1].entry
    assert (partial.item_id, partial.final, partial.pending) == ("u1", False, False)
    assert partial.text == "How are you today? What is the weather forecast for tomorrow?"
    feed(interpreter, {"type": "conversation.item.input_audio_transcription.delta", "item_id": "u1",
                       "content_index": 0, "delta": " Where is the train station?"})
    assert of(published, TranscriptUpdated)[-1].entry.text.endswith("tomorrow? Where is the train station?")
    feed(interpreter, {"type": "conversation.item.input_audio_transcription.completed", "item_id": "u1",
                       "content_index": 0, "transcript": "How are you today? What is the weather forecast for"
                       " tomorrow? Where is the train station?", "usage": {"type": "duration", "seconds": 19.5}})
    done = of(published, TranscriptUpdated)[-1].entry
    assert done.final and done.text.startswith("How are you today?") and done.text.endswith("station?")
    assert len([e for e in of(published, TranscriptUpdated) if e.entry.item_id == "u1"]) == 4  # added, 2 deltas, done


# --- when a user turn was spoken ------------------------------------------------------------------
def timed(push_to_talk: bool = False) -> tuple[EventInterpreter, FakeClock, dict[str, float | None]]:
    """An interpreter whose connection's input audio began at ``zero["at"]`` on the clock (None: not yet)."""
    clock, zero = FakeClock(), {"at": None}

    def input_time(ms: float) -> float | None:
        return None if zero["at"] is None else zero["at"] + ms / 1000

    interpreter = EventInterpreter(clock, lambda event: None, RecordingEffects(), push_to_talk=push_to_talk,
                                   input_time=input_time)
    return interpreter, clock, zero


def detection(**turn_detection: Any) -> dict[str, Any]:
    return {"type": "session.updated", "session": {"audio": {"input": {"turn_detection": turn_detection}}}}


async def test_a_detected_turn_spans_the_speech_not_the_transcription() -> None:
    """audio_start_ms includes the prefix padding, audio_end_ms the closing silence: both come back out."""
    interpreter, clock, zero = timed()
    await clock.advance(2.0)
    zero["at"] = 2.5  # the first input frame left 2.5 s into the session
    feed(interpreter, detection(type="server_vad", prefix_padding_ms=200, silence_duration_ms=700),
         {"type": "input_audio_buffer.speech_started", "item_id": "u1", "audio_start_ms": 800})
    await clock.advance(31.0)
    feed(interpreter, {"type": "input_audio_buffer.speech_stopped", "item_id": "u1", "audio_end_ms": 30_700},
         {"type": "input_audio_buffer.committed", "item_id": "u1", "previous_item_id": None})
    await clock.advance(9.0)  # recognition takes a while
    feed(interpreter, {"type": "conversation.item.input_audio_transcription.completed", "item_id": "u1",
                       "transcript": "a long prompt"})
    entry = interpreter.transcript.get("u1")
    assert (entry.start, entry.end, entry.transcribed_at) == (pytest.approx(3.5), pytest.approx(32.5), 42.0)
    record = json.loads(interpreter.transcript.to_jsonl())
    assert (record["start"], record["end"], record["transcribed_at"]) == (3.5, 32.5, 42.0)
    assert "## User · 00:03–00:32" in interpreter.transcript.to_markdown()


async def test_semantic_vad_takes_out_its_default_padding_and_its_eagerness_silence() -> None:
    interpreter, clock, zero = timed()
    zero["at"] = 0.0
    feed(interpreter, detection(type="semantic_vad", eagerness="high"),
         {"type": "input_audio_buffer.speech_started", "item_id": "u1", "audio_start_ms": 1_000},
         {"type": "input_audio_buffer.speech_stopped", "item_id": "u1", "audio_end_ms": 3_000})
    await clock.advance(3.5)
    feed(interpreter, {"type": "input_audio_buffer.committed", "item_id": "u1"})
    entry = interpreter.transcript.get("u1")
    assert (entry.start, entry.end) == (pytest.approx(1.3), pytest.approx(2.7))


async def test_each_connection_counts_its_input_audio_from_its_own_start() -> None:
    """After a renewal or reconnection audio_start_ms starts over; the new connection's zero applies."""
    interpreter, clock, zero = timed()
    zero["at"] = 1.0
    feed(interpreter, detection(type="server_vad", prefix_padding_ms=0, silence_duration_ms=0),
         {"type": "input_audio_buffer.speech_started", "item_id": "u1", "audio_start_ms": 500},
         {"type": "input_audio_buffer.speech_stopped", "item_id": "u1", "audio_end_ms": 1_500},
         {"type": "input_audio_buffer.committed", "item_id": "u1"})
    await clock.advance(60.0)
    interpreter.reset_connection()
    zero["at"] = 60.2  # the next connection's first input frame
    feed(interpreter, detection(type="server_vad", prefix_padding_ms=0, silence_duration_ms=0),
         {"type": "input_audio_buffer.speech_started", "item_id": "u2", "audio_start_ms": 500},
         {"type": "input_audio_buffer.speech_stopped", "item_id": "u2", "audio_end_ms": 1_500})
    await clock.advance(2.0)
    feed(interpreter, {"type": "input_audio_buffer.committed", "item_id": "u2", "previous_item_id": "u1"})
    first, second = interpreter.transcript.get("u1"), interpreter.transcript.get("u2")
    assert (first.start, first.end) == (pytest.approx(1.5), pytest.approx(2.5))
    assert (second.start, second.end) == (pytest.approx(60.7), pytest.approx(61.7))


async def test_without_turn_detection_a_turn_spans_its_buffer_up_to_the_commit() -> None:
    interpreter, clock, zero = timed(push_to_talk=True)
    zero["at"] = 0.5
    feed(interpreter, {"type": "session.updated", "session": {"audio": {"input": {"turn_detection": None}}}})
    await clock.advance(4.0)
    feed(interpreter, {"type": "input_audio_buffer.cleared"})  # the talk key was pressed
    await clock.advance(3.0)
    feed(interpreter, {"type": "input_audio_buffer.committed", "item_id": "u1"})
    await clock.advance(5.0)
    feed(interpreter, {"type": "input_audio_buffer.committed", "item_id": "u2", "previous_item_id": "u1"})
    first, second = interpreter.transcript.get("u1"), interpreter.transcript.get("u2")
    assert (first.start, first.end) == (4.0, 7.0)
    assert (second.start, second.end) == (7.0, 12.0)  # the buffer began again at the last commit
def test_a_turn_cut_by_a_drop_is_continued_by_the_item_its_audio_was_sent_again_in() -> None:
    """The old connection committed u1 and dropped before transcribing it; the new one hears it again as item n9."""
    interpreter, published, _, _ = make()
    feed(interpreter,
         {"type": "input_audio_buffer.speech_started", "item_id": "u1"},
         {"type": "input_audio_buffer.speech_stopped", "item_id": "u1"},
         {"type": "input_audio_buffer.committed", "item_id": "u1", "previous_item_id": None})
    feed(interpreter, {"type": "input_audio_buffer.speech_started", "item_id": "u2"})  # and the next began
    interpreter.connection_ended()
    interpreter.reset_connection()  # the reconnection: the speech that began on the old connection is over
    assert [type(e) for e in published[-2:]] == [SpeechStarted, SpeechStopped] and published[-1].item_id == "u2"
    interpreter.ignore_items("carried_")
    interpreter.continue_turn("u1")
    feed(interpreter,
         {"type": "conversation.item.added", "item": {"id": "carried_1_0", "type": "message", "role": "user",
                                                      "content": [{"type": "input_text", "text": "earlier"}]}},
         {"type": "input_audio_buffer.speech_started", "item_id": "n9"},
         {"type": "input_audio_buffer.speech_stopped", "item_id": "n9"},
         {"type": "input_audio_buffer.committed", "item_id": "n9", "previous_item_id": "carried_1_0"},
         {"type": "conversation.item.input_audio_transcription.completed", "item_id": "n9", "transcript": "hello again"},
         {"type": "conversation.item.added", "item": {"id": "a9", "type": "message", "role": "assistant"},
          "previous_item_id": "n9"})
    entries = interpreter.transcript.entries()
    assert [(e.item_id, e.role, e.text) for e in entries] == [("u1", "user", "hello again"), ("a9", "assistant", "")]
    assert of(published, SpeechStopped)[-1].item_id == "u1"
    interpreter.continue_turn("u1", "outage_1_0")  # an item the client names itself (over WebRTC)
    feed(interpreter, {"type": "conversation.item.input_audio_transcription.completed", "item_id": "outage_1_0",
                       "transcript": "hello once more"})
    assert interpreter.transcript.entries()[0].text == "hello once more" and len(interpreter.transcript) == 2
