"""When the person spoke a turn, on the session clock, from what the service's turn detection says.

``input_audio_buffer.speech_started`` carries ``audio_start_ms`` and
``speech_stopped`` ``audio_end_ms``: positions in the input audio the
connection has sent, whose 0 is its first input frame (a renewal or
reconnection starts over). :meth:`~audio.session.media.MediaPaths.input_time`
says when the frame at such a position was sent. The service documents that
the start includes the prefix padding and the end the silence that closed the
turn; both are taken back out, so the turn spans the speech itself.

Without turn detection (push-to-talk, ``vad: disabled``) nobody measures the
speech: the turn spans the audio buffer, from when it was last emptied to the
commit.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from audio.wire.config import SEMANTIC_SILENCE_MS, ServerVad

MAX_OPEN = 64  # turns whose speech started but which were never committed are forgotten past this many

InputTime = Callable[[float], "float | None"]
"""Input audio position (ms on the live connection) -> the clock time it was sent (None: unknown)."""


def margins(turn_detection: Any) -> tuple[float, float]:
    """(prefix padding, closing silence) in ms that the service's speech boundaries include."""
    if not isinstance(turn_detection, dict):
        return 0.0, 0.0
    padding_ms: float = ServerVad.model_fields["prefix_padding_ms"].default
    if turn_detection.get("type") == "semantic_vad":
        silence_ms: float = SEMANTIC_SILENCE_MS.get(str(turn_detection.get("eagerness") or "auto"), SEMANTIC_SILENCE_MS["auto"])
    else:
        silence_ms = ServerVad.model_fields["silence_duration_ms"].default
    return _ms_or(turn_detection.get("prefix_padding_ms"), padding_ms), _ms_or(turn_detection.get("silence_duration_ms"), silence_ms)


class SpeechTimes:
    """The spoken span of each turn the service detected, in clock seconds, until its item is committed."""

    def __init__(self) -> None:
        self._spans: OrderedDict[str, list[float | None]] = OrderedDict()
        self._positions: dict[str, float] = {}  # where each open turn's speech began in the input audio (ms)

    def started(self, item_id: str, audio_start_ms: Any, turn_detection: Any, input_time: InputTime) -> None:
        if not _ms(audio_start_ms):
            return
        padding, _ = margins(turn_detection)
        # a start the padding could not reach back from (speech within the first padding ms) stays as given
        position = audio_start_ms + (padding if audio_start_ms > 0 else 0.0)
        at = input_time(position)
        if at is None:
            return
        self._spans[item_id] = [at, None]
        self._positions[item_id] = position
        while len(self._spans) > MAX_OPEN:
            old, _ = self._spans.popitem(last=False)
            self._positions.pop(old, None)

    def stopped(self, item_id: str, audio_end_ms: Any, turn_detection: Any, input_time: InputTime) -> None:
        span = self._spans.get(item_id)
        if span is None or span[0] is None or not _ms(audio_end_ms):
            return
        _, silence = margins(turn_detection)
        at = input_time(max(self._positions.get(item_id, 0.0), audio_end_ms - silence))
        if at is not None:
            span[1] = max(span[0], at)

    def take(self, item_id: str) -> tuple[float, float | None] | None:
        """The turn's (start, end) in clock seconds (end None: its speech has not stopped), forgotten once taken."""
        span = self._spans.pop(item_id, None)
        self._positions.pop(item_id, None)
        if span is None or span[0] is None:
            return None
        return span[0], span[1]

    def clear(self) -> None:
        """A new connection: a new input timeline."""
        self._spans.clear()
        self._positions.clear()


def _ms(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _ms_or(value: Any, default: float) -> float:
    return float(value) if _ms(value) else default
