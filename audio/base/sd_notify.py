"""systemd's notify protocol without a dependency: one datagram to ``$NOTIFY_SOCKET`` per message.

Under ``Type=notify`` systemd waits for ``READY=1`` before it counts the unit
as started, shows ``STATUS=`` in ``systemctl status``, and with
``WatchdogSec=`` restarts the unit when ``WATCHDOG=1`` stops arriving (it
tells the interval through ``WATCHDOG_USEC``; ping at half of it). The socket
is a filesystem path or, starting with ``@``, a name in the abstract
namespace (a leading NUL byte). Outside systemd (no ``NOTIFY_SOCKET``)
there is no notifier and nothing is sent. A failed send is logged once, never
raised: a lost status line must not stop a kiosk.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)


def socket_address(value: str) -> str | bytes:
    """``@name`` (abstract namespace) as the kernel wants it: a leading NUL byte."""
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    return value


class SdNotifier:
    """Sends notify messages (``READY=1``, ``STATUS=...``, ``WATCHDOG=1``, ``STOPPING=1``) to one socket."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._socket: socket.socket | None = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._warned = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SdNotifier | None:
        """The notifier systemd asked for, or None when not started by systemd with ``Type=notify``."""
        address = (env if env is not None else os.environ).get("NOTIFY_SOCKET", "")
        return cls(address) if address else None

    def notify(self, *assignments: str) -> bool:
        """Send ``assignments`` (``"READY=1"``, ``"STATUS=connected"``) as one message; False when it failed."""
        if self._socket is None or not assignments:
            return False
        message = "\n".join(line.replace("\n", " ") for line in assignments).encode()
        try:
            self._socket.sendto(message, socket_address(self.address))
        except OSError as error:
            if not self._warned:
                self._warned = True
                log.warning("cannot notify systemd at %s (%s); going on without it", self.address, error.strerror or error)
            return False
        return True

    def close(self) -> None:
        sock, self._socket = self._socket, None
        if sock is not None:
            sock.close()


def watchdog_interval(env: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings (half of ``WATCHDOG_USEC``), or None when no watchdog is asked for.

    ``WATCHDOG_PID``, when set, must be this process (systemd sets it for the main process only).
    """
    env = env if env is not None else os.environ
    usec = env.get("WATCHDOG_USEC", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    owner = env.get("WATCHDOG_PID", "")
    if owner and owner != str(pid if pid is not None else os.getpid()):
        return None
    return int(usec) / 2 / 1_000_000
