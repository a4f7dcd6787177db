"""The terminal as Textual's writer thread writes to it: losing the terminal never blocks the app.

Textual's Linux driver hands every screen update to a writer thread through a
queue of 30; once it is full the app's own thread waits. Writing to
``sys.__stderr__`` blocks while the terminal reads nothing (a stalled SSH link,
a full pty) and raises once it hung up, which kills the writer thread; either
way the queue fills and the app stops for good, with its session open and its
microphone live (issue #26: a ``tmux kill-window`` left it running for minutes).

So the screen goes through a file description of its own, opened
non-blocking, and two rules bound every write:

- a hung-up terminal (``EIO``) is *lost*: nothing is written any more and
  ``on_lost`` is called once (the app quits);
- after :meth:`cut_off` (a quit signal), a write the terminal cannot take
  within the grace period *abandons* the terminal: later writes are dropped
  at once, so the quit never waits on a terminal that is not reading. A
  terminal that keeps up still gets everything, the restored screen included.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import time
from collections.abc import Callable
from typing import TextIO

log = logging.getLogger(__name__)

POLL_SLICE = 0.05
"""How long a write waits for the terminal between looks at the cut-off (seconds)."""


class TerminalOutput:
    """A file-like that Textual's ``WriterThread`` writes to (``write``, ``flush``, ``fileno``)."""

    def __init__(self, stream: TextIO, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.encoding = getattr(stream, "encoding", None) or "utf-8"
        self.clock = clock
        self.on_lost: Callable[[], None] | None = None  # called once, from the writer thread
        self.lost = False  # the terminal hung up: nothing more is written
        self.abandoned = False  # past the cut-off the terminal did not keep up: nothing more is written
        self.deadline: float | None = None  # set by cut_off; a signal handler sets it, so it is one assignment
        self._fd: int | None = None
        self._own_fd = False

    # -- what the writer thread calls -----------------------------------------

    def write(self, text: str) -> int:
        if self.lost or self.abandoned:
            return len(text)
        data = memoryview(text.encode(self.encoding, "replace"))
        fd = self._open()
        while data:
            try:
                written = os.write(fd, data)
            except BlockingIOError:
                if not self._wait_writable(fd):
                    self.abandoned = True
                    log.info("the terminal stopped reading after the quit signal: the screen is no longer drawn")
                    break
                continue
            except OSError as error:
                self._lose(error)
                break
            data = data[written:]
        return len(text)

    def flush(self) -> None:
        """Nothing is buffered here: ``write`` goes straight to the terminal."""

    def fileno(self) -> int:
        return self.stream.fileno()

    def isatty(self) -> bool:
        return self.stream.isatty()

    # -- what the app calls -----------------------------------------------------

    def cut_off(self, grace: float) -> None:
        """Wait no more than ``grace`` seconds from now for the terminal (safe in a signal handler)."""
        if self.deadline is None:
            self.deadline = self.clock() + grace

    def close(self) -> None:
        """Close the description this output opened (after the writer thread stopped)."""
        fd, self._fd = self._fd, None
        if fd is not None and self._own_fd:
            os.close(fd)

    # -- inside -------------------------------------------------------------------

    def _open(self) -> int:
        """A non-blocking description of the terminal of our own (O_NONBLOCK on the shared one would reach the shell)."""
        if self._fd is not None:
            return self._fd
        fd = self.stream.fileno()
        flags = os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
        paths = (_tty_name(fd), f"/proc/self/fd/{fd}") if os.isatty(fd) else ()
        for path in filter(None, paths):
            try:
                self._fd, self._own_fd = os.open(path, flags), True
                return self._fd
            except OSError:
                continue
        self._fd, self._own_fd = fd, False  # not a terminal (or not reopenable): blocking writes on the stream's own
        return fd

    def _wait_writable(self, fd: int) -> bool:
        """Wait for room in the terminal; False once the cut-off has passed without it."""
        while True:
            wait = POLL_SLICE
            if self.deadline is not None:
                left = self.deadline - self.clock()
                if left <= 0:
                    return False
                wait = min(wait, left)
            poller = select.poll()
            poller.register(fd, select.POLLOUT)
            if poller.poll(wait * 1000):
                return True

    def _lose(self, error: OSError) -> None:
        self.lost = True
        if error.errno not in (errno.EIO, errno.EPIPE, errno.ENXIO, errno.EBADF):  # info: a warning would go to stderr, the terminal
            log.info("writing to the terminal failed (%s): the screen is no longer drawn", error)
        if self.on_lost is not None:
            self.on_lost()


def _tty_name(fd: int) -> str | None:
    try:
        return os.ttyname(fd)
    except OSError:
        return None
