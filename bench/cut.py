"""Two product instances with licenses in use, the network cut, 91 virtual days: every usage
interval queues a report that cannot be sent (the queue grows to its bound) while the renewals
fail and back off. SSM and agent share one VirtualClock in this process (``bench.inprocess``).
The figures: the wall time, and the CPU time of the last days (2,880 reports queued per instance)
over the first (a few): a queue persisted incrementally costs an interval the same either way."""

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


#: The windows compared: the first days (the queue short) and the last (the queue at its bound).
WINDOW = timedelta(days=3)


async def _run(work: Path, days: int) -> tuple[float, float, float, int]:
    async with ssm_and_agent(work, "cut", INSTANCES, log_level="critical") as lab:
        for name, count in (("ucce-1", 70), ("cvp-1", 45)):
            inst = lab.agent.runner(name)
            await inst.register(await lab.token())
            await inst.set_usage({"Premium Agent": count})
        lab.app[LAB].faults.add(FaultSpec(kind="drop"), lab.clock.now())  # the network cut
        started = time.perf_counter()
        cpu = []
        for span in (WINDOW, timedelta(days=days) - 2 * WINDOW, WINDOW):
            used = time.process_time()
            await lab.clock.advance(span)
            cpu.append(time.process_time() - used)
        wall = time.perf_counter() - started
        return wall, cpu[0], cpu[2], sum(len(lab.agent.runner(n).usage.queue) for n in ("ucce-1", "cvp-1"))


def run(work: Path, *, days: int = 91) -> tuple[float, float, float, int]:
    """(wall seconds of the ``days``, CPU seconds of their first ``WINDOW``, of their last, reports
    queued at the end). The CPU seconds are this process's own (SSM, agent and their SQLite
    threads): other work on the machine moves them far less than the wall time."""
    return asyncio.run(_run(work, max(days, 3 * WINDOW.days)))
