"""Follows a realtime session's user turns from its public events: is one still open, was one lost?

The session core publishes what the service says (speech started/stopped,
transcript items, responses, playback). Runs need two questions answered from
that stream, and both the realtime node (when may a finished input end the
session?) and the headless runner (did the run lose a turn?) ask them, so they
live here once and depend on nothing but the events:

* a user turn is **open** from the service's "speech started" until its
  transcription is final and an assistant reply follows it in the
  conversation (or no reply is expected);
* a run **lost** a turn when, at its end, the last user turn is still pending,
  got no reply, or was still being spoken, or when any earlier user turn was
  never transcribed or got no reply before the next one (a reconnection in
  the middle of a run must not hide a turn it lost). A turn whose reply the
  person cut off by speaking again (the response ended ``cancelled``, or the
  tool call it made was cancelled) was not lost: the person moved on.
"""

from __future__ import annotations

from dataclasses import dataclass

from audio.session.events import (
    ResponseDone,
    SpeechStarted,
    SpeechStopped,
    TranscriptCleared,
    TranscriptEntry,
    TranscriptUpdated,
)
from audio.session.transcript_format import clock_text
from audio.session.transcript_order import TranscriptOrder


@dataclass(frozen=True)
class OpenTurn:
    """Why a user turn still counts as open, as a clause (``the user turn at 00:19 got no reply``)."""

    entry: TranscriptEntry | None
    text: str


class TurnTracker:
    """Subscribe it to ``session.events`` (it is callable); ask :meth:`open_turn` and :meth:`lost_turn`."""

    def __init__(self, *, expect_reply: bool = True, expect_transcript: bool = True) -> None:
        self.expect_reply = expect_reply
        self.expect_transcript = expect_transcript
        self.speaking = False
        self.heard_speech = False
        self._order = TranscriptOrder()
        self._entries: dict[str, TranscriptEntry] = {}
        self._last_stopped: str | None = None  # the user item whose speech ended last
        self._spoken_over: set[str] = set()  # user items whose reply the person cancelled by speaking again

    def __call__(self, event: object) -> None:
        if isinstance(event, SpeechStarted):
            self.speaking = self.heard_speech = True
        elif isinstance(event, SpeechStopped):
            self.speaking = False
            self._last_stopped = event.item_id
        elif isinstance(event, ResponseDone):
            if event.status == "cancelled" and self._last_stopped is not None:
                self._spoken_over.add(self._last_stopped)
        elif isinstance(event, TranscriptUpdated):
            self._order.place(event.entry.item_id, event.index)
            self._entries[event.entry.item_id] = event.entry
            if event.entry.role == "user":
                self.heard_speech = True
        elif isinstance(event, TranscriptCleared):
            self._order.clear()
            self._entries.clear()
            self._spoken_over.clear()
            self._last_stopped = None
            self.speaking = self.heard_speech = False

    # -- questions ------------------------------------------------------------------

    def entries(self) -> list[TranscriptEntry]:
        return [self._entries[item_id] for item_id in self._order]

    def entry(self, item_id: str) -> TranscriptEntry | None:
        """The latest snapshot of one turn (None: not seen)."""
        return self._entries.get(item_id)

    def last_user_turn(self) -> TranscriptEntry | None:
        for entry in reversed(self.entries()):
            if entry.role == "user":
                return entry
        return None

    def replied(self, entry: TranscriptEntry) -> bool:
        """Whether an assistant item follows this user item in the conversation."""
        order = self._order.as_list()
        after = order[order.index(entry.item_id) + 1:]
        return any(self._entries[item_id].role == "assistant" for item_id in after)

    def open_turn(self) -> OpenTurn | None:
        """The user turn that has not been transcribed and answered yet, or None."""
        last = self.last_user_turn()
        if self.speaking:
            return OpenTurn(None, "the user was still speaking")
        if last is None:
            return None
        if self.expect_transcript and (last.pending or not last.final):
            return OpenTurn(last, f"the user turn at {clock_text(last.start)} was not transcribed")
        if self.expect_reply and not self.replied(last):
            return OpenTurn(last, f"the user turn at {clock_text(last.start)} got no reply")
        return None

    def replied_before_next(self, entry: TranscriptEntry) -> bool:
        """Whether an assistant item follows this user item before the next user item."""
        order = self._order.as_list()
        for item_id in order[order.index(entry.item_id) + 1:]:
            after = self._entries[item_id]
            if after.role == "assistant":
                return True
            if after.role == "tool" and after.tool is not None and after.tool.status == "cancelled":
                return True  # the service answered with a call, and the person cut in on it: they moved on
            if after.role == "user":
                return False
        return False

    def lost_turn(self) -> str | None:
        """One line naming the turn a finished run lost, or None when every turn was answered."""
        turn = self.open_turn()
        if turn is not None:
            return turn.text
        users = [entry for entry in self.entries() if entry.role == "user"]
        for entry in users[:-1]:  # the last one is open_turn's
            if self.expect_transcript and (entry.pending or not entry.final):
                return f"the user turn at {clock_text(entry.start)} was not transcribed"
            if self.expect_reply and not self.replied_before_next(entry) and entry.item_id not in self._spoken_over:
                return f"the user turn at {clock_text(entry.start)} got no reply"
        return None



def expects_reply(session: object) -> bool:
    """Whether the service answers each user turn by itself (``create_response``; push-to-talk asks)."""
    vad = getattr(getattr(session, "config", None), "vad", None)
    return bool(getattr(vad, "create_response", True))


def expects_transcript(session: object) -> bool:
    """Whether user turns get transcribed at all (``transcription_model: null`` turns it off)."""
    config = getattr(session, "config", None)
    return config is None or bool(getattr(config, "transcription_model", True))


def tracker_for(session: object) -> TurnTracker:
    """A tracker that expects of this session's turns what its configuration promises."""
    return TurnTracker(expect_reply=expects_reply(session), expect_transcript=expects_transcript(session))
