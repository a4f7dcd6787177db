"""Test doubles for the app: a scripted session (an event hub plus the methods the keys call)
and a flow of small node classes that run on the real FlowEngine.

The scripted session has no logic beyond recording calls and publishing the
events a test tells it to; the realtime stand-in node publishes it through
``ctx.publish`` exactly as the real ``realtime-conversation`` node does.
"""

from __future__ import annotations

import asyncio
import json
from typing import Literal

from audio.base.pubsub import EventHub
from audio.session.events import (
    ConnectionInfo,
    Levels,
    PttChanged,
    PttState,
    RateLimit,
    RateLimitsUpdated,
    ResponseDone,
    ResponseStarted,
    SessionEvent,
    SessionState,
    StateChanged,
    TimerTick,
    TranscriptEntry,
    TranscriptUpdated,
    TurnLatency,
    Usage,
    AssistantAudio,
    MuteChanged,
)
from flow.model import Edge, Flow, NodeSpec
from audio.session.live import LiveSession
from flow.nodes.base import Node, NodeContext, NodeSettings, Port, PortType


class ScriptedTranscript:
    def __init__(self) -> None:
        self.entries: dict[str, TranscriptEntry] = {}

    def to_jsonl(self) -> str:
        return "".join(json.dumps({"role": e.role, "text": e.text}) + "\n" for e in self.entries.values())

    def to_markdown(self, title: str = "Transcript") -> str:
        return "".join(f"**{e.role}**: {e.text}\n\n" for e in self.entries.values())


class ScriptedSession:
    """Publishes what the test says; records what the app asked of it. Implements ``LiveSession``."""

    def __init__(self) -> None:
        self.events: EventHub[SessionEvent] = EventHub()
        self.calls: list[tuple[str, tuple[object, ...]]] = []
        self.transcript = ScriptedTranscript()
        self.ptt = PttState.OFF
        self.state = SessionState.IDLE
        self.reason: str | None = None
        self.connection_info = ConnectionInfo()

    def publish(self, *events: SessionEvent) -> None:
        for event in events:
            if isinstance(event, TranscriptUpdated):
                self.transcript.entries[event.entry.item_id] = event.entry
            elif isinstance(event, StateChanged):
                self.state, self.reason = event.state, event.reason
            elif isinstance(event, ConnectionInfo):
                self.connection_info = event
            self.events.publish(event)

    async def ptt_toggle(self) -> PttState:
        self.calls.append(("ptt_toggle", ()))
        self.ptt = PttState.TALKING if self.ptt == PttState.OFF else PttState.OFF
        self.publish(PttChanged(self.ptt))
        return self.ptt

    def mute(self) -> None:
        self.calls.append(("mute", ()))
        self.publish(MuteChanged(True))

    def unmute(self) -> None:
        self.calls.append(("unmute", ()))
        self.publish(MuteChanged(False))

    async def send_text(self, text: str) -> None:
        self.calls.append(("send_text", (text,)))

    async def disconnect(self, reason: str | None = None) -> None:
        self.calls.append(("disconnect", ()))


_: type[LiveSession] = ScriptedSession  # mypy (tests/test_typecheck.py) checks the fake against the protocol


class AudioSettings(NodeSettings):
    source: Literal["microphone", "file"] = "file"
    path: str = "flows/audio/demo-user.wav"


class RealtimeSettings(NodeSettings):
    voice: str = "marin"
    vad: Literal["server_vad", "semantic_vad", "disabled"] = "server_vad"
    provider: Literal["openai", "local"] | None = None  # as the real node: None leaves it to the key
    model: str = "gpt-realtime"


class SinkSettings(NodeSettings):
    sink: Literal["speaker", "file"] = "file"
    path: str = "out/demo-assistant.wav"


class FakeAudioInput(Node):
    type_name = "audio-input"
    Settings = AudioSettings
    outputs = (Port("audio", PortType.AUDIO),)

    async def run(self, ctx: NodeContext) -> None:
        ctx.emit("audio", "stream-mic-1")
        await asyncio.Event().wait()


