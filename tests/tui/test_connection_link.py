"""The connection panel says which transport carries the session."""

from __future__ import annotations

from audio.session.events import ConnectionInfo
from tui.session_view import SessionView
from tui.widgets.connection_panel import link_text


def test_the_link_row_names_the_transport() -> None:
    view = SessionView()
    view.apply(ConnectionInfo(ice_state="completed", datachannel_state="open", transport="WebRTC"))
    assert link_text(view.transport, view.ice_state, view.datachannel_state) == "WebRTC · ICE completed · DC open"
    view.apply(ConnectionInfo(ice_state="connected", datachannel_state="open", transport="WebSocket"))
    assert link_text(view.transport, view.ice_state, view.datachannel_state) == "WebSocket open"
    assert link_text(None, "new", "closed") == "ICE new · DC closed"  # before a connection exists
