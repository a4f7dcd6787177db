"""An offline stand-in for OpenAI's Realtime service (same HTTP + WebRTC protocol), for tests and demos.

    server = LocalRealtimeServer(ServerConfig(port=0, reply="echo"))
    await server.start(); ...; await server.stop()

See ``app.py`` (HTTP routes), ``calls.py`` (one call's conversation) and
``config.py`` (``ServerConfig`` and ``FaultConfig``: misbehaviour on demand).
"""

from __future__ import annotations

from audio.realtime.server.app import LocalRealtimeServer
from audio.realtime.server.calls import Call, CallState
from audio.realtime.server.config import FaultConfig, ServerConfig

__all__ = ["Call", "CallState", "FaultConfig", "LocalRealtimeServer", "ServerConfig"]
