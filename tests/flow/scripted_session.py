"""A test-only node that publishes a scripted stand-in for a realtime session.

It carries an EventHub like the real session and replays a fixed list of
session events, so front ends (headless runner, TUI) can be tested on exactly
the same stream without a network.
"""

from __future__ import annotations

import asyncio
import json

from audio.base.errors import VoxflowError
from audio.base.pubsub import EventHub
from audio.session.events import (
    ConnectionInfo,
    PttState,
    SessionEvent,
    SessionState,
    StateChanged,
    TranscriptEntry,
    TranscriptUpdated,
)
from audio.session.live import LiveSession
from flow.nodes.base import PULSE, Node, NodeContext, NodeSettings, Port, PortType


class ScriptedTranscript:
    def __init__(self) -> None:
        self.lines: dict[str, str] = {}

    def to_jsonl(self) -> str:
        return "".join(json.dumps({"item_id": key, "text": text}) + "\n" for key, text in self.lines.items())

    def to_markdown(self, title: str = "Transcript") -> str:
        return f"# {title}\n\n" + "".join(f"{text}\n\n" for text in self.lines.values())


class ScriptedSession:
    """Replays a script; implements ``LiveSession`` (user actions are refused: nobody is at the keys)."""

    def __init__(self) -> None:
        self.events: EventHub[SessionEvent] = EventHub()
        self.state = SessionState.IDLE
        self.reason: str | None = None
        self.connection_info = ConnectionInfo()
        self.transcript = ScriptedTranscript()

    def publish(self, event: SessionEvent) -> None:
        if isinstance(event, StateChanged):
            self.state, self.reason = event.state, event.reason
        elif isinstance(event, TranscriptUpdated):
            self.transcript.lines[event.entry.item_id] = f"{event.entry.role}: {event.entry.text}"
        self.events.publish(event)

    def mute(self) -> None:
        raise VoxflowError("a scripted session has no microphone")

    def unmute(self) -> None:
        raise VoxflowError("a scripted session has no microphone")

    async def ptt_toggle(self) -> PttState:
        raise VoxflowError("a scripted session has no microphone")

    async def send_text(self, text: str) -> None:
        raise VoxflowError("a scripted session takes no typed turns")

    async def disconnect(self, reason: str | None = None) -> None:
        self.publish(StateChanged(SessionState.DISCONNECTED, reason or "disconnected"))


_: type[LiveSession] = ScriptedSession


def conversation_script() -> list[SessionEvent]:
    """Connect, a user turn whose transcription lands after the reply, then a clean end."""
    user_pending = TranscriptEntry("item_u1", "user", "", final=False, start=1.0, pending=True)
    return [
        StateChanged(SessionState.CONNECTING),
        StateChanged(SessionState.CONNECTED),
        TranscriptUpdated(user_pending, 0),
        TranscriptUpdated(TranscriptEntry("item_a1", "assistant", "You said", final=False, start=2.0), 1),
        TranscriptUpdated(TranscriptEntry("item_a1", "assistant", "You said: hello world", final=True, start=2.0, end=3.5), 1),
        TranscriptUpdated(TranscriptEntry("item_u1", "user", "hello world", final=True, start=1.0, end=1.8), 0),
        StateChanged(SessionState.DISCONNECTED, "input finished"),
    ]


class ScriptedSessionSettings(NodeSettings):
    fail_with: str | None = None


class ScriptedSessionNode(Node):
    type_name = "test-scripted-session"
    Settings = ScriptedSessionSettings
    outputs = (Port("transcript", PortType.TEXT), Port("done", PortType.PULSE))
    script: list[SessionEvent] = []

    async def run(self, ctx: NodeContext) -> None:
        assert isinstance(self.settings, ScriptedSessionSettings)
        session = ScriptedSession()
        ctx.publish(session)
        lines: dict[str, str] = {}
        for event in ScriptedSessionNode.script:
            session.publish(event)
            if isinstance(event, TranscriptUpdated):
                lines[event.entry.item_id] = f"{event.entry.role}: {event.entry.text}"
                ctx.emit("transcript", "\n".join(lines.values()))
            await asyncio.sleep(0)
        if self.settings.fail_with:
            session.publish(StateChanged(SessionState.ERROR, self.settings.fail_with))
            raise VoxflowError(self.settings.fail_with)
        ctx.emit("done", PULSE)
