"""``bind_listener``: both servers bind their port themselves, so a port in use is one clear line."""

from __future__ import annotations

import socket

import pytest

from audio.base.errors import VoxflowError
from audio.base.listen import bind_listener


def test_port_zero_listens_on_a_free_port_that_accepts_connections() -> None:
    listener = bind_listener("127.0.0.1", 0, service="test service")
    try:
        port = listener.getsockname()[1]
        assert port > 0 and not listener.getblocking()
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        listener.close()


def test_a_port_in_use_is_a_voxflow_error_that_says_what_to_change() -> None:
    with socket.socket() as occupied:
        occupied.bind(("127.0.0.1", 0))
        occupied.listen()
        port = occupied.getsockname()[1]
        with pytest.raises(VoxflowError) as info:
            bind_listener("127.0.0.1", port, service="token service")
    assert f"The token service cannot listen on 127.0.0.1:{port}" in str(info.value)
    assert "--port" in str(info.value)
