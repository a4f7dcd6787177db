"""Which transport a session uses: the factories the session core calls for each new connection."""

from __future__ import annotations

from audio.realtime.config import SessionConfig
from audio.realtime.transport import RealtimeTransport, TransportCallbacks, TransportFactory


def webrtc_factory(config: SessionConfig) -> TransportFactory:
    def make(callbacks: TransportCallbacks) -> RealtimeTransport:
        from audio.realtime.webrtc import WebRtcTransport  # aiortc: imported when a session connects

        return WebRtcTransport(config.base_url, callbacks, ice_servers=config.ice_servers)

    return make
