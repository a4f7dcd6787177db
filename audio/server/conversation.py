"""A call's conversation: its items in order, and the service's rules for retrieve, delete and truncate.

Rules (from the SDK's event docstrings, ``openai.types.realtime.conversation_item_*_event``):
a missing item is an error for retrieve, delete and truncate; only assistant
message items can be truncated, at a content part holding audio, and not past
the audio's duration; truncating deletes the server-side transcript (the user
never heard the rest). Items are announced with ``conversation.item.added``.
"""

from __future__ import annotations

from typing import Any

from audio.server.outbox import EventSink
from audio.wire.session_schema import ConfigError

ITEM_LIMIT = 1000  # items remembered (for previous_item_id, retrieve, delete, truncate)


class Conversation:
    def __init__(self, sink: EventSink) -> None:
        self._sink = sink
        self._items: dict[str, dict[str, Any]] = {}
        self._audio_ms: dict[str, int] = {}  # assistant item -> duration of its audio
        self.last_item_id: str | None = None

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def add(self, item: dict[str, Any], previous: str | None) -> None:
        self._items[item["id"]] = item
        while len(self._items) > ITEM_LIMIT:
            self._audio_ms.pop(self._items.pop(next(iter(self._items)))["id"], None)
        self.last_item_id = item["id"]
        self._sink.send("conversation.item.added", item=item, previous_item_id=previous)

    def get(self, item_id: Any) -> dict[str, Any]:
        item = self._items.get(item_id) if isinstance(item_id, str) else None
        if item is None:
            raise ConfigError("item_not_found", f"Item with item_id '{item_id}' not found.", "item_id")
        return item

    def set_audio_ms(self, item_id: str, ms: int) -> None:
        self._audio_ms[item_id] = ms

    def audio_ms(self, item_id: str) -> int:
        """The item's audio duration as the model knows it (a truncation shortens it)."""
        return self._audio_ms.get(item_id, 0)

    def retrieve(self, item_id: Any) -> None:
        self._sink.send("conversation.item.retrieved", item=self.get(item_id))

    def delete(self, item_id: Any) -> None:
        self.get(item_id)
        del self._items[item_id]
        self._audio_ms.pop(item_id, None)
        if self.last_item_id == item_id:
            self.last_item_id = next(reversed(self._items), None)
        self._sink.send("conversation.item.deleted", item_id=item_id)

    def truncate(self, item_id: Any, content_index: Any, audio_end_ms: Any) -> None:
        item = self.get(item_id)
        if item.get("type") != "message" or item.get("role") != "assistant":
            raise ConfigError("invalid_value", "Only assistant message items can be truncated.", "item_id")
        content = item.get("content") or []
        if isinstance(content_index, bool) or not isinstance(content_index, int) \
                or not 0 <= content_index < len(content) or content[content_index].get("type") != "output_audio":
            raise ConfigError("invalid_value", f"Invalid value for 'content_index': item '{item_id}' has no audio"
                              f" content part at index {content_index}.", "content_index")
        duration = self._audio_ms.get(item_id, 0)
        if isinstance(audio_end_ms, bool) or not isinstance(audio_end_ms, int) or not 0 <= audio_end_ms <= duration:
            raise ConfigError("invalid_value", f"Invalid value for 'audio_end_ms': must be between 0 and the"
                              f" audio's duration ({duration} ms).", "audio_end_ms")
        content[content_index]["transcript"] = ""
        self._audio_ms[item_id] = audio_end_ms
        self._sink.send("conversation.item.truncated", item_id=item_id, content_index=content_index,
                        audio_end_ms=audio_end_ms)
