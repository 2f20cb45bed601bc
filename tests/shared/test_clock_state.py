"""Saving clocks (dump_state / load_state / clock_from_state) and choosing one at start-up
(choose_clock): same timeline across restarts, and time never moves back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.clock import (
    ScaledClock,
    SystemClock,
    VirtualClock,
    choose_clock,
    clock_from_state,
    load_state,
)
from shared.clockstate import ClockState, dump_state

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)


def test_scaled_state_round_trips_through_json() -> None:
    """dump_state / load_state rebuild a scaled clock with the same timeline and rate."""
    clock = ScaledClock(epoch=T0, anchor=1_234.5, rate=3600.0)
    loaded = load_state(dump_state(clock))
    assert isinstance(loaded, ScaledClock)
    assert loaded.state() == clock.state() == ClockState("scaled", T0.timestamp(), 1_234.5, 3600.0)


async def test_virtual_state_round_trips_through_json() -> None:
    """A saved virtual clock comes back virtual, frozen at the instant it was saved."""
    clock = VirtualClock(T0)
    await clock.advance(42 * DAY)
    loaded = load_state(dump_state(clock))
    assert isinstance(loaded, VirtualClock)
    assert (loaded.kind, loaded.rate, loaded.now()) == ("virtual", 0.0, T0 + 42 * DAY)


def test_system_state_round_trips() -> None:
    """A saved system clock comes back as the system clock."""
    assert isinstance(load_state(dump_state(SystemClock())), SystemClock)
    assert isinstance(clock_from_state(ClockState("system", 0.0, 0.0, 1.0)), SystemClock)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not json",
        "[]",
        '"scaled"',
        '{"kind": "scaled"}',
        '{"kind": "warp", "epoch": 0, "anchor": 0, "rate": 1}',
        '{"kind": "scaled", "epoch": "soon", "anchor": 0, "rate": 1}',
        '{"kind": "scaled", "epoch": 0, "anchor": 0, "rate": -1}',
        '{"kind": "virtual", "epoch": 0, "anchor": 0, "rate": -1}',
    ],
)
def test_load_state_returns_none_for_text_that_is_not_a_saved_clock(text: str) -> None:
    """Unreadable or foreign text (or a corrupt negative rate) loads as None rather than raising."""
    assert load_state(text) is None


SAVED_AT = T0 + 100 * DAY


@pytest.mark.parametrize(
    ("kind", "rate", "begin"),
    [
        ("virtual", None, T0),
        ("virtual", 60.0, T0),
        ("scaled", None, T0),
        ("scaled", 86400.0, T0),
        (None, None, T0),
        (None, 5.0, None),
    ],
)
def test_choose_clock_never_starts_before_the_saved_clock(
    kind: Any, rate: float | None, begin: datetime | None
) -> None:
    """Whatever is asked (here a start before the saved time), the chosen clock is not behind the saved one."""
    saved = VirtualClock(SAVED_AT)
    clock = choose_clock(kind=kind, rate=rate, start=begin, anchor=None, saved=saved)
    assert clock.now() >= SAVED_AT
    assert clock.now() - SAVED_AT < timedelta(days=1)  # continued from the saved time, not from real now


def test_choose_clock_without_a_choice_continues_the_saved_clock() -> None:
    """With nothing explicit the saved clock itself is returned."""
    saved = VirtualClock(SAVED_AT)
    assert choose_clock(kind=None, rate=None, start=None, anchor=None, saved=saved) is saved


def test_choose_clock_honours_a_start_after_the_saved_clock() -> None:
    """An explicit start later than the saved time is used as is."""
    saved = VirtualClock(SAVED_AT)
    clock = choose_clock(kind="virtual", rate=None, start=SAVED_AT + DAY, anchor=None, saved=saved)
    assert (clock.kind, clock.now()) == ("virtual", SAVED_AT + DAY)


def test_choose_clock_system_is_not_behind_a_saved_future_clock() -> None:
    """Asking for the system clock while the saved clock is ahead of real time must not move time back."""
    saved = VirtualClock(datetime(2100, 1, 1, tzinfo=UTC))
    clock = choose_clock(kind="system", rate=None, start=None, anchor=None, saved=saved)
    assert clock.now() >= saved.now()


def test_choose_clock_keeps_the_virtual_kind_when_clamped() -> None:
    """A virtual clock asked with a rate and an early start stays virtual after being moved to the saved time."""
    saved = VirtualClock(SAVED_AT)
    clock = choose_clock(kind="virtual", rate=60.0, start=T0, anchor=None, saved=saved)
    assert clock.kind == "virtual"


def test_choose_clock_system_with_a_saved_clock_in_the_past_is_the_system_clock() -> None:
    """When the saved clock is behind real time, asking for the system clock gives the system clock."""
    saved = VirtualClock(datetime(2000, 1, 1, tzinfo=UTC))
    clock = choose_clock(kind="system", rate=None, start=None, anchor=None, saved=saved)
    assert isinstance(clock, SystemClock)


async def test_restore_goes_back_to_a_saved_instant_and_sleepers_count_from_there() -> None:
    """``restore`` is the one way back (a lab snapshot): to the instant the state had reached,
    keeping the clock's own rate; a sleeper's deadline is reached again by advancing from there;
    ``advance`` still refuses to go backwards."""
    import asyncio

    from shared.clock import ClockError

    clock = VirtualClock(T0)
    await clock.advance(10 * DAY)
    saved = clock.state()
    await clock.advance(20 * DAY)
    woke: list[datetime] = []

    async def sleeper() -> None:
        await clock.sleep_until(T0 + 31 * DAY)
        woke.append(clock.now())

    task = asyncio.create_task(sleeper())
    clock.track(task)
    await asyncio.sleep(0)
    await clock.restore(saved)
    assert (clock.now(), clock.rate) == (T0 + 10 * DAY, 0.0)
    await clock.advance(20 * DAY)
    assert woke == []
    await clock.advance(DAY)
    assert woke == [T0 + 31 * DAY]
    with pytest.raises(ClockError):
        await clock.advance_to(T0)
    await task


async def test_restore_keeps_the_session_s_rate() -> None:
    """A scaled clock restored to a state saved at another rate flows on at its own rate."""
    real = [1_000.0]
    clock = ScaledClock(epoch=T0 + 90 * DAY, anchor=1_000.0, rate=60.0, real=lambda: real[0])
    await clock.restore(ClockState("virtual", (T0 + DAY).timestamp(), 5.0, 0.0))
    assert clock.now() == T0 + DAY
    real[0] += 60
    assert clock.now() == T0 + DAY + timedelta(hours=1)


async def test_restoring_a_snapshot_s_clock() -> None:
    """clockctl: a snapshot re-anchors the clock so its saved state records the instant reached;
    restoring reads it back; the system clock, or a snapshot without a clock, is left alone."""
    from shared import clockctl

    real = [1_000.0]
    clock = ScaledClock(epoch=T0, anchor=1_000.0, rate=3600.0, real=lambda: real[0])
    real[0] += 24  # a day flowed since the last change
    clockctl.prepare_snapshot(clock)
    saved = dump_state(clock)
    real[0] += 240  # ten more days
    view = await clockctl.restore_snapshot(clock, saved)
    assert view is not None and view.now == (T0 + DAY).isoformat() and clock.rate == 3600.0
    assert await clockctl.restore_snapshot(clock, None) is None
    assert await clockctl.restore_snapshot(clock, "not a clock") is None
    assert await clockctl.restore_snapshot(SystemClock(), saved) is None
