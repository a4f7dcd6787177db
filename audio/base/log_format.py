"""How log lines look on stderr: human text (the default), JSON lines, and syslog priorities under systemd.

* ``text``: the lines people read today, unchanged.
* ``json`` (``--log-format json``): one object per line, ``{"time", "level",
  "logger", "event", ...fields}``; ``fields`` are whatever a call passed in
  ``extra=`` (plus ``error`` with the exception), so a log shipper indexes
  them without parsing prose.
* Under systemd, when stderr *is* the journal stream (``JOURNAL_STREAM``
  names stderr's device and inode), every line starts with its syslog
  priority (``<3>`` error, ``<4>`` warning, ``<6>`` info, ``<7>`` debug);
  journald strips it and files the line at that priority, so
  ``journalctl -p warning`` shows warnings and errors only.

Every message and string field passes :func:`audio.base.redaction.redact`
(and the run's own secrets) on the way out, so no key, ephemeral secret or
share token reaches a log, whichever logger wrote it.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

from audio.base.redaction import redact

FORMATS = ("text", "json")
OUR_LOGGERS = ("audio", "flow", "tui", "voxflow")
"""voxflow's own loggers (module names, and ``voxflow.*``): shown from INFO in JSON, from WARNING as text."""

RUN_LOGGER = "voxflow.run"
"""The headless runner's progress lines (``tui/log_lines.py``): shown in every format."""

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName"}


def syslog_priority(levelno: int) -> int:
    """The syslog priority journald files a record at: 3 error, 4 warning, 5 notice, 6 info, 7 debug."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


def journal_stream(stream: TextIO, env: Mapping[str, str] | None = None) -> bool:
    """Whether ``stream`` is connected to the journal (systemd sets ``JOURNAL_STREAM=dev:inode`` for it)."""
    value = (env if env is not None else os.environ).get("JOURNAL_STREAM", "")
    device, _, inode = value.partition(":")
    if not device.isdigit() or not inode.isdigit():
        return False
    try:
        stat = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (stat.st_dev, stat.st_ino) == (int(device), int(inode))


class _Redacting(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = (), *, priority: bool = False, fmt: str | None = None) -> None:
        super().__init__(fmt)
        self.secrets = tuple(s for s in secrets if s)
        self.priority = priority

    def clean(self, text: str) -> str:
        return redact(text, *self.secrets)

    def prefix(self, record: logging.LogRecord) -> str:
        return f"<{syslog_priority(record.levelno)}>" if self.priority else ""


class TextFormatter(_Redacting):
    """``voxflow: message`` (as the run's own lines read), with a priority prefix under the journal."""

    def format(self, record: logging.LogRecord) -> str:
        text = self.clean(super().format(record))
        prefix = self.prefix(record)
        return "\n".join(prefix + line for line in text.splitlines() or [""])


class JsonFormatter(_Redacting):
    """One JSON object per record; see the module docstring."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": _dt.datetime.fromtimestamp(record.created, _dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": self.clean(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_") and key not in body:
                body[key] = self._field(value)
        if record.exc_info and record.exc_info[0] is not None:
            body["error"] = self.clean(self.formatException(record.exc_info))
        return self.prefix(record) + json.dumps(body, ensure_ascii=False, default=lambda value: self.clean(repr(value)))

    def _field(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.clean(value)
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if isinstance(value, (list, tuple)):
            return [self._field(item) for item in value]
        if isinstance(value, dict):
            return {str(k): self._field(v) for k, v in value.items()}
        return self.clean(str(value))


def make_handler(log_format: str, stream: TextIO, *, secrets: Iterable[str] = (), journal: bool = False) -> logging.Handler:
    handler = logging.StreamHandler(stream)
    if log_format == "json":
        handler.setFormatter(JsonFormatter(secrets, priority=journal))
    else:
        handler.setFormatter(TextFormatter(secrets, priority=journal, fmt="voxflow: %(message)s"))
    return handler


def configure(log_format: str, stream: TextIO, *, secrets: Iterable[str] = (), env: Mapping[str, str] | None = None) -> logging.Handler:
    """Send every log record to ``stream`` in ``log_format``; returns the handler (remove it to undo)."""
    if log_format not in FORMATS:
        raise ValueError(f"unknown log format {log_format!r}")
    handler = make_handler(log_format, stream, secrets=secrets, journal=journal_stream(stream, env))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for name in OUR_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if log_format == "json" else logging.WARNING)
    logging.getLogger(RUN_LOGGER).setLevel(logging.INFO)  # a run's own progress lines, as people see them today
    return handler
