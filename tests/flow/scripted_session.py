"""A test-only node that publishes a scripted stand-in for a realtime session.

It carries an EventHub like the real session and replays a fixed list of
session events, so front ends (headless runner, TUI) can be tested on exactly
the same stream without a network.
"""

from __future__ import annotations

import asyncio

from audio.pubsub import EventHub
from audio.realtime.events import (
    SessionEvent,
    SessionState,
    StateChanged,
    TranscriptEntry,
    TranscriptUpdated,
)
from flow.nodes.base import PULSE, Node, NodeContext, NodeSettings, Port, PortType


class ScriptedSession:
    def __init__(self) -> None:
        self.events: EventHub[SessionEvent] = EventHub()


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
            session.events.publish(event)
            if isinstance(event, TranscriptUpdated):
                lines[event.entry.item_id] = f"{event.entry.role}: {event.entry.text}"
                ctx.emit("transcript", "\n".join(lines.values()))
            await asyncio.sleep(0)
        if self.settings.fail_with:
            session.events.publish(StateChanged(SessionState.ERROR, self.settings.fail_with))
            from audio.errors import VoxflowError

            raise VoxflowError(self.settings.fail_with)
        ctx.emit("done", PULSE)
