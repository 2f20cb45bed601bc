"""Moving the SSM's and the agent's clocks together.

Each process owns its clock; advancing one and then the other would let the agent's timers fire
against an SSM living at another time (its requests would be refused as stale). ``advance``
therefore steps both to the earliest timer either of them has, then to the next, until the
target: every timer fires at its own instant with both sides agreeing on the time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from plumbing.clients.lab import Session
from shared.durations import parse_duration


class Endpoint:
    """One process's clock, over one kept-alive connection."""

    def __init__(
        self,
        name: str,
        url: str,
        cacert: Path | None = None,
        *,
        insecure: bool = False,
        client_cert: Path | None = None,
    ) -> None:
        self.name = name
        self.url = url
        # insecure: the lab's own SSM on loopback, whose certificate a TLS drill may break (Lab.ssm).
        self._session = Session(url, cacert=cacert, insecure=insecure, client_cert=client_cert)

    def get(self) -> Any:
        return self._session.call("GET", "/_lab/clock")

    def post(self, body: dict[str, Any]) -> Any:
        return self._session.call("POST", "/_lab/clock", body)

    def close(self) -> None:
        self._session.close()


def _now(view: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(view["now"])


def show(endpoints: list[Endpoint]) -> list[tuple[str, dict[str, Any]]]:
    return [(e.name, e.get()) for e in endpoints]


def set_rate(endpoints: list[Endpoint], rate: float) -> None:
    """Freeze both (rate 0), align them, then set the rate on both."""
    views = [e.post({"rate": 0}) for e in endpoints]
    latest = max(_now(v) for v in views)
    for e in endpoints:
        e.post({"to": latest.isoformat()})
    for e in endpoints:
        e.post({"rate": rate})


@contextmanager
def frozen(endpoints: list[Endpoint]) -> Iterator[datetime]:
    """Both clocks stopped on one instant (the later of the two) while the body runs, each given
    its rate back after: a flowing clock would drift between two requests."""
    rates = [float(e.get()["rate"]) for e in endpoints]
    views = [e.post({"rate": 0}) for e in endpoints]
    at = max(_now(v) for v in views)
    try:
        for e in endpoints:
            e.post({"to": at.isoformat()})
        yield at
    finally:
        for e, rate in zip(endpoints, rates, strict=True):
            if rate:
                e.post({"rate": rate})


def advance(
    endpoints: list[Endpoint],
    duration: str | timedelta,
    *,
    together: bool = True,
    stop: Callable[[], bool] | None = None,
) -> tuple[datetime, int]:
    """Advance every endpoint by ``duration`` in lockstep; returns (time reached, steps taken).

    ``together=False`` moves each straight to the target, one after the other: right only when
    the two cannot talk (the lab's network is cut), and far quicker over months of timers.
    ``stop`` is asked before each step: True ends the advance there, both clocks at one instant.
    """
    delta = parse_duration(duration) if isinstance(duration, str) else duration
    if not together:
        start = max(_now(e.get()) for e in endpoints)
        for e in endpoints:
            e.post({"to": (start + delta).isoformat()})
        return start + delta, 1
    # Both frozen while stepping, aligned on the later one, each given its rate back at the end.
    with frozen(endpoints) as start:
        target = start + delta
        steps = 0
        views = [e.get() for e in endpoints]
        while True:
            # Each answer carries the clock's next deadline: no separate read per step. (The SSM's
            # answer may miss a deadline the agent's step just created on it; the SSM still runs
            # it in order when it next moves, and its own timers never call the agent.)
            now = max(_now(v) for v in views)
            if stop is not None and stop():
                return now, steps
            deadlines = [datetime.fromisoformat(v["next_deadline"]) for v in views if v.get("next_deadline")]
            step = max(min([d for d in deadlines if d > now] + [target]), now)
            views = [e.post({"to": step.isoformat()}) for e in endpoints]
            steps += 1
            if step >= target:
                return target, steps


def skew(endpoints: list[Endpoint], duration: str) -> timedelta:
    """Set the clocks apart (issue 19): ``3d`` puts the agent's clock (``endpoints[1]``) 3 days ahead
    of the SSM's (``endpoints[0]``), ``-3d`` 3 days behind it, ``0`` both on the later instant
    again. Clocks only go forward, so the side that must be later is the one moved (its timers
    fire on the way). Returns the skew now (the agent's time minus the SSM's)."""
    text = duration.strip()
    behind = text.startswith("-")
    delta = timedelta(0) if text.lstrip("+-") in ("0", "0s") else parse_duration(text.lstrip("+-"))
    ssm, agent = endpoints[0], endpoints[1]
    s, a = _now(ssm.get()), _now(agent.get())
    want = -delta if behind else delta  # agent - ssm
    if a - s < want:
        agent.post({"to": (s + want).isoformat()})
    elif a - s > want:
        ssm.post({"to": (a - want).isoformat()})
    return _now(agent.get()) - _now(ssm.get())
