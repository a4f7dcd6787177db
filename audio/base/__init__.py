"""Shared primitives every other package may use: the clock, errors, the event hub, the stream registry.

The injectable clock (tests never sleep), ``VoxflowError`` (what a user can fix, in one or two lines), the
``EventHub`` front ends subscribe to, the registry of live audio streams and the edge data that names
them, secret redaction, listening sockets, and lazy package exports.

May import: nothing of voxflow (the standard library and numpy only).
Public names: ``__all__`` below; other packages import these names only.
"""

from __future__ import annotations

from audio.base.exports import lazy_exports

_HOMES = {
    "AudioEdgeData": "edge",
    "AudioRegistry": "registry",
    "bind_listener": "listen",
    "Clock": "clock",
    "configure": "log_format",
    "default_registry": "registry",
    "EventHub": "pubsub",
    "FakeClock": "clock",
    "journal_stream": "log_format",
    "lazy_exports": "exports",
    "redact": "redaction",
    "SdNotifier": "sd_notify",
    "SECRET_SHAPES": "redaction",
    "SystemClock": "clock",
    "VoxflowError": "errors",
    "watchdog_interval": "sd_notify",
}

__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
