"""Audio registry: live streams travel along edges by reference, not by value.

A source registers its stream and passes ``AudioEdgeData(type="stream",
stream_id=...)`` downstream; a consumer looks the stream up. ``unregister``
stops the stream before forgetting it, ``clear`` stops them all (flow reset or
exit). A "stream" is any object with a ``stop()`` method; ``stop`` may be a
plain or an async function.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
from typing import Any, Protocol, runtime_checkable

from audio.base.errors import VoxflowError

log = logging.getLogger(__name__)


@runtime_checkable
class Stoppable(Protocol):
    def stop(self) -> Any: ...


class AudioRegistry:
    """Maps stream ids to live streams and owns stopping them."""

    def __init__(self, prefix: str = "stream") -> None:
        self._streams: dict[str, Stoppable] = {}
        self._ids = itertools.count(1)
        self._prefix = prefix

    def register(self, stream: Stoppable, *, hint: str = "") -> str:
        """Store ``stream`` and return a new unique id (``hint`` makes ids readable)."""
        if not isinstance(stream, Stoppable):
            raise TypeError(f"{type(stream).__name__} has no stop() method")
        label = f"{hint}-" if hint else ""
        stream_id = f"{self._prefix}-{label}{next(self._ids)}"
        self._streams[stream_id] = stream
        return stream_id

    def get(self, stream_id: str) -> Any:
        try:
            return self._streams[stream_id]
        except KeyError:
            raise VoxflowError(
                f"audio stream {stream_id!r} is not registered (it was stopped or never started)",
                hint="Run the flow again so the upstream audio node registers a fresh stream.",
            ) from None

    def has(self, stream_id: str) -> bool:
        return stream_id in self._streams

    def ids(self) -> list[str]:
        return list(self._streams)

    def __len__(self) -> int:
        return len(self._streams)

    def unregister(self, stream_id: str) -> bool:
        """Stop and forget one stream; returns False when it was not registered."""
        stream = self._streams.pop(stream_id, None)
        if stream is None:
            return False
        _stop(stream_id, stream)
        return True

    def clear(self) -> None:
        """Stop every stream (in registration order) and empty the registry."""
        streams, self._streams = self._streams, {}
        for stream_id, stream in streams.items():
            _stop(stream_id, stream)


_pending_stops: set[asyncio.Task[None]] = set()


def _stop(stream_id: str, stream: Stoppable) -> None:
    try:
        result = stream.stop()
    except Exception:  # one broken stream must not keep the others running
        log.exception("stopping audio stream %s failed", stream_id)
        return
    if inspect.isawaitable(result):
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(_await(result))
        else:
            # asyncio holds tasks weakly: keep it until done so the stop cannot vanish half-way
            task = loop.create_task(_await(result), name=f"stop {stream_id}")
            _pending_stops.add(task)
            task.add_done_callback(_pending_stops.discard)


async def _await(result: Any) -> None:
    try:
        await result
    except Exception:
        log.exception("stopping an audio stream failed")


default_registry = AudioRegistry()
"""The process-wide registry; pass your own ``AudioRegistry`` to isolate tests."""
