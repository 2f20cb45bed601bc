"""The console's side of the lab: the SSM and the agent over their HTTP APIs, as ``ssmlab`` drives them.

Every call goes through the launcher's client (``lab.processes.Lab``: the lab plane on loopback,
the SSM's certificate not verified since a TLS drill breaks it on purpose), in a worker thread so
the console's event loop never waits on a socket. What the live fragments read is shared for a
moment (``max_age``): however many tabs poll, each process answers about one read of a kind per
second; every change forgets it, so the next read is fresh.

The clock moves as ``ssmlab clock`` moves it (``lab.clock``: both processes in lockstep), one move
at a time, an advance in the background (it can take a while over months of timers) that the page
watches and may stop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from lab import clock as lockstep
from lab import demo, view
from lab.processes import ADDRESS_BODY, Lab
from plumbing.clients.lab import LabError
from shared.durations import parse_duration

#: Beyond this the lab's timers take minutes to step through, and a typo (``90y``) is likelier.
MAX_ADVANCE = timedelta(days=5 * 365)


def busy(what: str) -> LabError:
    return LabError(f"the clock is busy: {what}", "wait for it to finish, or stop it", "clock_busy")


@dataclass
class ClockJob:
    """One advance, as the page shows it."""

    duration: str
    started: float
    stop: threading.Event = field(default_factory=threading.Event)
    finished: float | None = None
    reached: str | None = None
    steps: int = 0
    error: LabError | None = None

    @property
    def running(self) -> bool:
        return self.finished is None


class Backend:
    def __init__(self, lab: Lab, *, max_age: float = 0.75) -> None:
        self.lab = lab
        self.max_age = max_age
        self.job: ClockJob | None = None
        self._cache: dict[tuple[str, ...], tuple[float, asyncio.Future[Any]]] = {}
        self._clock_lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    # -- calls ----------------------------------------------------------------------------------
    async def ssm(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if method != "GET":
            self.forget()
        return await asyncio.to_thread(self.lab.ssm, method, path, body, timeout=60)

    async def agent(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if method != "GET":
            self.forget()
        return await asyncio.to_thread(self.lab.agent, method, path, body, timeout=60)

    def forget(self) -> None:
        """Something changed: the next reads ask the processes again."""
        self._cache.clear()

    async def _shared(self, key: tuple[str, ...], fetch: Callable[[], Awaitable[Any]]) -> Any:
        """``fetch()``, or the answer another request got less than ``max_age`` ago (or is getting)."""
        loop = asyncio.get_running_loop()
        hit = self._cache.get(key)
        if hit is None or loop.time() - hit[0] >= self.max_age:
            hit = (loop.time(), asyncio.ensure_future(fetch()))
            self._cache[key] = hit
        return await asyncio.shield(hit[1])

    async def read(self, side: str, path: str) -> Any:
        """A GET the live fragments repeat (``side`` is ``ssm`` or ``agent``)."""
        call = self.ssm if side == "ssm" else self.agent
        return await self._shared((side, path), lambda: call("GET", path))

    async def timeline(self, limit: int) -> list[dict[str, str]]:
        """SSM and agent events merged in domain-time order (what ``ssmlab timeline`` prints)."""

        async def merged() -> list[dict[str, str]]:
            return await asyncio.to_thread(view.timeline, self.lab, limit)

        events: list[dict[str, str]] = await self._shared(("timeline", str(limit)), merged)
        return events

    # -- the clock ------------------------------------------------------------------------------
    async def advance(self, duration: str) -> ClockJob:
        """Start advancing both clocks in lockstep by ``duration``; the job, at once."""
        try:
            delta = parse_duration(duration)
        except (ValueError, OverflowError) as exc:
            raise LabError(str(exc), "e.g. 15m, 36h, 30d, 6mo, 1y or P90D", "invalid_duration") from None
        if not timedelta(0) < delta <= MAX_ADVANCE:
            raise LabError(
                f"advance by more than nothing and at most {MAX_ADVANCE.days} days, not {duration!r}",
                "give a shorter duration, and advance again if you need more",
                "invalid_duration",
            )
        if self._clock_lock.locked():
            raise busy(self.job.duration if self.job and self.job.running else "its rate is being set")
        loop = asyncio.get_running_loop()
        job = ClockJob(duration=duration.strip(), started=loop.time())
        self.job = job
        await self._clock_lock.acquire()
        self._task = asyncio.create_task(self._advance(job, delta))
        return job

    async def _advance(self, job: ClockJob, delta: timedelta) -> None:
        try:
            reached, job.steps = await asyncio.to_thread(
                lockstep.advance, self.lab.endpoints(), delta, stop=job.stop.is_set
            )
            job.reached = reached.isoformat()
        except LabError as exc:
            job.error = exc
        except (ValueError, OverflowError) as exc:  # a target past the calendar's end
            job.error = LabError(str(exc), "advance by less", "invalid_duration")
        finally:
            self.lab.close()
            job.finished = asyncio.get_running_loop().time()
            self.forget()
            self._clock_lock.release()

    def stop_advance(self) -> None:
        if self.job is not None and self.job.running:
            self.job.stop.set()

    async def set_rate(self, rate: float) -> None:
        """Align both clocks and run them at ``rate`` (``ssmlab clock rate``)."""
        if self._clock_lock.locked():
            raise busy(f"advancing {self.job.duration}" if self.job and self.job.running else "its rate is being set")
        async with self._clock_lock:
            try:
                await asyncio.to_thread(lockstep.set_rate, self.lab.endpoints(), rate)
            finally:
                self.lab.close()
                self.forget()

    async def close(self) -> None:
        """Stop an advance in progress and wait for it (the clocks get their rates back)."""
        self.stop_advance()
        if self._task is not None:
            await asyncio.wait([self._task], timeout=20)

    # -- snapshots and reset (what ``ssmlab snapshot`` and ``ssmlab reset`` do) -----------------------
    def snapshots(self) -> list[str]:
        folder = self.lab.folder / "snapshots"
        return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []

    async def snapshot(self, verb: str, name: str) -> None:
        """``snapshot`` (save) or ``restore`` (load) ``name`` on both sides, the SSM first: a name
        it refuses changes nothing."""
        await self.ssm("POST", f"/_lab/{verb}", {"name": name})
        await self.agent("POST", f"/_lab/{verb}", {"name": name})

    async def reset(self, account: str | None) -> dict[str, Any]:
        """Start over: one Smart Account on the SSM, or everything on both sides (and the demo's
        script starts again from now)."""
        answer: dict[str, Any] = await self.ssm("POST", "/_lab/reset", {"account": account} if account else {})
        await self.ssm("POST", "/_lab/notify-addresses", ADDRESS_BODY)  # the reseeded lab account's, again
        if not account:
            await self.agent("POST", "/_lab/reset")
            await asyncio.to_thread(self._demo_restarts)
        return answer

    def _demo_restarts(self) -> None:
        demo.restart(self.lab.load())  # under lab.json's lock, as 'ssmlab reset' does
