"""Clock control as /_lab/clock exposes it: one command, one view, refusals with codes."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from shared import clockctl
from shared.clock import SystemClock, VirtualClock
from shared.clockctl import ClockCommand
from shared.errors import BadRequest, Conflict

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("cmd", "now"),
    [
        (ClockCommand(advance="30d"), T0 + timedelta(days=30)),
        (ClockCommand(advance="PT15M"), T0 + timedelta(minutes=15)),
        (ClockCommand(to="2026-03-01T00:00:00+00:00"), datetime(2026, 3, 1, tzinfo=UTC)),
        (ClockCommand(to=T0.isoformat()), T0),
    ],
)
async def test_apply_moves_a_virtual_clock(cmd: ClockCommand, now: datetime) -> None:
    """An advance or a target instant moves the clock there and the view shows the new time."""
    clock = VirtualClock(T0)
    view = await clockctl.apply(clock, cmd)
    assert clock.now() == now
    assert (view.kind, view.now, view.rate) == ("virtual", now.isoformat(), 0.0)


async def test_apply_sets_the_rate() -> None:
    """A rate command changes the speed of the clock without moving it."""
    clock = VirtualClock(T0)
    view = await clockctl.apply(clock, ClockCommand(rate=60.0))
    assert clock.rate == view.rate == 60.0
    assert abs(clock.now() - T0) < timedelta(hours=1)


async def test_view_shows_the_next_deadline() -> None:
    """The view names the earliest instant a sleeper waits for."""
    clock = VirtualClock(T0)
    task = asyncio.create_task(clock.sleep_until(T0 + timedelta(days=2)))
    clock.track(task)
    view = await clockctl.apply(clock, ClockCommand(advance="1d"))
    assert view.next_deadline == (T0 + timedelta(days=2)).isoformat()
    await clockctl.apply(clock, ClockCommand(advance="1d"))
    assert await task is True


@pytest.mark.parametrize(
    ("cmd", "code"),
    [
        (ClockCommand(), "invalid_clock_command"),
        (ClockCommand(advance="1d", rate=2.0), "invalid_clock_command"),
        (ClockCommand(advance="soon"), "invalid_duration"),
        (ClockCommand(to="tomorrow"), "invalid_instant"),
        (ClockCommand(to="2026-03-01T00:00:00"), "invalid_instant"),
        (ClockCommand(rate=-1.0), "invalid_rate"),
        (ClockCommand(rate=1e9), "invalid_rate"),
    ],
)
async def test_apply_refuses_bad_commands(cmd: ClockCommand, code: str) -> None:
    """Not exactly one action, or an unreadable value, is a BadRequest with its code; time does not move."""
    clock = VirtualClock(T0)
    with pytest.raises(BadRequest) as caught:
        await clockctl.apply(clock, cmd)
    assert caught.value.code == code
    assert clock.now() == T0


async def test_apply_refuses_to_go_back() -> None:
    """An instant before now is a Conflict clock_backwards (409)."""
    clock = VirtualClock(T0)
    with pytest.raises(Conflict) as caught:
        await clockctl.apply(clock, ClockCommand(to="2025-12-31T00:00:00+00:00"))
    assert (caught.value.code, caught.value.http_status) == ("clock_backwards", 409)


async def test_the_system_clock_is_not_controllable() -> None:
    """The system clock cannot be advanced: Conflict clock_not_controllable."""
    with pytest.raises(Conflict) as caught:
        await clockctl.apply(SystemClock(), ClockCommand(advance="1d"))
    assert caught.value.code == "clock_not_controllable"


@pytest.mark.parametrize(
    ("data", "ok"),
    [(b'{"advance": "30d"}', True), (b'{"rate": 86400}', True), (b'{"warp": 1}', False), (b"{", False)],
)
def test_decode_command(data: bytes, ok: bool) -> None:
    """Commands decode strictly: unknown fields and malformed JSON are invalid_clock_command."""
    if ok:
        assert isinstance(clockctl.decode_command(data), ClockCommand)
    else:
        with pytest.raises(BadRequest) as caught:
            clockctl.decode_command(data)
        assert caught.value.code == "invalid_clock_command"
