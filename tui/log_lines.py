"""The headless runner's stderr lines as log records, for ``--log-format json`` and the journal.

The runner writes human lines (``voxflow: session talk: connected``) to a
text stream; with JSON logs or under systemd those lines must become records
like every other (one JSON object each, or a ``<4>`` priority prefix). This
stream turns each written line into a record of the ``voxflow.run`` logger,
at the level its words say: ``failed:`` is an error, ``warning:``, service
errors and interruptions are warnings, the rest is information.
"""

from __future__ import annotations

import io
import logging

PREFIX = "voxflow: "
log = logging.getLogger("voxflow.run")

_ERROR = ("failed:",)
_WARNING = ("warning:", "service error", "interrupted", "stopped by interrupt", "reached --max-duration")


def line_level(line: str) -> int:
    if line.startswith(_ERROR):
        return logging.ERROR
    if line.startswith(_WARNING) or ": reconnecting" in line or ": error" in line:
        return logging.WARNING
    return logging.INFO


class LoggedLines(io.TextIOBase):
    """A writable text stream: each complete line becomes one log record (``voxflow: `` dropped)."""

    def __init__(self, logger: logging.Logger = log) -> None:
        self._logger = logger
        self._pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self._pending += text
        *lines, self._pending = self._pending.split("\n")
        for line in lines:
            if line.strip():
                message = line[len(PREFIX):] if line.startswith(PREFIX) else line
                self._logger.log(line_level(message), message)
        return len(text)

    def flush(self) -> None:
        if self._pending.strip():
            pending, self._pending = self._pending, ""
            self.write(pending + "\n")
