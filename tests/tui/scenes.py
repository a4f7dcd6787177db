"""Scenes the snapshot tests photograph: each puts a fresh app into one state through its
public entry points (engine events, a published scripted session), frozen in time."""

from __future__ import annotations

from textual.pilot import Pilot

from audio.session.events import ConnectionInfo, SessionErrorEvent, SessionState, StateChanged, TimerTick
from flow.events import EdgeState, EdgeStateChanged, NodeEvent, NodeStatus, NodeStatusChanged

from .fakes import ScriptedSession, conversation_script


def _running(app) -> None:  # type: ignore[no-untyped-def]
    for node_id in ("mic", "talk", "speaker", "preview"):
        app.on_flow_event(NodeStatusChanged(node_id, NodeStatus.RUNNING, 1.0))
    for edge in ("mic.audio->talk.audio-in", "talk.audio-out->speaker.audio", "talk.transcript->preview.text"):
        app.on_flow_event(EdgeStateChanged(edge, EdgeState.FLOWING, 1.0))


async def settle(pilot: Pilot) -> None:  # type: ignore[type-arg]
    pilot.app.paint()
    await pilot.pause()
    pilot.app.paint()
    await pilot.pause()


async def idle(pilot: Pilot) -> None:  # type: ignore[type-arg]
    await settle(pilot)


async def mid_conversation(pilot: Pilot) -> None:  # type: ignore[type-arg]
    app = pilot.app
    _running(app)
    session = ScriptedSession()
    app.on_flow_event(NodeEvent("talk", session, 1.0))
    session.publish(*conversation_script())
    await settle(pilot)


async def last_minute(pilot: Pilot) -> None:  # type: ignore[type-arg]
    await mid_conversation(pilot)
    session = pilot.app.session
    session.publish(TimerTick(elapsed=3545.0, remaining=55.0, warning=True))
    await settle(pilot)


async def error_state(pilot: Pilot) -> None:  # type: ignore[type-arg]
    app = pilot.app
    _running(app)
    session = ScriptedSession()
    app.on_flow_event(NodeEvent("talk", session, 1.0))
    session.publish(
        StateChanged(SessionState.CONNECTING),
        ConnectionInfo(ice_state="failed", datachannel_state="closed", provider="local", model="gpt-realtime", voice="marin", vad="server_vad"),
        SessionErrorEvent("the Realtime service refused the call (HTTP 500)", code="server_error", fatal=True),
        StateChanged(SessionState.ERROR, "the Realtime service refused the call (HTTP 500): press r to try again"),
    )
    app.on_flow_event(NodeStatusChanged("talk", NodeStatus.ERROR, 2.0, "realtime session failed: the Realtime service refused the call (HTTP 500)"))
    app.on_flow_event(NodeStatusChanged("speaker", NodeStatus.CANCELLED, 2.0, "upstream node 'talk' failed"))
    app.main.nodes_panel.table.move_cursor(row=1)
    await settle(pilot)


async def help_screen(pilot: Pilot) -> None:  # type: ignore[type-arg]
    await pilot.press("question_mark")
    await settle(pilot)
