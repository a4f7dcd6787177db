"""LiveSession: what front ends (the app, the headless runner, exporters) may use of a live session.

:class:`~audio.session.session.RealtimeSession` implements it, and so does
every test double; the front ends depend on this protocol only, and the type
check (``tests/test_typecheck.py``) keeps the doubles in step with the real
session. Actions that talk to the service are coroutines; local switches
(mute) are plain calls.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from audio.base.pubsub import EventHub
from audio.session.events import ConnectionInfo, PttState, SessionEvent, SessionState


class TranscriptExport(Protocol):
    """A transcript that can be written out (``audio/session/transcript.py``)."""

    def to_jsonl(self) -> str: ...

    def to_markdown(self, title: str = "Transcript") -> str: ...


@runtime_checkable
class LiveSession(Protocol):
    """A live conversation as the front ends see it: events out, user actions in."""

    @property
    def events(self) -> EventHub[SessionEvent]: ...

    @property
    def state(self) -> SessionState: ...

    @property
    def reason(self) -> str | None: ...

    @property
    def connection_info(self) -> ConnectionInfo: ...

    @property
    def transcript(self) -> TranscriptExport: ...

    def mute(self) -> None: ...

    def unmute(self) -> None: ...

    async def ptt_toggle(self) -> PttState: ...

    async def send_text(self, text: str) -> None: ...

    async def disconnect(self, reason: str | None = None) -> None: ...
