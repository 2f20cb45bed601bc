"""One product instance through a year of virtual time over real TLS: 35,040 usage reports,
12 authorization renewals and 2 registration renewals. SSM and agent share one VirtualClock in
this process, as the integration tests do; the figure is the wall time."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

from bench.inprocess import ssm_and_agent


async def _run(work: Path, days: int) -> tuple[float, int]:
    async with ssm_and_agent(work, "year", '[[instances]]\nname = "year"\n') as lab:
        inst = lab.agent.runner(None)
        await inst.register(await lab.token())
        await inst.set_usage({"Premium Agent": 42})
        started = time.perf_counter()
        await lab.clock.advance(timedelta(days=days))
        wall = time.perf_counter() - started
        reports = len(await lab.store.read(lambda u: u.usage.reports(inst.state.piid or "", limit=10**6)))
        return wall, reports


def run(work: Path, *, days: int = 365) -> tuple[float, int]:
    return asyncio.run(_run(work, days))
