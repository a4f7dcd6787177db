"""The realtime-conversation node in a flow run by the engine, against the in-process local server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from audio.base.errors import VoxflowError
from audio.session.events import SessionState
from audio.session.session import RealtimeSession
from flow.engine import FlowEngine
from flow.events import NodeEvent, NodeStatus
from flow.loader import load_flow_text
from flow.nodes.realtime import NO_KEY_MESSAGE, RealtimeConversationNode
from flow.options import RunOptions
from tests.realtime_session.conftest import assert_released

SPEECH = Path(__file__).parents[1] / "data" / "speech_how_are_you.wav"

FLOW = """
version: 1
name: Realtime node test
nodes:
  - id: persona
    type: text-input
    text: Answer in one short sentence.
  - id: talk
    type: realtime-conversation
    vad: {type: server_vad, silence_duration_ms: 400}
    max_duration: 5
  - id: preview
    type: preview-output
edges:
  - from: persona.text
    to: talk.instructions
  - from: talk.transcript
    to: preview.text
"""


@pytest.mark.slow
async def test_file_input_flow_runs_to_the_end(registry, tmp_path) -> None:
    flow = load_flow_text(FLOW, "test.yaml")
    engine = FlowEngine(flow, registry=registry, options=RunOptions(input_file=short_speech_wav(tmp_path / "in.wav")))
    published: list[object] = []
    engine.events.add_callback(lambda e: published.append(e.payload) if isinstance(e, NodeEvent) else None)
    ok = await asyncio.wait_for(engine.run(), 60)
    talk: RealtimeConversationNode = engine.nodes["talk"]  # type: ignore[assignment]
    assert ok, engine.reason("talk")
    assert engine.status("talk") is NodeStatus.DONE
    session = published[0]
    assert isinstance(session, RealtimeSession) and session is talk.session
    assert talk.provider_label == "local (no OPENAI_API_KEY)"
    assert session.connection_info.provider == "local (no OPENAI_API_KEY)"
    assert session.config.instructions == "Answer in one short sentence."
    assert session.config.max_duration == 5
    assert session.state is SessionState.DISCONNECTED
    assert talk.end_reason == "the input ended and the last reply was played"
    text = engine.nodes["preview"].latest
    lines = text.splitlines()
    assert lines[0].startswith("User: ") and lines[1].startswith("Assistant: You said:")
    assert engine.output("talk", "done") is not None
    await assert_released(session, registry)

    engine.reset()
    assert talk.transcript_text == "" and len(session.transcript) == 0


def node_task(node_id: str) -> asyncio.Task[object] | None:
    return next((t for t in asyncio.all_tasks() if t.get_name() == f"node {node_id}"), None)


def awaited_by(task: asyncio.Task[object] | None) -> set[str]:
    """The coroutines a suspended task is awaiting, outermost first, by qualified name."""
    names: set[str] = set()
    coro: object = task.get_coro() if task is not None else None
    while coro is not None:
        code = getattr(coro, "cr_code", None)
        if code is not None:
            names.add(code.co_qualname)
        coro = getattr(coro, "cr_await", None)
    return names


@pytest.mark.slow
async def test_unconnected_outputs_wait_for_a_manual_start(registry, tmp_path) -> None:
    flow = load_flow_text(
        "version: 1\nname: manual\nnodes:\n  - id: talk\n    type: realtime-conversation\n    provider: local\n",
        "manual.yaml",
    )
    options = RunOptions(input_file=short_speech_wav(tmp_path / "turn.wav"), max_duration=30)
    engine = FlowEngine(flow, registry=registry, options=options)
    sessions: list[RealtimeSession] = []
    engine.events.add_callback(lambda e: sessions.append(e.payload) if isinstance(e, NodeEvent) else None)
    run = asyncio.create_task(engine.run())

    async def parked_or_started() -> None:
        """Until the node's task is parked on its start event (or, wrongly, has published a session)."""
        while not sessions and not ({"RealtimeConversationNode.run", "Event.wait"} <= awaited_by(node_task("talk"))):
            await asyncio.sleep(0.02)
    await asyncio.wait_for(parked_or_started(), 20)
    assert sessions == [] and engine.status("talk") is NodeStatus.RUNNING
    engine.nodes["talk"].request_start()  # type: ignore[attr-defined]
    assert await asyncio.wait_for(run, 60)
    assert sessions[0].config.max_duration == 0.5 and sessions[0].provider_label == "local"
    await assert_released(sessions[0], registry)


