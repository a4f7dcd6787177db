"""A thin recorder around the SDK's WebSocket connection, for tests that wait on server events in order."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import numpy as np
from openai import AsyncOpenAI

WAIT = 20.0


def sdk(server: Any, key: str = "sk-test") -> AsyncOpenAI:
    return AsyncOpenAI(api_key=key, base_url=server.base_url + "/v1", max_retries=0)


class Recorder:
    """Every event received on ``connection``; ``next`` waits for the first of a type at or after an index."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection
        self.events: list[Any] = []

    @property
    def types(self) -> list[str]:
        return [event.type for event in self.events]

    def mark(self) -> int:
        return len(self.events)

    async def next(self, type: str, after: int = 0, timeout: float = WAIT) -> Any:
        async def loop() -> Any:
            position = after
            while True:
                while position < len(self.events):
                    if self.events[position].type == type:
                        return self.events[position]
                    position += 1
                self.events.append(await self.connection.recv())
        return await asyncio.wait_for(loop(), timeout)

    async def append(self, samples: np.ndarray) -> None:
        """Append 24 kHz PCM16 in 100 ms pieces, as a microphone would."""
        for start in range(0, len(samples), 2400):
            chunk = samples[start:start + 2400].astype("<i2").tobytes()
            await self.connection.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())
