"""Clock control as both processes expose it (``GET/POST /_lab/clock``): one request shape, one
answer shape, one implementation.

Pure apart from driving the given clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

import msgspec

from shared import wire
from shared.clock import AnyClock, ClockError, ClockRangeError, ScaledClock
from shared.clockstate import parse_state
from shared.durations import parse_duration
from shared.errors import BadRequest, Conflict
from shared.limits import WINDOW_FIX, check_instant


class ClockCommand(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """Exactly one of: advance by a duration, advance to an instant, or set the rate."""

    advance: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    to: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    rate: float | None = None


class ClockView(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    now: str
    rate: float
    epoch: float
    anchor: float
    next_deadline: str | None


def view(clock: AnyClock) -> ClockView:
    state = clock.state()
    nxt = clock.next_deadline()
    return ClockView(
        kind=state.kind,
        now=clock.now().isoformat(),
        rate=state.rate,
        epoch=state.epoch,
        anchor=state.anchor,
        next_deadline=nxt.isoformat() if nxt else None,
    )


def parse_instant(text: str) -> datetime:
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(
            f"cannot read the instant {text!r}",
            code="invalid_instant",
            fix="use ISO 8601 with a timezone, e.g. 2027-03-01T00:00:00+00:00",
        ) from None
    if when.tzinfo is None:
        raise BadRequest(f"the instant {text!r} has no timezone", code="invalid_instant", fix="add +00:00 (UTC)")
    return check_instant(when)


async def apply(clock: AnyClock, cmd: ClockCommand) -> ClockView:
    """Advance or rescale ``clock`` as ``cmd`` says; due work runs in deadline order.

    Raises:
        BadRequest: not exactly one action, or an unreadable duration / instant / rate.
        Conflict: ``clock_not_controllable`` for the system clock; ``clock_backwards``.
    """
    actions = [a for a in (cmd.advance, cmd.to, cmd.rate) if a is not None]
    if len(actions) != 1:
        raise BadRequest(
            "give exactly one of 'advance', 'to' or 'rate'",
            code="invalid_clock_command",
            fix='e.g. {"advance": "30d"}, {"to": "2027-01-01T00:00:00+00:00"} or {"rate": 86400}',
        )
    if not isinstance(clock, ScaledClock):
        raise Conflict(
            "this process runs on the system clock, which cannot be advanced or scaled",
            code="clock_not_controllable",
            fix="start it with --clock scaled (the default) or --clock virtual",
        )
    try:
        if cmd.advance is not None:
            try:
                delta = parse_duration(cmd.advance)
            except ValueError as exc:
                raise BadRequest(str(exc), code="invalid_duration", fix="e.g. 30d, 36h, 15m, 6mo, 1y or P90D") from None
            await clock.advance(delta)
        elif cmd.to is not None:
            target = parse_instant(cmd.to)
            # A flowing clock may have passed the instant while the request travelled: no-op.
            lag = timedelta(seconds=clock.rate * 5)
            if clock.now() - lag <= target < clock.now():
                target = clock.now()
            await clock.advance_to(target)
        elif cmd.rate is not None:
            if not 0 <= cmd.rate <= 10_000_000:
                raise BadRequest(
                    f"rate {cmd.rate} is out of range",
                    code="invalid_rate",
                    fix="use 0 (frozen) to 10000000 domain seconds per real second",
                )
            clock.set_rate(cmd.rate)
    except ClockRangeError as exc:
        raise BadRequest(str(exc), code="instant_out_of_range", fix=WINDOW_FIX) from None
    except ClockError as exc:
        raise Conflict(str(exc), code="clock_backwards", fix="clocks only move forward; use a later instant") from None
    return view(clock)


def prepare_snapshot(clock: AnyClock) -> None:
    """Before a process saves its clock into a snapshot: re-anchor it (time does not change), so the
    saved state records the instant reached, which ``restore_snapshot`` brings back."""
    if isinstance(clock, ScaledClock):
        clock.rebase()


async def restore_snapshot(clock: AnyClock, saved: str | None) -> ClockView | None:
    """After a process restored a snapshot of its database: its clock goes back (or on) to the
    instant saved with it (``ScaledClock.restore``). None when there is nothing to restore: no
    clock saved in the snapshot, or the system clock, which no one moves."""
    state = parse_state(saved) if saved is not None else None
    if state is None or not isinstance(clock, ScaledClock):
        return None
    await clock.restore(state)
    return view(clock)


#: The code and fix of a body that is no clock command (the lab plane's route and the tests share them).
INVALID = "invalid_clock_command"
FIX = 'send {"advance": "30d"}, {"to": ISO instant} or {"rate": R}'


def decode_command(data: bytes) -> ClockCommand:
    """A clock command from a request body.

    Raises:
        BadRequest: ``invalid_clock_command`` (or ``json_too_deep``).
    """
    return wire.decode(
        data,
        ClockCommand,
        what="clock command",
        fix=FIX,
        malformed=INVALID,
        invalid=INVALID,
    )
