"""Binding a listening TCP socket before a server starts, so a bad address is a VoxflowError.

uvicorn reports a port in use by logging and exiting with status 3; both
servers voxflow ships (the local Realtime server and the token service) bind
the socket themselves first and hand it to uvicorn, so the user sees one
line saying what is wrong and what to change instead.
"""

from __future__ import annotations

import socket

from audio.base.errors import VoxflowError


def bind_listener(host: str, port: int, *, service: str, backlog: int = 128) -> socket.socket:
    """A non-blocking socket listening on ``host:port`` (port 0: any free port) for ``service``."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError as error:
        sock.close()
        raise VoxflowError(
            f"The {service} cannot listen on {host}:{port} ({error.strerror or error}).",
            hint="Pick another --port (0 for any free port), or a --host address this machine has.",
        ) from None
    sock.setblocking(False)
    return sock
