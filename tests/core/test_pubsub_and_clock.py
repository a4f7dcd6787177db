"""EventHub fan-out and the FakeClock that every timer test relies on."""

from __future__ import annotations

import asyncio

from audio.base.clock import FakeClock
from audio.base.pubsub import EventHub


async def test_callbacks_and_subscriptions_see_every_event_in_order() -> None:
    hub: EventHub[int] = EventHub()
    seen: list[int] = []
    remove = hub.add_callback(seen.append)
    sub = hub.subscribe()
    for i in range(3):
        hub.publish(i)
    remove()
    hub.publish(3)
    hub.close()
    assert seen == [0, 1, 2]
    assert [e async for e in sub] == [0, 1, 2, 3]


async def test_a_broken_callback_does_not_stop_others() -> None:
    hub: EventHub[str] = EventHub()
    seen: list[str] = []

    def broken(_: str) -> None:
        raise RuntimeError("subscriber bug")

    hub.add_callback(broken)
    hub.add_callback(seen.append)
    hub.publish("x")
    assert seen == ["x"]


async def test_slow_subscription_drops_oldest_and_counts() -> None:
    hub: EventHub[int] = EventHub()
    sub = hub.subscribe(maxsize=2)
    for i in range(5):
        hub.publish(i)
    assert sub.dropped == 3
    assert [await sub.get(1), await sub.get(1)] == [3, 4]


async def test_fake_clock_wakes_sleepers_in_deadline_order() -> None:
    clock = FakeClock()
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep(seconds)
        woke.append((name, clock.monotonic()))

    tasks = [asyncio.create_task(sleeper("late", 2.0)), asyncio.create_task(sleeper("early", 1.0))]
    await asyncio.sleep(0)
    await clock.advance(0.5)
    assert woke == []
    await clock.advance(2.0)
    assert woke == [("early", 1.0), ("late", 2.0)]
    assert clock.monotonic() == 2.5
    await asyncio.gather(*tasks)


async def test_fake_clock_handles_repeating_timers() -> None:
    clock = FakeClock()
    ticks: list[float] = []

    async def ticker() -> None:
        for _ in range(3):
            await clock.sleep(1.0)
            ticks.append(clock.monotonic())

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    await clock.advance(10)
    await task
    assert ticks == [1.0, 2.0, 3.0]
    assert clock.time() - clock.monotonic() == FakeClock().time()
