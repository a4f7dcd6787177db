"""An offline stand-in for OpenAI's Realtime service (same HTTP, WebRTC and WebSocket protocol), for tests, demos and CI.

``voxflow serve-realtime`` and the in-process local provider: HTTP and WebSocket routes (``app``), one call
and its collaborators (``calls``), replies (echo, lines, rule scripts with tool calls), server VAD, and
misbehaviour on demand (``config.FaultConfig``). Its names load on first use, so the CLI does not pull
in aiortc, uvicorn or the speech engines until a server starts.

    server = LocalRealtimeServer(ServerConfig(port=0, reply="echo"))
    await server.start(); ...; await server.stop()

May import: ``audio.base``, ``audio.dsp``, ``audio.speech``, ``audio.transports``, ``audio.wire``.
Public names: ``__all__`` below; other packages import these names only.
"""

from __future__ import annotations

from audio.base.exports import lazy_exports

_HOMES = {
    "Call": "calls",
    "CallClosed": "events",
    "CallOpened": "events",
    "CallState": "calls",
    "FaultConfig": "config",
    "LocalRealtimeServer": "app",
    "looks_like_rules": "tool_script",
    "read_script": "replies",
    "ServerConfig": "config",
    "ServerEvent": "events",
    "ToolScript": "tool_script",
    "TurnRecognized": "events",
}

__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
