"""What the app needs of a flow engine, and the real one: tests hand the app a scripted engine instead."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from audio.base.pubsub import EventHub
from flow.events import FlowEvent
from flow.model import Flow
from flow.options import RunOptions

if TYPE_CHECKING:
    from audio.base.registry import AudioRegistry


class EngineLike(Protocol):
    """What the app needs of a flow engine (``flow.engine.FlowEngine`` fits)."""

    events: EventHub[FlowEvent]
    registry: AudioRegistry

    @property
    def running(self) -> bool: ...

    def request_start(self) -> None: ...

    async def run(self) -> bool: ...

    async def stop(self) -> None: ...

    def reset(self) -> None: ...


EngineFactory = Callable[[Flow, RunOptions], EngineLike]


def default_engine_factory(flow: Flow, options: RunOptions) -> EngineLike:
    from audio.base.registry import AudioRegistry
    from flow.engine import FlowEngine

    return FlowEngine(flow, registry=AudioRegistry(), options=options)