async def test_openai_without_key_says_what_to_do(registry) -> None:
    flow = load_flow_text(FLOW, "test.yaml")
    engine = FlowEngine(flow, registry=registry, options=RunOptions(input_file=SPEECH, provider="openai"))
    assert not await asyncio.wait_for(engine.run(), 30)
    assert engine.reason("talk") == NO_KEY_MESSAGE
    assert len(registry) == 0


async def test_share_token_needs_a_token_service(registry) -> None:
    flow = load_flow_text(FLOW, "test.yaml")
    engine = FlowEngine(flow, registry=registry, options=RunOptions(input_file=SPEECH, share_token="vxs_x"))
    assert not await asyncio.wait_for(engine.run(), 30)
    assert "--token-service" in (engine.reason("talk") or "")


def test_bad_settings_are_rejected() -> None:
    with pytest.raises(VoxflowError):
        load_flow_text(FLOW.replace("max_duration: 5", "max_duration: 90"), "test.yaml")


def short_speech_wav(path: Path) -> Path:
    """A person saying "ten of clubs" (real recording, 1.1 s) then 1 s of silence: one short turn."""
    import numpy as np

    from audio.io.sinks import WavFileSink
    from tests.real_speech import CARDS, shortest

    clip = shortest(CARDS)
    sink = WavFileSink(path, clip.rate, 1)
    sink.write(np.concatenate([clip.load(), np.zeros(clip.rate, np.int16)]).reshape(-1, 1))
    sink.stop()
    return path


@pytest.mark.slow
async def test_openai_provider_follows_base_url(registry, start_server, tmp_path) -> None:
    """With a key and OPENAI_BASE_URL pointing at a Realtime service, the node mints and connects there."""
    server = await start_server(reply="script", script=["Done."])
    flow = load_flow_text(FLOW, "test.yaml")
    options = RunOptions(
        input_file=short_speech_wav(tmp_path / "turn.wav"), provider="openai", api_key="sk-test-key",
        base_url=server.base_url + "/v1",
    )
    engine = FlowEngine(flow, registry=registry, options=options)
    assert await asyncio.wait_for(engine.run(), 60), engine.reason("talk")
    talk = engine.nodes["talk"]
    assert talk.provider_label == "openai" and talk.session.config.base_url == server.base_url
    assert engine.nodes["preview"].latest.splitlines()[-1] == "Assistant: Done."
    assert len(server.calls) + len(server.ended_calls) == 1
    await assert_released(talk.session, registry)


AUDIO_FLOW = """
version: 1
name: Files in, files out
nodes:
  - id: mic
    type: audio-input
    source: file
    path: {speech}
  - id: talk
    type: realtime-conversation
    provider: local
    vad: {{type: server_vad, silence_duration_ms: 400}}
  - id: speaker
    type: audio-output
    sink: file
    path: {out}
  - id: preview
    type: preview-output
edges:
  - from: mic.audio
    to: talk.audio-in
  - from: talk.audio-out
    to: speaker.audio
  - from: talk.transcript
    to: preview.text
"""


