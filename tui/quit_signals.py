"""SIGHUP and SIGTERM (and a lost terminal) as clean quits of the app.

A dropped SSH connection or a closed tmux/screen window sends SIGHUP and a
service manager sends SIGTERM; by default either kills the process mid-write.
Instead the app quits as if ``ctrl+q`` were pressed: sessions stop, files are
completed and devices are released. A second request while quitting is
ignored (the first quit is already doing the work).

The handler is a plain ``signal.signal`` one, not ``loop.add_signal_handler``:
asyncio only runs its callbacks once the loop gets control, and when the
terminal is gone the app's thread may be stuck handing the screen to it. A
Python handler runs on that thread even while it waits on a lock, so
``at_once`` (the app stops waiting for the terminal) runs right away and the
quit itself is queued on the loop with ``call_soon_threadsafe`` (as
``asyncio.Runner`` does for ctrl+c).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any

QUIT_SIGNALS = (signal.SIGHUP, signal.SIGTERM)


class QuitSignals:
    """Routes the quit signals, and :meth:`request` from any thread, to one ``quit()`` on the running loop."""

    def __init__(self, quit: Callable[[], Awaitable[object]], at_once: Callable[[], None] | None = None) -> None:
        self.quit = quit
        self.at_once = at_once  # runs in the signal handler: must be quick and take no lock
        self.task: asyncio.Task[object] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._previous: dict[signal.Signals, Any] = {}

    def install(self) -> None:
        """Handle the quit signals from now on (call on the running loop, in the main thread)."""
        self._loop = asyncio.get_running_loop()
        for sig in QUIT_SIGNALS:
            try:
                self._previous[sig] = signal.signal(sig, self._on_signal)
            except (ValueError, OSError):
                continue  # not the main thread, or no such signal here

    def remove(self) -> None:
        """Give the signals back their previous handlers."""
        for sig, handler in self._previous.items():
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)  # None: set outside Python
        self._previous.clear()

    def request(self) -> None:
        """Quit as a quit signal would; safe from any thread and from a signal handler."""
        if self.at_once is not None:
            self.at_once()
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._start)
        except RuntimeError:
            pass  # the loop is already closed: the app is gone

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.request()

    def _start(self) -> None:
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self._run(), name="quit on signal")

    async def _run(self) -> object:
        return await self.quit()
