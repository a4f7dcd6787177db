"""``--metrics HOST:PORT``: where the metrics and health endpoints listen; loopback unless told otherwise.

``9464`` and ``:9464`` mean ``127.0.0.1:9464``; an IPv6 host goes in brackets
(``[::1]:9464``). Listening on another address is allowed when it is written
out, since a scraper on another machine needs it.
"""

from __future__ import annotations

from dataclasses import dataclass

from audio.base.errors import VoxflowError

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class MetricsAddress:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_address(text: str, option: str = "--metrics") -> MetricsAddress:
    """``HOST:PORT``, ``:PORT`` or ``PORT`` (port 0: any free port); a :class:`VoxflowError` otherwise."""
    value = text.strip()
    host, port_text = LOOPBACK, value
    if value.startswith("["):
        end = value.find("]")
        if end < 0 or not value[end + 1:].startswith(":"):
            raise _bad(text, option)
        host, port_text = value[1:end], value[end + 2:]
    elif ":" in value:
        host, _, port_text = value.rpartition(":")
        host = host or LOOPBACK
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535 or not host:
        raise _bad(text, option)
    return MetricsAddress(host, int(port_text))


def _bad(text: str, option: str) -> VoxflowError:
    return VoxflowError(f"{option} {text!r} is not HOST:PORT", hint=f"For example: {option} 127.0.0.1:9464 (or just 9464 for loopback).")
