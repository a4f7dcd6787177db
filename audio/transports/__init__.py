"""How a session reaches a Realtime service: the transport seam, WebRTC, WebSocket, secrets and HTTP.

The ``RealtimeTransport`` protocol the session core talks to, its two implementations and the
``auto`` factory, the receive path's adaptive jitter handling, the aiortc tracks, ephemeral secrets,
the service's HTTP calls, and the user-space link impairment tests use.

May import: ``audio.base``, ``audio.dsp``, ``audio.wire``.
Public names: ``__all__`` below; other packages import these names only.
"""

from __future__ import annotations

from audio.base.exports import lazy_exports

_HOMES = {
    "attach": "adaptive_receive",
    "AudioPaths": "transport",
    "DirectSecretProvider": "secrets",
    "EphemeralSecret": "secrets",
    "host_of": "service_http",
    "Impairment": "impairment",
    "LinkPlan": "impairment",
    "LinkStats": "transport",
    "LinkStatsSource": "transport",
    "RealtimeTransport": "transport",
    "SecretProvider": "secrets",
    "ServiceRefused": "service_http",
    "SourceTrack": "tracks",
    "TokenServiceProvider": "secrets",
    "TrackPump": "tracks",
    "transport_factory": "factory",
    "TransportCallbacks": "transport",
    "TransportFactory": "transport",
}

__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
