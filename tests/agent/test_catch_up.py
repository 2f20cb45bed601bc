"""A clock jump (issue 20, item 4): an instance reporting alone sends the intervals it closes on the
way in batches (a request per ``report_batch_max`` intervals, and the rest when the jump ends),
with exactly what interval-by-interval sending stores; instances sharing the agent report interval
by interval, because the SSM counts over-usage across them interval by interval."""

from __future__ import annotations

import json
from datetime import timedelta

from shared.clock import epoch
from tests.conftest import MakeAgent, RunningSSM

Q = timedelta(minutes=15)
PREMIUM = "Premium Agent"


async def stored(ssm: RunningSSM, piid: str) -> dict[int, int]:
    rows = await ssm.store.read(lambda u: u.usage.reports(piid, limit=10_000))
    return {r.interval_end: next(x["peak"] for x in json.loads(r.lines) if x["name"] == PREMIUM) for r in rows}


async def test_a_jump_batches_the_reports_of_an_instance_alone(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """Two days and a half at once: 240 intervals in 3 requests (96, 96, then 48 when the jump
    ends), every interval stored once with its peak, and the instance compliant as before."""
    inst = (await make_agent()).agent.runner(None)
    t0 = ssm.clock.now()
    await inst.register(await ssm.token())
    await inst.set_usage({PREMIUM: 42})
    before = inst.counters[("ReportUsage", "ok")]
    await ssm.clock.advance(timedelta(days=2, hours=12))
    assert inst.counters[("ReportUsage", "ok")] - before == 3
    assert inst.counters[("reports", "sent")] == 240
    peaks = await stored(ssm, inst.state.piid or "")
    assert sorted(peaks) == [epoch(t0 + k * Q) for k in range(1, 241)]
    assert set(peaks.values()) == {42}
    assert not inst.machine.usage.queue  # nothing left waiting after the jump


async def test_a_renewal_on_the_way_goes_after_the_intervals_before_it(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """A 40-day jump crosses the 30-day authorization renewal: the SSM has every interval before
    the renewal when it renews (the renewal's events come after the last report before it)."""
    inst = (await make_agent()).agent.runner(None)
    await inst.register(await ssm.token())
    await inst.set_usage({PREMIUM: 42})
    authorized = inst.state.authorized_at
    await ssm.clock.advance(timedelta(days=40))
    assert inst.state.authorized_at is not None and inst.state.authorized_at > (authorized or 0)
    renewed_at = inst.state.authorized_at
    piid = inst.state.piid or ""
    rows = await ssm.store.read(lambda u: u.usage.reports(piid, limit=10_000))
    before = [r for r in rows if r.interval_end < renewed_at]
    assert before and all(r.received_at <= renewed_at for r in before)
    assert len(rows) == 40 * 96


async def test_instances_sharing_an_agent_report_interval_by_interval(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """Two instances in one agent: a 2-hour jump costs one request per interval for each."""
    running = await make_agent([{"name": "ucce-1"}, {"name": "cvp-1", "product": "CVP", "deployment_type": "CVP"}])
    runners = [running.agent.runner("ucce-1"), running.agent.runner("cvp-1")]
    for r in runners:
        await r.register(await ssm.token())
        await r.set_usage({PREMIUM: 10})
    before = [r.counters[("ReportUsage", "ok")] for r in runners]
    await ssm.clock.advance(timedelta(hours=2))
    assert [r.counters[("ReportUsage", "ok")] - b for r, b in zip(runners, before, strict=True)] == [8, 8]
