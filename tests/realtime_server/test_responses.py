"""Client events over ``oai-events``: session.update validation, text turns, cancel, errors with the service's codes."""

from __future__ import annotations

import asyncio

import pytest

from tests.realtime_server.client import RATE, WAIT, rms

pytestmark = pytest.mark.slow

MANUAL = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}


async def connected(server, make_client, session=MANUAL):
    client = make_client(server.base_url)
    await client.connect(session)
    return client


async def error_after(client, start: int) -> dict:
    return (await client.next("error", after=start))["error"]


async def test_session_update_validation_and_effective_config(server, make_client) -> None:
    client = await connected(server, make_client)
    start = len(client.events)
    client.send("session.update", event_id="evt_1", session={"instructions": "hi"})
    error = await error_after(client, start)
    assert error["code"] == "missing_required_parameter" and error["event_id"] == "evt_1"
    start = len(client.events)
    client.send("session.update", session={"type": "realtime", "audio": {"output": {"voice": "robot"}}})
    assert (await error_after(client, start))["param"] == "session.audio.output.voice"
    start = len(client.events)
    client.send("session.update", session={"type": "realtime", "bogus": 1})
    assert (await error_after(client, start))["code"] == "unknown_parameter"
    start = len(client.events)
    client.send("session.update", session={"type": "realtime", "instructions": "Be brief.", "audio": {
        "input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 700}},
        "output": {"voice": "cedar"}}})
    updated = (await client.next("session.updated", after=start))["session"]
    assert updated["instructions"] == "Be brief."
    assert updated["audio"]["output"]["voice"] == "cedar"
    vad = updated["audio"]["input"]["turn_detection"]
    assert vad["silence_duration_ms"] == 700 and vad["threshold"] == 0.5 and vad["interrupt_response"] is True
    assert server.calls[client.call_id].received_types.count("session.update") == 4


