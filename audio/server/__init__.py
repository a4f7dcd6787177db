"""An offline stand-in for OpenAI's Realtime service (same HTTP, WebRTC and WebSocket protocol), for tests and demos.

    server = LocalRealtimeServer(ServerConfig(port=0, reply="echo"))
    await server.start(); ...; await server.stop()

See ``app.py`` (HTTP and WebSocket routes), ``calls.py`` (one call and its
collaborators) and ``config.py`` (``ServerConfig`` and ``FaultConfig``:
misbehaviour on demand). The names below load on first use, so importing a
light module such as ``session_config`` (the token service validates GA
session objects with it) does not pull in aiortc, uvicorn or the speech engines.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audio.server.app import LocalRealtimeServer
    from audio.server.calls import Call, CallState
    from audio.server.config import FaultConfig, ServerConfig

__all__ = ["Call", "CallState", "FaultConfig", "LocalRealtimeServer", "ServerConfig"]

_HOMES = {"LocalRealtimeServer": "app", "Call": "calls", "CallState": "calls", "FaultConfig": "config",
          "ServerConfig": "config"}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
