"""Fixtures for session tests: a local Realtime server on loopback, sessions wired to it, an event log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import pytest

from audio.base.clock import Clock
from audio.base.registry import AudioRegistry
from audio.wire.config import SessionConfig
from audio.session.events import SessionEvent
from audio.transports.secrets import DirectSecretProvider
from audio.server import LocalRealtimeServer, ServerConfig
from audio.session.session import TASK_PREFIX, RealtimeSession
from audio.io.sources import FileSource, SilenceSource, ToneSource
from tests.real_speech import CARDS, shortest

WAIT = 20.0  # generous: two cores shared with other test runs


class SequenceSource:
    """Plays sources one after another (an utterance, then silence, ...)."""

    def __init__(self, *sources: Any) -> None:
        self._sources = list(sources)
        self.sample_rate = sources[0].sample_rate
        self.channels = sources[0].channels

    async def read(self) -> np.ndarray | None:
        while self._sources:
            frame = await self._sources[0].read()
            if frame is not None:
                return frame
            self._sources.pop(0)
        return None

    def stop(self) -> None:
        for source in self._sources:
            source.stop()
        self._sources.clear()


def utterance(then_silence: float | None = 30.0, rate: int = 48_000) -> SequenceSource:
    """A person saying "ten of clubs" (a real recording, 1.1 s), then silence."""
    parts: list[Any] = [FileSource(shortest(CARDS).path, sample_rate=rate, channels=1)]
    parts.append(SilenceSource(rate, 1, duration=then_silence))
    return SequenceSource(*parts)


def steady_tone(rate: int = 48_000) -> ToneSource:
    return ToneSource(440.0, -12.0, rate, 1)


class EventLog:
    """Every event a session published, with waiting helpers."""

    def __init__(self) -> None:
        self.events: list[SessionEvent] = []
        self._changed = asyncio.Event()

    def __call__(self, event: SessionEvent) -> None:
        self.events.append(event)
        self._changed.set()

    def of(self, kind: type) -> list[Any]:
        return [event for event in self.events if isinstance(event, kind)]

    async def wait(self, predicate: Callable[[], Any], timeout: float = WAIT) -> Any:
        async def loop() -> Any:
            while True:
                result = predicate()
                if result:
                    return result
                self._changed.clear()
                await self._changed.wait()

        return await asyncio.wait_for(loop(), timeout)

    async def wait_for(self, kind: type, where: Callable[[Any], bool] = lambda e: True, timeout: float = WAIT) -> Any:
        return await self.wait(lambda: next((e for e in self.of(kind) if where(e)), None), timeout)


@pytest.fixture
async def start_server() -> AsyncIterator[Callable[..., Any]]:
    servers: list[LocalRealtimeServer] = []

    async def start(**fields: Any) -> LocalRealtimeServer:
        server = LocalRealtimeServer(ServerConfig(speech=False, **fields))
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
def make_session(registry: AudioRegistry) -> Callable[..., tuple[RealtimeSession, EventLog]]:
    def make(
        server: LocalRealtimeServer, *, source: Any = None, clock: Clock | None = None, **config: Any
    ) -> tuple[RealtimeSession, EventLog]:
        session = RealtimeSession(
            SessionConfig.build(base_url=server.base_url, **config),
            secret_provider=DirectSecretProvider("sk-test-key", base_url=server.base_url),
            registry=registry,
            clock=clock,
            input_source=source,
        )
        log = EventLog()
        session.events.add_callback(log)
        return session, log

    return make


def our_tasks() -> list[str]:
    """Names of live tasks the session core or its tracks started."""
    names = (TASK_PREFIX, "SourceTrack", "TrackPump")
    return [
        task.get_name() for task in asyncio.all_tasks() if not task.done() and task.get_name().startswith(names)
    ]


async def assert_released(session: RealtimeSession, registry: AudioRegistry) -> None:
    """Nothing of the session is left: no registry entry, no task, no peer connection."""
    deadline = asyncio.get_running_loop().time() + 20  # a generous ceiling for a loaded CI machine
    while our_tasks() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    assert our_tasks() == []
    assert len(registry) == 0
    assert session.output_stream_id is None and session._transport is None
