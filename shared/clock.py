"""Domain time: the one module of shared/ allowed to read the wall clock and to use asyncio.

Every licensing rule (evaluation period, renewals, token expiry, ID-certificate validity) reads
time from an injected ``Clock``; nothing else in shared/ may call ``time.time()`` or
``datetime.now()``.

Three clocks:

- ``SystemClock``: real time, not controllable.
- ``ScaledClock(epoch=, anchor=, rate=)``: domain time ``epoch + (real - anchor) * rate``. Two
  processes given the same triple share one timeline. It can be advanced (jumps run due work in
  deadline order, as if the time had passed) and its rate changed at runtime.
- ``VirtualClock(start)``: a ``ScaledClock`` with rate 0; time moves only through ``advance``.

``advance`` wakes sleepers one deadline at a time, sets ``now`` to that deadline first, and waits
until every woken task has come back to ``sleep_until`` (or finished) before moving on, so work
triggered by a timer (even network round trips) happens at its own domain time. Moving
backwards raises ``ClockError``.

The one way back is ``restore(state)``: a lab snapshot brings back a process's database and the
instant its saved clock had reached with it (the database's times must not lie in the future).
It is never a step of ``advance``.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from shared.clockstate import ClockKind, ClockState, parse_state
from shared.limits import EPOCH_MAX

#: How long ``advance`` waits (real seconds) for woken work to settle before it moves on anyway.
SETTLE_TIMEOUT = 30.0


class ClockError(Exception):
    """A clock was asked to do something it cannot (go backwards, be advanced when it is real)."""


class ClockRangeError(ClockError):
    """A clock was asked to move past the end of the domain-time window (``shared.limits``)."""


@runtime_checkable
class Clock(Protocol):
    """What domain code needs from time."""

    @property
    def rate(self) -> float:
        """Domain seconds per real second (1.0 for the system clock, 0.0 for a virtual one)."""
        ...

    def now(self) -> datetime:
        """The current domain time, timezone-aware UTC."""
        ...

    @property
    def catching_up(self) -> bool:
        """Whether the clock is being advanced past now (work due on the way may batch up)."""
        ...

    def after_catch_up(self, event: asyncio.Event) -> None:
        """Poke ``event`` when the advance in progress ends (what waited for a batch goes then)."""
        ...

    async def sleep_until(self, when: datetime, *, interrupt: asyncio.Event | None = None) -> bool:
        """Sleep until domain time ``when``; return False early if ``interrupt`` is set."""
        ...

    def poke(self, event: asyncio.Event) -> None:
        """Set ``event``, interrupting a ``sleep_until(..., interrupt=event)``. Use this rather than
        ``event.set()`` so a virtual clock's ``advance`` waits for the woken work."""
        ...

    def track(self, task: asyncio.Task[Any]) -> None:
        """Count a new timer task as working until it first sleeps, so ``advance`` waits for it."""
        ...


def utc(ts: float) -> datetime:
    """Epoch seconds to an aware UTC datetime."""
    return datetime.fromtimestamp(ts, UTC)


def epoch(when: datetime) -> int:
    """Aware datetime to integer epoch seconds, the storage format of domain time."""
    return int(when.timestamp())


class SystemClock:
    """Real time. Cannot be advanced or scaled."""

    kind: ClockKind = "system"

    @property
    def rate(self) -> float:
        return 1.0

    @property
    def catching_up(self) -> bool:
        return False

    def after_catch_up(self, event: asyncio.Event) -> None:
        event.set()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def state(self) -> ClockState:
        t = time.time()
        return ClockState("system", t, t, 1.0)

    def next_deadline(self) -> datetime | None:
        return None

    def poke(self, event: asyncio.Event) -> None:
        event.set()

    def track(self, task: asyncio.Task[Any]) -> None:
        return None

    async def sleep_until(self, when: datetime, *, interrupt: asyncio.Event | None = None) -> bool:
        while True:
            remaining = (when - self.now()).total_seconds()
            if remaining <= 0:
                return True
            if interrupt is None:
                await asyncio.sleep(min(remaining, 3600.0))
                continue
            try:
                await asyncio.wait_for(interrupt.wait(), timeout=min(remaining, 3600.0))
            except TimeoutError:
                continue
            return False