async def test_text_turn_answers_and_then_the_voice_is_locked(server, make_client) -> None:
    client = await connected(server, make_client)
    client.send("conversation.item.create", item={
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello there"}]})
    added = await client.next("conversation.item.added")
    assert added["item"]["role"] == "user" and added["previous_item_id"] is None
    client.send("response.create")
    done = await client.next("output_audio_buffer.stopped")
    transcript = await client.next("response.output_audio_transcript.done")
    assert transcript["transcript"] == "You said: hello there"
    assistant = [e for e in client.events if e["type"] == "conversation.item.added"][1]
    assert assistant["previous_item_id"] == added["item"]["id"]
    assert done["response_id"] == transcript["response_id"]
    assert rms(client.audio()) > 500
    start = len(client.events)
    client.send("session.update", session={"type": "realtime", "audio": {"output": {"voice": "ash"}}})
    assert (await error_after(client, start))["code"] == "cannot_update_voice"
    client.send("session.update", session={"type": "realtime", "audio": {"output": {"voice": "marin"}}})
    await client.next("session.updated", after=start)


async def test_one_response_at_a_time_and_cancel_stops_the_reply(make_server, make_client) -> None:
    server = await make_server(reply="script", script=[
        "This is a long scripted answer that keeps talking for several seconds so there is time to cancel it."])
    client = await connected(server, make_client)
    client.send("response.cancel")
    assert (await error_after(client, 0))["code"] == "response_cancel_not_active"
    start = len(client.events)
    client.send("response.create")
    await client.next("output_audio_buffer.started", after=start)
    client.send("response.create")
    assert (await error_after(client, start))["code"] == "conversation_already_has_active_response"
    client.send("response.cancel")
    client.send("output_audio_buffer.clear")
    client.send("response.create", response={"output_modalities": ["text"]})  # right away: accepted
    done = await client.next("response.done", after=start)
    cleared = await client.next("output_audio_buffer.cleared", after=start)
    heard_at_clear = len(client.audio())
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "client_cancelled"
    assert cleared["response_id"] == done["response"]["id"]

    async def after_the_cut() -> None:  # 800 ms more received: packets in flight at the cut have arrived
        while len(client.audio()) < heard_at_clear + RATE * 8 // 10:
            await asyncio.sleep(0.02)
    await asyncio.wait_for(after_the_cut(), WAIT)
    assert "output_audio_buffer.stopped" not in client.types[start:]
    tail = client.audio()[-RATE // 5:]  # the last 200 ms heard: silence, the reply was cut
    assert rms(tail) < 100
    last = [e for e in client.events if e["type"] == "response.done"][-1]
    assert last["response"]["status"] == "completed" and last["response"]["id"] != done["response"]["id"]


async def test_commit_needs_100_ms_and_clear_is_acknowledged(server, make_client) -> None:
    client = await connected(server, make_client)
    client.send("input_audio_buffer.clear")
    await client.next("input_audio_buffer.cleared")
    client.send("input_audio_buffer.commit")
    error = await error_after(client, 0)
    assert error["code"] == "input_audio_buffer_commit_empty"


async def test_text_only_response_and_script_order(make_server, make_client) -> None:
    server = await make_server(reply="script", script=["First line.", "Second line."])
    client = await connected(server, make_client)
    for expected in ("First line.", "Second line.", "First line."):
        start = len(client.events)
        client.send("response.create", response={"output_modalities": ["text"]})
        text = await client.next("response.output_text.done", after=start)
        assert text["text"] == expected
        await client.next("response.done", after=start)
    assert "output_audio_buffer.started" not in client.types


async def test_bad_messages_get_errors_and_the_session_stays_open(server, make_client) -> None:
    client = await connected(server, make_client)
    client.channel.send("{nope")
    assert (await error_after(client, 0))["code"] == "invalid_json"
    start = len(client.events)
    client.send("no.such.event")
    assert (await error_after(client, start))["code"] == "invalid_value"
    start = len(client.events)
    client.send("input_audio_buffer.clear")
    await client.next("input_audio_buffer.cleared", after=start)


class BrokenPolicy:
    def reply(self, heard: str) -> str:
        raise RuntimeError("policy bug")


async def test_a_failing_response_ends_as_failed_and_the_call_goes_on(server, make_client) -> None:
    client = await connected(server, make_client)
    call = server.calls[client.call_id]
    working, call.responder._policy = call.responder._policy, BrokenPolicy()
    client.send("response.create")
    assert (await client.next("response.done"))["response"]["status"] == "failed"
    assert (await error_after(client, 0))["code"] == "server_error"
    call.responder._policy = working
    start = len(client.events)
    client.send("response.create", response={"output_modalities": ["text"]})
    assert (await client.next("response.done", after=start))["response"]["status"] == "completed"


async def test_response_overrides_are_validated(server, make_client) -> None:
    client = await connected(server, make_client)
    client.send("response.create", response={"output_modalities": "text"})
    assert (await error_after(client, 0))["param"] == "response.output_modalities"
    assert "response.created" not in client.types


async def test_a_user_audio_item_is_transcribed_and_answered(server, make_client) -> None:
    """``conversation.item.create`` with ``input_audio`` content (how a reconnected client hands over what was said)."""
    import base64

    from tests.realtime_server.recordings import raw_recording

    client = await connected(server, make_client, {"type": "realtime", "audio": {"input": {
        "turn_detection": None, "transcription": {"model": "gpt-4o-mini-transcribe"}}}})
    audio = base64.b64encode(raw_recording(rate=24_000).astype("<i2").tobytes()).decode()
    client.send("conversation.item.create", item={
        "type": "message", "role": "user", "content": [{"type": "input_audio", "audio": audio}]})
    added = await client.next("conversation.item.added")
    assert added["item"]["content"] == [{"type": "input_audio", "transcript": None}]  # the audio is not echoed
    client.send("response.create")
    transcribed = await client.next("conversation.item.input_audio_transcription.completed")
    assert transcribed["item_id"] == added["item"]["id"] and "forward" in transcribed["transcript"]
    reply = await client.next("response.output_audio_transcript.done")
    assert reply["transcript"] == f"You said: {transcribed['transcript']}"
    start = len(client.events)
    client.send("conversation.item.create", item={
        "type": "message", "role": "user", "content": [{"type": "input_audio", "audio": "not base64!"}]})
    assert (await error_after(client, start))["param"] == "item.content.audio"
