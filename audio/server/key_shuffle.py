"""A test mode of the local server: server events written with their keys in random order, plus unknown keys.

JSON key order carries no meaning (RFC 8259), and a client must skip keys it
does not know: independent Realtime servers write ``type`` last (pydantic dumps
fields in declaration order) and add fields of their own. With
``ServerConfig(shuffle_keys=True)`` (``serve-realtime --shuffle-keys``) every
event of a call, at every level, has its keys shuffled by a seeded random
source, and about half of its objects get an extra key no client knows, so a
client that reads ``type`` from a fixed place, or rejects unknown keys, fails
its tests against this server. Audio payloads and other values are left as they are.
"""

from __future__ import annotations

import json
import random
from typing import Any

UNKNOWN_VALUES: tuple[Any, ...] = (None, 0, 1.5, "", "unknown", True, [], [1, {"x_unknown": None}], {"x_unknown": {}})


class KeyShuffler:
    """Encodes events for one call; the same seed and events give the same text."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)
        self._extras = 0

    def encode(self, event: dict[str, Any]) -> str:
        return json.dumps(self._shuffled(event))

    def _shuffled(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._shuffled(item) for item in value]
        if not isinstance(value, dict):
            return value
        items = [(key, self._shuffled(item)) for key, item in value.items()]
        if self._rng.random() < 0.5:
            self._extras += 1
            items.append((f"x_unknown_{self._extras}", self._rng.choice(UNKNOWN_VALUES)))
        self._rng.shuffle(items)
        return dict(items)
