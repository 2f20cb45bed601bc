"""The 15-minute intervals as the SSM receives them (issue 16.6), over real TLS on a virtual clock:
a usage change exactly on a boundary counts in the interval it opens, and the intervals an agent
missed while it was down follow the policy ``missed_intervals``."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from lab import demo
from lab.processes import instance_toml
from shared.clock import epoch
from tests.conftest import MakeAgent, RunningSSM

Q = timedelta(minutes=15)
PREMIUM = "Premium Agent"


async def stored_peaks(ssm: RunningSSM, piid: str) -> dict[int, int]:
    """Interval end -> the Premium Agent peak the SSM stored."""
    rows = await ssm.store.read(lambda u: u.usage.reports(piid, limit=1000))
    return {r.interval_end: next(x["peak"] for x in json.loads(r.lines) if x["name"] == PREMIUM) for r in rows}


async def test_a_profile_step_on_a_boundary_is_reported_in_the_interval_it_opens(
    ssm: RunningSSM, make_agent: MakeAgent
) -> None:
    """First start 09:00; the profile goes 80 -> 130 at 09:30:00 and back to 80 at 10:00:00: the SSM
    stores 80 for 09:15-09:30, 130 for 09:30-09:45 and 09:45-10:00, 80 for 10:00-10:15."""
    profile = (
        f'[ {{ after = "0m", set = {{ "{PREMIUM}" = 80 }} }}, {{ after = "30m", set = {{ "{PREMIUM}" = 130 }} }},'
        f' {{ after = "1h", set = {{ "{PREMIUM}" = 80 }} }} ]'
    )
    t0 = ssm.clock.now()
    inst = (await make_agent([{"name": "ucce-1", "usage_profile": profile}])).agent.runner(None)
    await inst.register(await ssm.token())
    await ssm.clock.advance(5 * Q)
    peaks = await stored_peaks(ssm, inst.state.piid or "")
    assert [peaks[epoch(t0 + k * Q)] for k in (1, 2, 3, 4, 5)] == [80, 80, 130, 130, 80]


@pytest.mark.parametrize(("policy", "reported"), [("skip", 1), ("hold", 4)])
async def test_intervals_missed_while_the_agent_was_down(
    ssm: RunningSSM, make_agent: MakeAgent, policy: str, reported: int
) -> None:
    """Down from 09:20 to 10:20 with 130 in use: at restart the 09:15-09:30 interval is reported;
    with ``missed_intervals = "hold"`` so are 09:30, 09:45 and 10:00, at 130; by default not."""
    chosen = ssm.policy.with_overrides({"missed_intervals": policy})
    first = await make_agent(policy=chosen)
    inst = first.agent.runner(None)
    t0 = ssm.clock.now()
    await inst.register(await ssm.token())
    await inst.set_usage({PREMIUM: 130})
    await ssm.clock.advance(Q + timedelta(minutes=5))
    piid = inst.state.piid or ""
    await first.close()
    await ssm.clock.advance(timedelta(hours=1))
    again = await make_agent(policy=chosen)
    await ssm.clock.advance(timedelta(seconds=1))
    peaks = await stored_peaks(ssm, piid)
    after_restart = sorted(end for end in peaks if end > epoch(t0 + Q))
    assert after_restart == [epoch(t0 + k * Q) for k in range(2, 2 + reported)]
    assert all(peaks[end] == 130 for end in after_restart)
    assert again.agent.runner(None).usage.queue == []


async def test_the_demo_is_busy_from_nine_to_five_domain_time(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """Issue 16.5: the demo's ucce-1 (its agent.toml as 'ssmlab' writes it) uses 70 from 9:00 to
    17:00 domain time and 40 otherwise, whenever it first started (here at 09:00, when a profile
    counted from the first start would be busy from 18:00)."""
    spec = next(i for i in demo.INSTANCES if i["name"] == "ucce-1")
    lines = instance_toml(spec).splitlines()[2:]  # after the [[instances]] header
    raw = dict(line.split(" = ", 1) for line in lines)
    plain = ("name", "product", "deployment_type", "license_type", "usage_mode")
    inst_cfg = {k: (json.loads(v) if k in plain else v) for k, v in raw.items()}
    assert inst_cfg["usage_anchor"] == '"midnight"'
    t0 = ssm.clock.now()
    assert t0.hour == 9 and t0.minute == 0
    inst = (await make_agent([inst_cfg])).agent.runner(None)
    await inst.register(await ssm.token())
    await ssm.clock.advance(timedelta(hours=8, minutes=30))
    peaks = await stored_peaks(ssm, inst.state.piid or "")
    busy = [peaks[epoch(t0 + k * Q)] for k in range(1, 33)]  # 09:15 .. 17:00
    assert set(busy) == {70}
    assert peaks[epoch(t0 + 33 * Q)] == 40  # 17:00-17:15
