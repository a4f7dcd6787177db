"""One connection of a session: its media paths, its transport, its tasks, released as a whole.

A session may open several connections over its life (reconnect, renewal);
each one's resources live here, so releasing an old connection can never touch
the one that replaced it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any

from audio.base.errors import VoxflowError
from audio.session.media import MediaPaths
from audio.transports.transport import RealtimeTransport

log = logging.getLogger(__name__)

TASK_PREFIX = "voxflow-realtime"


@dataclass(eq=False)
class Connection:
    generation: int
    media: MediaPaths | None = None
    transport: RealtimeTransport | None = None
    created: asyncio.Event = field(default_factory=asyncio.Event)  # session.created arrived
    ended: asyncio.Event = field(default_factory=asyncio.Event)  # the transport ended (or we released it)
    end_reason: tuple[str, bool] | None = None  # (reason, error) as the transport reported it
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    cleanups: list[Callable[[], None]] = field(default_factory=list)  # hooks on media that may outlive it (handover)

    def transport_ended(self, reason: str, error: bool) -> None:
        self.end_reason = (reason, error)
        self.ended.set()

    async def wait_or_end(self, awaitable: Coroutine[Any, Any, Any]) -> None:
        """Wait for ``awaitable`` unless the transport ends first (then raise its reason)."""
        waiter = asyncio.ensure_future(awaitable)
        ended = asyncio.ensure_future(self.ended.wait())
        try:
            await asyncio.wait({waiter, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in (waiter, ended):
                if not future.done():
                    future.cancel()
            await asyncio.gather(waiter, ended, return_exceptions=True)
        if self.ended.is_set() and self.end_reason is not None:
            raise VoxflowError(self.end_reason[0])

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        """A task that lives as long as this connection (cancelled by :meth:`release`)."""
        task = asyncio.get_running_loop().create_task(coro, name=f"{TASK_PREFIX}-{name}")
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("realtime session task %s failed", task.get_name(), exc_info=task.exception())

    async def release(self) -> None:
        """Stop everything this connection opened: its hooks, tasks, transport, tracks, registry entry."""
        self.ended.set()
        cleanups, self.cleanups = self.cleanups, []
        for cleanup in cleanups:
            cleanup()
        current = asyncio.current_task()
        tasks = [task for task in self.tasks if task is not current]
        self.tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        transport, self.transport = self.transport, None
        if transport is not None:
            await transport.close()
        media, self.media = self.media, None
        if media is not None:
            await media.close()


async def release_shielded(conns: Iterable[Connection | None], pending: set[asyncio.Future[Any]]) -> None:
    """Release ``conns`` in a task kept in ``pending``: a cancelled caller stops waiting, the release goes on."""

    async def release_all() -> None:
        await asyncio.gather(*(conn.release() for conn in conns if conn is not None))

    release = asyncio.ensure_future(release_all())
    pending.add(release)
    release.add_done_callback(pending.discard)
    await asyncio.shield(release)
