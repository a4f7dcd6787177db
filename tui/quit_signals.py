"""SIGHUP and SIGTERM as clean quits of the app.

A dropped SSH connection sends SIGHUP and a service manager sends SIGTERM;
by default either kills the process mid-write. Instead the app quits as if
``ctrl+q`` were pressed: sessions stop, files are completed and devices are
released. A second signal while quitting is ignored (the first quit is
already doing the work).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

QUIT_SIGNALS = (signal.SIGHUP, signal.SIGTERM)


def install_quit_signals(quit: Callable[[], Awaitable[object]]) -> Callable[[], None]:
    """Route the quit signals to ``quit()`` on the running loop; returns the undo (a no-op if unsupported)."""
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[object]] = []

    async def run_quit() -> object:
        return await quit()

    def on_signal() -> None:
        if not tasks:
            tasks.append(loop.create_task(run_quit(), name="quit on signal"))

    installed = []
    for sig in QUIT_SIGNALS:
        try:
            loop.add_signal_handler(sig, on_signal)
        except (NotImplementedError, RuntimeError, ValueError):
            continue  # not the main thread, or no signals here
        installed.append(sig)

    def remove() -> None:
        for sig in installed:
            loop.remove_signal_handler(sig)

    return remove
