"""Domain time: the virtual clock's ``advance`` (deadline order, settling, no going back) and the
scaled clock's arithmetic with an injected real clock. Saving and choosing: test_clock_state.py."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.clock import ClockError, ScaledClock, VirtualClock

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


class FakeReal:
    """A real-time source the test moves by hand (epoch seconds)."""

    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def start(clock: VirtualClock, coro: Coroutine[Any, Any, object]) -> asyncio.Task[object]:
    task: asyncio.Task[object] = asyncio.create_task(coro)
    clock.track(task)
    return task


async def stop(task: asyncio.Task[object]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


# -- VirtualClock.advance -----------------------------------------------------------------------


async def test_advance_wakes_sleepers_in_deadline_order_each_at_its_deadline() -> None:
    """Sleepers created out of order wake in deadline order, each seeing exactly its own deadline."""
    clock = VirtualClock(T0)
    seen: list[tuple[str, datetime]] = []

    async def sleeper(label: str, when: datetime) -> None:
        await clock.sleep_until(when)
        seen.append((label, clock.now()))

    deadlines = {"c": T0 + 3 * DAY, "a": T0 + DAY, "d": T0 + timedelta(days=3, hours=1), "b": T0 + 2 * DAY}
    tasks = [start(clock, sleeper(label, when)) for label, when in deadlines.items()]
    await clock.advance(10 * DAY)
    assert seen == sorted(deadlines.items(), key=lambda item: item[1])
    assert all(t.done() for t in tasks)
    assert clock.now() == T0 + 10 * DAY


async def test_advance_stops_at_its_target_and_leaves_later_sleepers_waiting() -> None:
    """Only deadlines up to the target fire; the next one is reported by next_deadline."""
    clock = VirtualClock(T0)
    fired: list[datetime] = []

    async def sleeper(when: datetime) -> None:
        await clock.sleep_until(when)
        fired.append(clock.now())

    tasks = [start(clock, sleeper(T0 + n * DAY)) for n in (1, 2, 3)]
    await clock.advance(timedelta(days=1, hours=12))
    assert fired == [T0 + DAY]
    assert clock.now() == T0 + timedelta(days=1, hours=12)
    assert clock.next_deadline() == T0 + 2 * DAY
    for t in tasks:
        await stop(t)


@pytest.mark.parametrize(
    "move",
    [
        pytest.param(lambda c: c.advance(timedelta(seconds=-1)), id="advance-negative"),
        pytest.param(lambda c: c.advance_to(T0 - timedelta(seconds=1)), id="advance_to-earlier"),
        pytest.param(lambda c: c.advance_to(T0 - 30 * DAY), id="advance_to-much-earlier"),
    ],
)
async def test_advance_refuses_to_go_backwards(move: Any) -> None:
    """Moving a clock backwards raises ClockError and leaves its time unchanged."""
    clock = VirtualClock(T0)
    with pytest.raises(ClockError, match="backwards"):
        await move(clock)
    assert clock.now() == T0


async def test_advance_to_now_is_allowed() -> None:
    """Advancing to the current instant is a no-op, not an error."""
    clock = VirtualClock(T0)
    await clock.advance_to(T0)
    assert clock.now() == T0


async def test_work_woken_at_a_deadline_completes_before_time_moves_on() -> None:
    """A woken task that keeps awaiting (yields, an event set by a helper) still observes its own deadline."""
    clock = VirtualClock(T0)
    log: list[tuple[str, datetime]] = []

    async def worker() -> None:
        await clock.sleep_until(T0 + DAY)
        for _ in range(50):  # far more loop turns than advance's own yields
            await asyncio.sleep(0)
        ready = asyncio.Event()

        async def helper() -> None:
            for _ in range(20):
                await asyncio.sleep(0)
            ready.set()

        helper_task = asyncio.create_task(helper())
        await ready.wait()
        await helper_task
        log.append(("worker", clock.now()))
        await clock.sleep_until(T0 + 100 * DAY)

    async def later() -> None:
        await clock.sleep_until(T0 + DAY + timedelta(seconds=1))
        log.append(("later", clock.now()))

    tasks = [start(clock, worker()), start(clock, later())]
    await clock.advance(5 * DAY)
    assert log == [("worker", T0 + DAY), ("later", T0 + DAY + timedelta(seconds=1))]
    for t in tasks:
        await stop(t)


async def test_periodic_loop_fires_twelve_times_in_a_year() -> None:
    """A 30-day loop advanced by 365 days fires at days 30, 60, ..., 360 and waits for day 390."""
    clock = VirtualClock(T0)
    fired: list[datetime] = []

    async def loop() -> None:
        while True:
            await clock.sleep_until(clock.now() + 30 * DAY)
            fired.append(clock.now())

    task = start(clock, loop())
    await clock.advance(365 * DAY)
    assert fired == [T0 + 30 * k * DAY for k in range(1, 13)]
    assert clock.next_deadline() == T0 + 390 * DAY
    await stop(task)


@pytest.mark.parametrize(("interrupt_it", "expected"), [(True, False), (False, True)])
async def test_sleep_until_returns_false_when_interrupted(interrupt_it: bool, expected: bool) -> None:
    """sleep_until returns False when its interrupt event is poked, True when the deadline is reached."""
    clock = VirtualClock(T0)
    event = asyncio.Event()
    task = start(clock, clock.sleep_until(T0 + DAY, interrupt=event))
    await asyncio.sleep(0)
    if interrupt_it:
        clock.poke(event)
    else:
        await clock.advance(2 * DAY)
    assert await asyncio.wait_for(task, timeout=5) is expected
    assert clock.now() == (T0 if interrupt_it else T0 + 2 * DAY)


async def test_sleep_until_with_an_event_already_set_returns_false_at_once() -> None:
    """An interrupt that is already set ends the sleep before the deadline without moving time."""
    clock = VirtualClock(T0)
    event = asyncio.Event()
    event.set()
    assert await asyncio.wait_for(clock.sleep_until(T0 + DAY, interrupt=event), timeout=5) is False


# -- ScaledClock ---------------------------------------------------------------------------------


def test_scaled_clocks_with_the_same_triple_agree() -> None:
    """Two scaled clocks built from one (epoch, anchor, rate) and one real source read the same time."""
    real = FakeReal(1_000.0)
    a = ScaledClock(epoch=T0, anchor=900.0, rate=60.0, real=real)
    b = ScaledClock(epoch=T0, anchor=900.0, rate=60.0, real=real)
    assert a.now() == b.now() == T0 + timedelta(seconds=100 * 60)
    real.t += 7.5
    assert a.now() == b.now() == T0 + timedelta(seconds=107.5 * 60)


@pytest.mark.parametrize(
    ("rate", "per_real_second"),
    [(0.0, timedelta(0)), (1.0, timedelta(seconds=1)), (60.0, timedelta(minutes=1)), (86400.0, DAY)],
)
def test_rate_maps_one_real_second_to_domain_time(rate: float, per_real_second: timedelta) -> None:
    """At rate R one real second is R domain seconds (86400: one day)."""
    real = FakeReal()
    clock = ScaledClock(epoch=T0, rate=rate, real=real)
    assert clock.now() == T0
    real.t += 1
    assert clock.now() == T0 + per_real_second


def test_set_rate_keeps_now_continuous() -> None:
    """Changing the rate does not jump the time; only the speed after the change differs."""
    real = FakeReal()
    clock = ScaledClock(epoch=T0, rate=1.0, real=real)
    real.t += 10
    before = clock.now()
    clock.set_rate(86400.0)
    assert clock.now() == before == T0 + timedelta(seconds=10)
    real.t += 1
    assert clock.now() == before + DAY
    assert clock.rate == 86400.0


def test_negative_rates_are_refused() -> None:
    """A clock cannot be built with, or set to, a negative rate."""
    with pytest.raises(ClockError):
        ScaledClock(epoch=T0, rate=-1.0)
    clock = ScaledClock(epoch=T0, rate=1.0, real=FakeReal())
    with pytest.raises(ClockError):
        clock.set_rate(-0.5)
    assert clock.rate == 1.0
