"""Two product instances with licenses in use, the network cut, 91 virtual days: every usage
interval queues a report that cannot be sent (the queue grows to its bound) while the renewals
fail and back off. SSM and agent share one VirtualClock in this process (``bench.inprocess``);
the figures are the wall time of each third of the period: a queue persisted incrementally keeps
the last third as quick as the first."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

from bench.inprocess import ssm_and_agent
from server.lab.state import LAB
from shared.faults import FaultSpec

INSTANCES = """
[[instances]]
name = "ucce-1"
[[instances]]
name = "cvp-1"
product = "CVP"
deployment_type = "CVP"
"""


async def _run(work: Path, days: int) -> tuple[list[float], int]:
    # every failed report and renewal is a warning: only what is critical is logged
    async with ssm_and_agent(work, "cut", INSTANCES, log_level="critical") as lab:
        for name, count in (("ucce-1", 70), ("cvp-1", 45)):
            inst = lab.agent.runner(name)
            await inst.register(await lab.token())
            await inst.set_usage({"Premium Agent": count})
        lab.app[LAB].faults.add(FaultSpec(kind="drop"), lab.clock.now())  # the network cut
        thirds = []
        for part in range(3):
            share = days // 3 + (1 if part < days % 3 else 0)
            started = time.perf_counter()
            await lab.clock.advance(timedelta(days=share))
            thirds.append(time.perf_counter() - started)
        return thirds, sum(len(lab.agent.runner(n).usage.queue) for n in ("ucce-1", "cvp-1"))


def run(work: Path, *, days: int = 91) -> tuple[list[float], int]:
    """(wall seconds of each third of ``days``, reports queued at the end)."""
    return asyncio.run(_run(work, days))
