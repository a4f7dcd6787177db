"""Textual's Linux driver, made safe against a lost terminal (issue #26).

Two changes, both for a terminal that goes away under the app (``tmux
kill-window``, a closed screen window, a dropped SSH connection):

- The screen is written through a :class:`~tui.terminal_output.TerminalOutput`
  instead of ``sys.__stderr__``, so a hung-up or stalled terminal can never
  block the app's thread (see that module).
- Application mode is resumed only if it was suspended. When a terminal hangs
  up, the kernel sends its session leader SIGCONT along with SIGHUP, and
  Textual's SIGCONT handler restarts application mode whether or not it was
  suspended: a second writer thread (which dies on the dead terminal, after
  which the app blocks on its full queue: the 7-minute hang) and a second
  input thread. A real resume (``ctrl+z`` then ``fg``, ``App.suspend``) always
  follows :meth:`suspend_application_mode`, so it still works.

Textual gives no seam for where its writer thread writes, so the driver's
``_file`` (the stream ``start_application_mode`` hands to ``WriterThread``) is
replaced: the one Textual internal touched here, pinned by ``textual==8.2.8``.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, ClassVar

from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver

from tui.terminal_output import TerminalOutput

if TYPE_CHECKING:
    from textual.app import App

CLOSE_GRACE = 1.0
"""When the app leaves, how long the terminal may take to accept the restored screen (seconds)."""


class TerminalDriver(LinuxDriver):
    """Writes through :attr:`output`; resumes only what it suspended. Bind an output with :func:`driver_writing_to`."""

    output: ClassVar[TerminalOutput]

    def __init__(self, app: App[object], *, debug: bool = False, mouse: bool = True, size: tuple[int, int] | None = None) -> None:
        super().__init__(app, debug=debug, mouse=mouse, size=size)
        self._file = self.output  # type: ignore[assignment]  # where WriterThread writes (see the module docstring)
        self.suspended = False

    def suspend_application_mode(self) -> None:
        self.suspended = True
        super().suspend_application_mode()

    def resume_application_mode(self) -> None:
        """Resume after a suspend; ignore the SIGCONT that comes with a hang-up."""
        if not self.suspended:
            return
        self.suspended = False
        super().resume_application_mode()

    def close(self) -> None:
        """Stop the writer thread (bounded: the terminal gets ``CLOSE_GRACE`` to take the last writes), then the output."""
        self.output.cut_off(CLOSE_GRACE)
        super().close()
        self.output.close()


def driver_writing_to(output: TerminalOutput) -> type[Driver] | None:
    """A driver class that writes through ``output``; None where Textual would not use its Linux driver."""
    if sys.platform == "win32" or os.environ.get("TEXTUAL_DRIVER"):
        return None

    class BoundDriver(TerminalDriver):
        pass

    BoundDriver.output = output
    return BoundDriver
