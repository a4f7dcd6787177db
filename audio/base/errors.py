"""The one error type a user can cause.

Every failure a user can fix (bad YAML, unknown device, missing key, a refused
service) is raised as :class:`VoxflowError` whose message says what is wrong and
what to do. Front ends print ``str(error)`` in one or two lines and exit
non-zero; they never show a traceback for it. Messages must never contain a
secret: build them from names and codes, not from request or config values.
"""

from __future__ import annotations


class VoxflowError(Exception):
    """A failure the user can act on; ``str()`` is the whole message."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message}\n{hint}")
