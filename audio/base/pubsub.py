"""Typed events to any number of subscribers.

The flow engine and the realtime session core are plain asyncio objects that
publish events here; the TUI and the headless runner are two subscribers of the
same events. A subscriber is either a callback (called synchronously, in
publish order) or an async iterator fed through a bounded queue. A slow
iterator never blocks the publisher: when its queue is full the oldest event is
dropped and counted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

E = TypeVar("E")


class Subscription(Generic[E]):
    """An async iterator of events; ``close()`` (or ``async with``) ends it."""

    def __init__(self, hub: EventHub[E], maxsize: int) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[E | None] = asyncio.Queue(maxsize)
        self.dropped = 0
        self._closed = False

    def _offer(self, event: E | None) -> None:
        if self._closed and event is not None:
            return
        while True:
            try:
                self._queue.put_nowait(event)
                return
            except asyncio.QueueFull:
                self._queue.get_nowait()
                self.dropped += 1

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._hub._remove(self)
            self._offer(None)

    def __aiter__(self) -> Subscription[E]:
        return self

    async def __anext__(self) -> E:
        event = await self._queue.get()
        if event is None:
            raise StopAsyncIteration
        return event

    async def get(self, timeout: float | None = None) -> E:
        """Next event, for tests and simple consumers."""
        return await asyncio.wait_for(self.__anext__(), timeout)

    async def __aenter__(self) -> Subscription[E]:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


class EventHub(Generic[E]):
    """Fan-out of events to callbacks and async-iterator subscriptions."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[[E], None]] = []
        self._subscriptions: list[Subscription[E]] = []

    def publish(self, event: E) -> None:
        for callback in list(self._callbacks):
            try:
                callback(event)
            except Exception:  # a broken subscriber must not break the publisher
                log.exception("event subscriber %r failed", callback)
        for subscription in list(self._subscriptions):
            subscription._offer(event)

    def add_callback(self, callback: Callable[[E], None]) -> Callable[[], None]:
        """Register ``callback``; returns a function that unregisters it."""
        self._callbacks.append(callback)

        def remove() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)

        return remove

    def subscribe(self, maxsize: int = 4096) -> Subscription[E]:
        subscription: Subscription[E] = Subscription(self, maxsize)
        self._subscriptions.append(subscription)
        return subscription

    def close(self) -> None:
        """End every async-iterator subscription (callbacks stay registered)."""
        for subscription in list(self._subscriptions):
            subscription.close()

    def _remove(self, subscription: Subscription[E]) -> None:
        if subscription in self._subscriptions:
            self._subscriptions.remove(subscription)

    async def iterate(self) -> AsyncIterator[E]:
        async with self.subscribe() as sub:
            async for event in sub:
                yield event