@pytest.mark.slow
async def test_audio_file_flow_produces_reply_audio_and_transcript(registry, tmp_path) -> None:
    from audio.dsp.levels import rms_dbfs
    from audio.dsp.wavfile import WavReader

    out = tmp_path / "reply.wav"
    flow = load_flow_text(AUDIO_FLOW.format(speech=SPEECH, out=out), "files.yaml")
    recording = tmp_path / "conversation.wav"
    engine = FlowEngine(flow, registry=registry, options=RunOptions(record_path=recording))
    assert await asyncio.wait_for(engine.run(), 60), {n: engine.reason(n) for n in engine.nodes}
    assert all(engine.status(node) is NodeStatus.DONE for node in engine.nodes)
    lines = engine.nodes["preview"].latest.splitlines()
    assert lines[0].startswith("User: ") and lines[1].startswith("Assistant: You said:")
    with WavReader(out) as reader:
        reply = reader.read_all()
        assert reader.duration > 0.5
    assert rms_dbfs(reply) > -40  # the assistant's voice, not silence
    with WavReader(recording) as reader:
        stereo = reader.read_all()
    assert stereo.shape[1] == 2 and rms_dbfs(stereo[:, 0]) > -50 and rms_dbfs(stereo[:, 1]) > -50  # user, assistant
    await assert_released(engine.nodes["talk"].session, registry)


@pytest.mark.slow
async def test_service_refusal_fails_the_node_with_its_message(registry, start_server, tmp_path) -> None:
    from audio.server import FaultConfig

    server = await start_server(faults=FaultConfig(sdp_error_status=500))
    flow = load_flow_text(FLOW, "test.yaml")
    options = RunOptions(
        input_file=short_speech_wav(tmp_path / "turn.wav"), api_key="sk-test-key", base_url=server.base_url
    )
    engine = FlowEngine(flow, registry=registry, options=options)
    assert not await asyncio.wait_for(engine.run(), 30)
    assert engine.status("talk") is NodeStatus.ERROR
    reason = engine.reason("talk") or ""
    assert "refused the call (500)" in reason and "sk-test-key" not in reason
    assert engine.nodes["talk"].end_reason and engine.status("preview") is NodeStatus.CANCELLED
    assert len(registry) == 0


@pytest.mark.slow
async def test_endless_input_ends_with_the_capped_session(registry) -> None:
    flow = load_flow_text(
        """
version: 1
name: endless
nodes:
  - id: mic
    type: audio-input
    source: silence
  - id: talk
    type: realtime-conversation
    provider: local
  - id: preview
    type: preview-output
edges:
  - from: mic.audio
    to: talk.audio-in
  - from: talk.transcript
    to: preview.text
""",
        "endless.yaml",
    )
    engine = FlowEngine(flow, registry=registry, options=RunOptions(max_duration=2))
    assert await asyncio.wait_for(engine.run(), 30), {n: engine.reason(n) for n in engine.nodes}
    assert engine.nodes["talk"].end_reason == "maximum session duration (2 s) reached"
    assert engine.status("mic") is NodeStatus.DONE and len(registry) == 0


@pytest.mark.slow
async def test_the_flow_runs_to_the_end_over_websocket(registry, tmp_path) -> None:
    """``--transport websocket`` (RunOptions.transport) beats the flow's setting; the end is detected from
    the audio received (no output_audio_buffer.* over WebSocket)."""
    flow = load_flow_text(FLOW.replace("    max_duration: 5\n", "    max_duration: 5\n    transport: auto\n"), "ws.yaml")
    assert flow.nodes[1].settings.transport == "auto"  # type: ignore[attr-defined]
    options = RunOptions(input_file=short_speech_wav(tmp_path / "in.wav"), transport="websocket")
    engine = FlowEngine(flow, registry=registry, options=options)
    ok = await asyncio.wait_for(engine.run(), 60)
    talk: RealtimeConversationNode = engine.nodes["talk"]  # type: ignore[assignment]
    assert ok, engine.reason("talk")
    session = talk.session
    assert session.config.transport == "websocket" and session.connection_info.transport == "WebSocket"
    assert talk.end_reason == "the input ended and the last reply was played"
    lines = engine.nodes["preview"].latest.splitlines()
    assert lines[0].startswith("User: ") and lines[1].startswith("Assistant: You said:")
    await assert_released(session, registry)
