"""The local server as a faithful stand-in: out-of-band responses, conversation item rules, idle timeout,
transcription failures on demand, transcription sessions, the fields the service accepts, and stop()."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from openai.types.realtime import RealtimeConversationItemUserMessageParam

from audio.server import FaultConfig, LocalRealtimeServer, ServerConfig
from tests.realtime_server.recordings import raw_recording
from tests.realtime_server.sdk_ws import Recorder, sdk

pytestmark = pytest.mark.slow

MANUAL = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
USER_HI: RealtimeConversationItemUserMessageParam = {
    "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}


async def open_session(connection, session=MANUAL) -> Recorder:
    recorder = Recorder(connection)
    await recorder.next("session.created")
    await connection.session.update(session=session)
    await recorder.next("session.updated")
    return recorder


async def test_out_of_band_response_answers_its_input_and_stays_out_of_the_conversation(server) -> None:
    async with sdk(server).realtime.connect(model="gpt-realtime") as connection:
        events = await open_session(connection)
        await connection.conversation.item.create(item=USER_HI)
        await events.next("conversation.item.done")
        start = events.mark()
        await connection.response.create(response={
            "conversation": "none", "metadata": {"purpose": "summary"}, "output_modalities": ["text"],
            "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "sum up"}]}]})
        created = await events.next("response.created", start)
        done = await events.next("response.done", start)
        assert created.response.metadata == done.response.metadata == {"purpose": "summary"}
        assert done.response.conversation_id is None
        assert done.response.output[0].content[0].text == "You said: sum up"  # its own input, not "hi"
        assert "conversation.item.added" not in events.types[start:]
        assert "conversation.item.done" not in events.types[start:]
        start = events.mark()
        await connection.conversation.item.retrieve(item_id=done.response.output[0].id)
        assert (await events.next("error", start)).error.code == "item_not_found"
        start = events.mark()
        await connection.response.create()  # an in-band reply still answers the conversation
        done = await events.next("response.done", start)
        assert done.response.conversation_id is not None and done.response.metadata is None
        assert done.response.output[0].content[0].transcript == "You said: hi"
        start = events.mark()
        await connection.send({"type": "response.create", "response": {"modalities": ["text"]}})  # type: ignore[arg-type]
        assert (await events.next("error", start)).error.param == "response.modalities"  # the beta name


async def test_retrieve_truncate_and_delete_follow_the_service_rules(server) -> None:
    async with sdk(server).realtime.connect(model="gpt-realtime") as connection:
        events = await open_session(connection)
        await connection.conversation.item.create(item=USER_HI)
        user = (await events.next("conversation.item.added")).item
        await connection.response.create()
        assistant = (await events.next("response.done")).response.output[0]

        async def refused(start: int) -> str:
            error = (await events.next("error", start)).error
            return f"{error.code}:{error.param}"

        start = events.mark()
        await connection.conversation.item.retrieve(item_id=user.id)
        assert (await events.next("conversation.item.retrieved", start)).item.id == user.id
        start = events.mark()
        await connection.conversation.item.truncate(item_id=user.id, content_index=0, audio_end_ms=0)
        assert await refused(start) == "invalid_value:item_id"  # only assistant messages
        start = events.mark()
        await connection.conversation.item.truncate(item_id=assistant.id, content_index=1, audio_end_ms=0)
        assert await refused(start) == "invalid_value:content_index"
        start = events.mark()
        await connection.conversation.item.truncate(item_id=assistant.id, content_index=0, audio_end_ms=60_000)
        assert await refused(start) == "invalid_value:audio_end_ms"  # past the audio's end
        start = events.mark()
        await connection.conversation.item.truncate(item_id=assistant.id, content_index=0, audio_end_ms=300)
        truncated = await events.next("conversation.item.truncated", start)
        assert (truncated.item_id, truncated.audio_end_ms) == (assistant.id, 300)
        await connection.conversation.item.retrieve(item_id=assistant.id)
        assert (await events.next("conversation.item.retrieved", start)).item.content[0].transcript == ""
        start = events.mark()
        await connection.conversation.item.delete(item_id=user.id)
        assert (await events.next("conversation.item.deleted", start)).item_id == user.id
        await connection.conversation.item.delete(item_id=user.id)
        assert await refused(start) == "item_not_found:item_id"


async def test_idle_timeout_commits_the_silence_and_answers(server) -> None:
    async with sdk(server).realtime.connect(model="gpt-realtime") as connection:
        events = await open_session(connection, {"type": "realtime", "audio": {"input": {
            "turn_detection": {"type": "server_vad", "idle_timeout_ms": 5000}}}})
        await events.append(np.zeros(24_000 * 4, dtype=np.int16))
        await events.append(np.zeros(24_000 * 2, dtype=np.int16))
        triggered = await events.next("input_audio_buffer.timeout_triggered")
        assert triggered.audio_end_ms - triggered.audio_start_ms == 5000
        committed = await events.next("input_audio_buffer.committed")
        assert committed.item_id == triggered.item_id
        await events.next("response.created")
        assert events.types.count("input_audio_buffer.timeout_triggered") == 1


async def test_transcription_fails_on_demand(make_server) -> None:
    server = await make_server(faults=FaultConfig(fail_transcription=True))
    async with sdk(server).realtime.connect(model="gpt-realtime") as connection:
        events = await open_session(connection, {"type": "realtime", "audio": {"input": {
            "turn_detection": None, "transcription": {"model": "gpt-4o-mini-transcribe"}}}})
        await events.append(raw_recording())
        await connection.input_audio_buffer.commit()
        committed = await events.next("input_audio_buffer.committed")
        failed = await events.next("conversation.item.input_audio_transcription.failed")
        assert failed.item_id == committed.item_id and failed.error.code == "audio_unintelligible"
        assert "conversation.item.input_audio_transcription.completed" not in events.types


async def test_a_transcription_session_transcribes_and_never_answers(server) -> None:
    secret = await sdk(server).realtime.client_secrets.create(session={
        "type": "transcription", "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}})
    async with sdk(server, secret.value).realtime.connect(model="gpt-realtime") as connection:
        events = Recorder(connection)
        created = await events.next("session.created")
        assert created.session.type == "transcription"
        await events.append(np.concatenate([np.zeros(12_000, np.int16), raw_recording(), np.zeros(24_000, np.int16)]))
        completed = await events.next("conversation.item.input_audio_transcription.completed")
        if server.speech_enabled:
            assert "forward" in completed.transcript
        start = events.mark()
        await connection.response.create()
        assert (await events.next("error", start)).error.param == "type"
        print("TYPES", events.types)
        assert "response.created" not in events.types and events.types.count("error") == 1


async def test_the_fields_the_service_accepts_are_accepted(server) -> None:
    async with sdk(server).realtime.connect(model="gpt-realtime") as connection:
        events = await open_session(connection, {
            "type": "realtime", "reasoning": {"effort": "minimal"}, "parallel_tool_calls": False,
            "audio": {"input": {"noise_reduction": {"type": "far_field", "strength": 0.3}},
                      "output": {"voice": {"id": "voice_custom_1"}}}})
        updated = [e for e in events.events if e.type == "session.updated"][-1].session
        assert updated.reasoning.effort == "minimal" and updated.parallel_tool_calls is False
        assert updated.audio.input.noise_reduction.strength == 0.3
        assert updated.audio.output.voice == "voice_custom_1"
        start = events.mark()
        wrong_type = {"type": "session.update", "session": {"type": "realtime", "max_output_tokens": "5"}}
        await connection.send(wrong_type)  # type: ignore[arg-type]  # deliberately not what the SDK types allow
        assert (await events.next("error", start)).error.param == "session.max_output_tokens"  # "5" is not 5


async def test_stop_lets_the_callers_cancellation_through() -> None:
    server = LocalRealtimeServer(ServerConfig(speech=False))
    await server.start()
    stopping = asyncio.get_running_loop().create_task(server.stop())
    await asyncio.sleep(0)  # stop() is now waiting for uvicorn to shut down
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    await server.stop()  # a second stop finishes the shutdown
    assert server._serve_task is None
