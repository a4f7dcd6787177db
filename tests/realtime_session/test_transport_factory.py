"""Which transport a session's setting builds (nothing connects here), and the WebSocket URL it uses."""

from __future__ import annotations

import pytest

from audio.transports.factory import AutoTransport, transport_factory
from audio.transports.transport import TransportCallbacks
from audio.transports.webrtc import WebRtcTransport
from audio.transports.websocket import WebSocketTransport, websocket_url
from audio.wire.config import SessionConfig

CALLBACKS = TransportCallbacks(on_message=lambda message: None, on_state=lambda link, channel: None,
                               on_closed=lambda reason, error: None)


@pytest.mark.parametrize(("setting", "kind", "name"), [
    ("webrtc", WebRtcTransport, "WebRTC"),
    ("websocket", WebSocketTransport, "WebSocket"),
    ("auto", AutoTransport, "WebRTC"),  # tries WebRTC first; named after what it currently uses
])
def test_the_transport_setting_chooses_the_transport(setting: str, kind: type, name: str) -> None:
    notices: list[str] = []
    config = SessionConfig.build(base_url="http://127.0.0.1:9", transport=setting)
    transport = transport_factory(config, notices.append)(CALLBACKS)
    assert isinstance(transport, kind) and transport.name == name
    assert notices == []


@pytest.mark.parametrize(("base_url", "url"), [
    ("http://127.0.0.1:8789", "ws://127.0.0.1:8789/v1/realtime?model=gpt-realtime"),
    ("https://api.openai.com/", "wss://api.openai.com/v1/realtime?model=gpt-realtime"),
    ("api.example.com", "wss://api.example.com/v1/realtime?model=gpt-realtime"),
])
def test_websocket_url_follows_the_base_urls_scheme(base_url: str, url: str) -> None:
    assert websocket_url(base_url, "gpt-realtime") == url