class FakeRealtime(Node):
    """Publishes a fresh ScriptedSession (available as ``FakeRealtime.last``) and runs until cancelled."""

    type_name = "realtime-conversation"
    Settings = RealtimeSettings
    inputs = (Port("audio-in", PortType.AUDIO, required=False),)
    outputs = (Port("audio-out", PortType.AUDIO), Port("transcript", PortType.TEXT))
    last: ScriptedSession | None = None

    async def run(self, ctx: NodeContext) -> None:
        session = ScriptedSession()
        FakeRealtime.last = session
        ctx.publish(session)
        ctx.emit("audio-out", "stream-assistant-2")
        await asyncio.Event().wait()


class FakeAudioOutput(Node):
    type_name = "audio-output"
    Settings = SinkSettings
    inputs = (Port("audio", PortType.AUDIO),)

    async def run(self, ctx: NodeContext) -> None:
        await asyncio.Event().wait()


class FakePreview(Node):
    type_name = "preview-output"
    inputs = (Port("text", PortType.TEXT),)

    async def run(self, ctx: NodeContext) -> None:
        async for _ in ctx.watch("text"):
            pass


def demo_like_flow() -> Flow:
    """The shape of flows/demo.yaml, built from the stand-in node classes."""
    nodes = (
        NodeSpec("mic", "audio-input", AudioSettings(), FakeAudioInput, label="User speech (WAV)"),
        NodeSpec("talk", "realtime-conversation", RealtimeSettings(provider="local"), FakeRealtime, label="Conversation"),
        NodeSpec("speaker", "audio-output", SinkSettings(), FakeAudioOutput, label="Assistant audio"),
        NodeSpec("preview", "preview-output", NodeSettings(), FakePreview, label="Transcript"),
    )
    edges = (
        Edge("mic", "audio", "talk", "audio-in", PortType.AUDIO),
        Edge("talk", "audio-out", "speaker", "audio", PortType.AUDIO),
        Edge("talk", "transcript", "preview", "text", PortType.TEXT),
    )
    return Flow(name="demo", nodes=nodes, edges=edges, description="scripted")


def entry(item_id: str, role: Literal["user", "assistant"], text: str, start: float, *, final: bool = True, pending: bool = False) -> TranscriptEntry:
    return TranscriptEntry(item_id=item_id, role=role, text=text, final=final, start=start, end=start + 2 if final else None, pending=pending)


def conversation_script() -> list[SessionEvent]:
    """A short conversation: connect, a user turn (transcribed late), an assistant reply streamed word by word."""
    events: list[SessionEvent] = [
        StateChanged(SessionState.CONNECTING),
        ConnectionInfo(ice_state="checking", datachannel_state="connecting", provider="local", model="gpt-realtime", voice="marin", vad="server_vad"),
        ConnectionInfo(ice_state="completed", datachannel_state="open", call_id="rtc_0123456789abcdef", provider="local", model="gpt-realtime", voice="marin", vad="server_vad"),
        StateChanged(SessionState.CONNECTED),
        TimerTick(elapsed=3.0, remaining=3597.0, warning=False),
        TranscriptUpdated(entry("u1", "user", "", 1.0, final=False, pending=True), 0),
        ResponseStarted("resp_1"),
    ]
    reply = "Hello! I am the local stand-in server. What would you like to talk about today?"
    words = reply.split(" ")
    for n in range(1, len(words) + 1):
        events.append(TranscriptUpdated(entry("a1", "assistant", " ".join(words[:n]), 3.5, final=False), 1))
    events += [
        TranscriptUpdated(entry("u1", "user", "Hello, can you hear me?", 1.0), 0),
        TranscriptUpdated(entry("a1", "assistant", reply, 3.5), 1),
        AssistantAudio(playing=True, response_id="resp_1"),
        TurnLatency(0.42),
        Levels(input_rms_dbfs=-24.0, input_peak_dbfs=-12.0, output_rms_dbfs=-18.0, output_peak_dbfs=-6.0),
        ResponseDone("resp_1", "completed", usage=Usage(120, 80, 200), total_usage=Usage(120, 80, 200)),
        RateLimitsUpdated((RateLimit("requests", 100, 99, 60.0),)),
        TranscriptUpdated(entry("u2", "user", "Tell me about voxflow", 9.0, final=False), 2),
        TimerTick(elapsed=12.0, remaining=3588.0, warning=False),
    ]
    return events
