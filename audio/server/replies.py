"""What the local assistant says: deterministic reply policies so tests can assert on text.

``echo`` says back what it heard, ``script`` reads the next line of a list
(starting over after the last), ``echo-audio`` answers like ``echo`` in text
while the call mirrors the caller's audio (see ``calls.py``).
"""

from __future__ import annotations

from typing import Protocol


class ReplyPolicy(Protocol):
    def reply(self, heard: str) -> str:
        """The assistant's text for a user turn whose words were ``heard``."""
        ...


class EchoReplies:
    def reply(self, heard: str) -> str:
        return f"You said: {heard}" if heard.strip() else "I heard nothing."


class ScriptReplies:
    """One reply per line, in order; a fresh instance (and so position) per call."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = [line.strip() for line in lines if line.strip()]
        self._next = 0

    def reply(self, heard: str) -> str:
        if not self._lines:
            return "The script is empty."
        line = self._lines[self._next % len(self._lines)]
        self._next += 1
        return line


def make_policy(name: str, script: list[str]) -> ReplyPolicy:
    if name == "script":
        return ScriptReplies(script)
    return EchoReplies()


def read_script(text: str) -> list[str]:
    """A script file: one reply per non-blank line."""
    return [line.strip() for line in text.splitlines() if line.strip()]