@dataclass(order=True, slots=True)
class _Sleeper:
    deadline: float
    seq: int
    wake: asyncio.Future[None] | None = None
    task: asyncio.Task[object] | None = None


class ScaledClock:
    """Domain time flowing at ``rate`` times real time from ``epoch`` at real instant ``anchor``."""

    kind: ClockKind = "scaled"

    def __init__(
        self,
        *,
        epoch: datetime,
        anchor: float | None = None,
        rate: float = 1.0,
        real: Callable[[], float] = time.time,
    ) -> None:
        if rate < 0:
            raise ClockError(f"clock rate must be >= 0, got {rate}")
        self._real = real
        self._epoch = epoch.timestamp()
        self._anchor = real() if anchor is None else anchor
        self._rate = float(rate)
        self._sleepers: list[_Sleeper] = []
        self._seq = itertools.count()
        self._busy: set[asyncio.Task[object]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._advance_lock: asyncio.Lock | None = None
        self._advancing_to: float | None = None
        self._after_advance: set[asyncio.Event] = set()
        self._listeners: list[Callable[[ClockState], None]] = []
        self._interruptible: dict[asyncio.Event, asyncio.Task[object]] = {}

    # -- reading ---------------------------------------------------------------------------------
    @property
    def rate(self) -> float:
        return self._rate

    @property
    def catching_up(self) -> bool:
        return self._advancing_to is not None and self._now_ts() < self._advancing_to

    def after_catch_up(self, event: asyncio.Event) -> None:
        if self._advancing_to is None:
            self.poke(event)
        else:
            self._after_advance.add(event)

    def _now_ts(self) -> float:
        return self._epoch + (self._real() - self._anchor) * self._rate

    def now(self) -> datetime:
        return utc(self._now_ts())

    def state(self) -> ClockState:
        return ClockState(self.kind, self._epoch, self._anchor, self._rate)

    def next_deadline(self) -> datetime | None:
        """The earliest time a sleeper waits for, or None."""
        live = [s for s in self._sleepers if s.wake is not None and not s.wake.done()]
        return utc(min(s.deadline for s in live)) if live else None

    def on_change(self, listener: Callable[[ClockState], None]) -> None:
        """Call ``listener`` after every jump or rate change (e.g. to persist the clock)."""
        self._listeners.append(listener)

    # -- control ---------------------------------------------------------------------------------
    def _set(self, domain_ts: float) -> None:
        self._epoch = domain_ts
        self._anchor = self._real()

    def _changed(self) -> None:
        for listener in self._listeners:
            listener(self.state())

    def rebase(self) -> None:
        """Re-anchor at the current instant (time does not change): saved now, the state records
        the domain time reached, which a restart will not go back behind."""
        self._set(self._now_ts())

    def set_rate(self, rate: float) -> None:
        """Change the speed of time from now on; sleepers recompute their real waits."""
        if rate < 0:
            raise ClockError(f"clock rate must be >= 0, got {rate}")
        self._set(self._now_ts())
        self._rate = float(rate)
        self._poke_all()
        self._changed()

    async def restore(self, state: ClockState) -> None:
        """Go back (or on) to the instant ``state`` had reached when it was saved, with the database
        it was saved in (a lab snapshot): the documented exception to "clocks only go forward".
        The rate stays this clock's (the speed of the session, not of the snapshot); every sleeper
        wakes to recompute its wait, and the clock's owner reloads the work the database implies."""
        if self._advance_lock is None:
            self._advance_lock = asyncio.Lock()
        async with self._advance_lock:
            await self._settle()
            self._set(reached(state).timestamp())
            self._poke_all()
            await self._settle()
            self._changed()

    async def advance(self, delta: timedelta) -> None:
        """Move time forward by ``delta``, running due work in deadline order."""
        if delta < timedelta(0):
            raise ClockError(f"clocks do not go backwards (asked to advance by {delta})")
        target = self._now_ts() + delta.total_seconds()
        if target >= EPOCH_MAX:
            raise ClockRangeError(
                f"advancing by {delta} passes the end of domain time ({utc(EPOCH_MAX).date().isoformat()})"
            )
        await self.advance_to(utc(target))

    async def advance_to(self, target: datetime) -> None:
        """Move time forward to ``target``, running due work in deadline order."""
        target_ts = target.timestamp()
        if target_ts >= EPOCH_MAX:
            raise ClockRangeError(
                f"clocks stop before {utc(EPOCH_MAX).date().isoformat()}: asked for {target.isoformat()}"
            )
        # A flowing clock moves on while the caller computes its target: allow a second of it.
        if target_ts < self._now_ts() - max(1e-3, self._rate):
            raise ClockError(
                f"clocks do not go backwards: now is {self.now().isoformat()}, asked for {target.isoformat()}"
            )
        if self._advance_lock is None:
            self._advance_lock = asyncio.Lock()
        async with self._advance_lock:
            await self._settle()
            self._advancing_to = target_ts
            try:
                while True:
                    due = self._earliest()
                    if due is None or due.deadline > target_ts:
                        break
                    self._set(max(due.deadline, self._now_ts()))
                    self._wake_due(self._now_ts())
                    await self._settle()
            finally:
                self._advancing_to = None
            if target_ts > self._now_ts():
                self._set(target_ts)
            waiting, self._after_advance = self._after_advance, set()
            for event in waiting:
                self.poke(event)
            self._poke_all()
            await self._settle()
            self._changed()

    # -- sleeping --------------------------------------------------------------------------------
    def track(self, task: asyncio.Task[Any]) -> None:
        if not task.done():
            self._mark_busy(task)

    def poke(self, event: asyncio.Event) -> None:
        task = self._interruptible.get(event)
        if task is not None and not task.done():
            self._mark_busy(task)  # it will work before sleeping again; advance must wait for it
        event.set()

    async def sleep_until(self, when: datetime, *, interrupt: asyncio.Event | None = None) -> bool:
        task = asyncio.current_task()
        if task is not None and interrupt is not None:
            self._interruptible[interrupt] = task
        try:
            return await self._sleep(when, task, interrupt)
        finally:
            if interrupt is not None and self._interruptible.get(interrupt) is task:
                del self._interruptible[interrupt]

    async def _sleep(self, when: datetime, task: asyncio.Task[object] | None, interrupt: asyncio.Event | None) -> bool:
        deadline = when.timestamp()
        while True:
            if self._now_ts() >= deadline:
                return True
            if interrupt is not None and interrupt.is_set():
                return False
            loop = asyncio.get_running_loop()
            sleeper = _Sleeper(deadline, next(self._seq), loop.create_future(), task)
            heapq.heappush(self._sleepers, sleeper)
            if task is not None:
                # Only now, registered as a sleeper, does the task stop counting as busy: a task
                # that returns at once (deadline passed, interrupt set) is still working.
                self._mark_idle(task)
            assert sleeper.wake is not None
            waiters: list[asyncio.Future[object]] = [sleeper.wake]  # type: ignore[list-item]
            stop: asyncio.Task[bool] | None = None
            if interrupt is not None:
                stop = loop.create_task(interrupt.wait())
                waiters.append(stop)  # type: ignore[arg-type]
            timeout = None if self._rate == 0 else max(0.0, (deadline - self._now_ts()) / self._rate)
            try:
                await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if stop is not None and not stop.done():
                    stop.cancel()
                if not sleeper.wake.done():
                    sleeper.wake.cancel()
            if interrupt is not None and interrupt.is_set() and self._now_ts() < deadline:
                return False

    def _earliest(self) -> _Sleeper | None:
        while self._sleepers:
            head = self._sleepers[0]
            if head.wake is not None and not head.wake.done():
                return head
            heapq.heappop(self._sleepers)
        return None

    def _wake_due(self, now_ts: float) -> None:
        while (head := self._earliest()) is not None and head.deadline <= now_ts:
            heapq.heappop(self._sleepers)
            assert head.wake is not None
            head.wake.set_result(None)
            if head.task is not None and not head.task.done():
                self._mark_busy(head.task)

    def _poke_all(self) -> None:
        """Wake every sleeper so it recomputes its wait (rate change or jump)."""
        pending, self._sleepers = self._sleepers, []
        for s in pending:
            if s.wake is not None and not s.wake.done():
                s.wake.set_result(None)
                if s.task is not None and not s.task.done() and s.deadline <= self._now_ts():
                    self._mark_busy(s.task)

    def _mark_busy(self, task: asyncio.Task[object]) -> None:
        if task not in self._busy:
            self._busy.add(task)
            task.add_done_callback(self._mark_idle)
            self._idle.clear()

    def _mark_idle(self, task: asyncio.Task[object]) -> None:
        self._busy.discard(task)
        if not self._busy:
            self._idle.set()

    async def _settle(self) -> None:
        """Let woken work run until every woken task sleeps again or ends."""
        for _ in range(5):
            await asyncio.sleep(0)
        if not self._idle.is_set():
            try:
                await asyncio.wait_for(self._idle.wait(), timeout=SETTLE_TIMEOUT)
            except TimeoutError:
                self._busy.clear()
                self._idle.set()
            for _ in range(5):
                await asyncio.sleep(0)


class VirtualClock(ScaledClock):
    """Time that moves only when ``advance`` is called (tests and drills)."""

    kind: ClockKind = "virtual"

    def __init__(self, start: datetime, *, real: Callable[[], float] = time.time) -> None:
        super().__init__(epoch=start, rate=0.0, real=real)


def clock_from_state(state: ClockState) -> SystemClock | ScaledClock:
    """Rebuild a clock saved with ``state()`` (same timeline, same rate)."""
    if state.kind == "system":
        return SystemClock()
    if state.kind == "virtual":
        start = state.epoch + (time.time() - state.anchor) * state.rate
        clock: ScaledClock = VirtualClock(utc(start))
        if state.rate:
            clock.set_rate(state.rate)
        return clock
    return ScaledClock(epoch=utc(state.epoch), anchor=state.anchor, rate=state.rate)


AnyClock = SystemClock | ScaledClock


def choose_clock(
    *,
    kind: ClockKind | None,
    rate: float | None,
    start: datetime | None,
    anchor: float | None,
    saved: AnyClock | None,
) -> AnyClock:
    """The clock a process asks for on its command line or in its config.

    With nothing explicit, the saved clock continues (same timeline across restarts, as if it had
    kept running). An explicit choice starts from ``start``, else from where the saved clock had
    got to when it was saved, else real now; ``kind`` defaults to a scaled clock at rate 1 (real
    speed, but controllable). Whatever is asked, the result never starts before the domain time
    the saved clock had reached.
    """
    explicit = kind is not None or rate is not None or start is not None or anchor is not None
    if not explicit and saved is not None:
        return saved
    kind = kind or "scaled"
    floor = _reached(saved) if saved is not None else None
    if kind == "system":
        if floor is not None and floor > datetime.now(UTC):
            # The store lives in the future of real time (a lab advanced it): keep real speed
            # from there rather than move time back.
            return ScaledClock(epoch=floor, rate=1.0)
        return SystemClock()
    begin = start or (floor or datetime.now(UTC))
    if kind == "virtual":
        clock: ScaledClock = VirtualClock(begin)
        if rate:
            clock.set_rate(rate)
    else:
        clock = ScaledClock(epoch=begin, anchor=anchor, rate=1.0 if rate is None else rate)
    if floor is not None and clock.now() < floor:
        # Persisted times must never lie in the future: a restart never moves time backwards.
        if isinstance(clock, VirtualClock):
            later: ScaledClock = VirtualClock(floor)
            if clock.rate:
                later.set_rate(clock.rate)
            clock = later
        else:
            clock = ScaledClock(epoch=floor, rate=clock.rate)
    return clock


def _reached(saved: AnyClock) -> datetime:
    """The domain time a saved clock had reached when it was saved (its last anchor): a stopped
    process's time stands still, whatever its rate."""
    if isinstance(saved, ScaledClock):
        return reached(saved.state())
    return saved.now()


def reached(state: ClockState) -> datetime:
    """The domain time a saved state had reached when it was saved: its epoch, the domain time at
    its last anchor (a process re-anchors its clock when it saves it on stopping or for a snapshot)."""
    return utc(state.epoch)


def load_state(text: str) -> AnyClock | None:
    """A clock from ``dump_state``'s JSON; None when the text is not a saved clock."""
    state = parse_state(text)
    return clock_from_state(state) if state is not None else None


def real_now() -> datetime:
    """Transport time: the wall clock, for TLS certificate validity (never for licensing rules)."""
    return datetime.now(UTC)


def real_stamp() -> int:
    """Transport time in nanoseconds, stamped on each recorded event: events of one domain instant
    (a virtual clock stands still while a request crosses from the agent to the SSM and back) keep
    the order they happened in across the processes of one machine (never for licensing rules)."""
    return time.time_ns()
