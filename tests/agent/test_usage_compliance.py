"""Usage reporting and compliance over TLS on a virtual clock: the seed's License Computation
Scenarios 1 and 2, a pool shared by two CVPs, an outage whose queued reports arrive in order,
and bad reports that change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.clock import epoch, utc
from shared.states import AuthorizationStatus, Enforcement, EntitlementStatus, LicenseType, UsageMode
from tests.agent.compliance import PREMIUM, Q, buy, go_idle_out_of_compliance
from tests.conftest import MakeAgent, NetCut, RunningSSM


async def pool(ssm: RunningSSM, name: str = PREMIUM):  # type: ignore[no-untyped-def]
    return next(
        p
        for p in await ssm.store.read(lambda u: u.pools.all())
        if p.name == name and p.license_type is LicenseType.FLEX and p.usage_mode is UsageMode.PRODUCTION
    )


def line(runner, name: str = PREMIUM):  # type: ignore[no-untyped-def]
    return next(c for c in runner.consumption() if c.license_name == name)


async def test_scenario_1_locked_usage_until_the_deficit_is_purchased(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """100 purchased, 130 used: Out of Compliance at the fifth consecutive over-usage report;
    the reported usage stays locked at 130 when actual usage falls; buying the 30 missing
    licenses returns the next report to In Compliance."""
    running = await make_agent()
    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    t0 = ssm.clock.now()
    await inst.set_usage({PREMIUM: 130})
    await ssm.clock.advance(4 * Q)
    assert inst.status().license_authorization_status is AuthorizationStatus.AUTHORIZED
    assert (await pool(ssm)).pool.over_count == 4
    await ssm.clock.advance(Q)
    view = inst.status()
    assert view.license_authorization_status is AuthorizationStatus.OUT_OF_COMPLIANCE
    assert view.out_of_compliance_since == (t0 + 5 * Q).isoformat()
    assert line(inst).status is EntitlementStatus.OUT_OF_COMPLIANCE
    outbox = await ssm.store.read(lambda u: u.events.outbox())
    assert [n.kind for n in outbox] == ["Insufficient Licenses"]

    await inst.set_usage({PREMIUM: 90})
    await ssm.clock.advance(2 * Q)
    consumed = line(inst)
    assert (consumed.usage_count, consumed.actual_usage) == (130, 90)  # locked, and the actual
    assert (await pool(ssm)).pool.in_use == 130

    assert await buy(ssm, 20) == 120
    await ssm.clock.advance(Q)
    assert inst.status().license_authorization_status is AuthorizationStatus.OUT_OF_COMPLIANCE
    await buy(ssm, 10)
    await ssm.clock.advance(Q)
    view = inst.status()
    assert view.license_authorization_status is AuthorizationStatus.AUTHORIZED
    assert view.out_of_compliance_since is None
    consumed = line(inst)
    assert (consumed.usage_count, consumed.actual_usage, consumed.status) == (90, 90, EntitlementStatus.IN_COMPLIANCE)
    assert (await pool(ssm)).pool.in_use == 90


async def test_scenario_2_two_overages_then_compliance_resets_the_count(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """Two over-usage reports then a compliant one: still In Compliance; the next overage counts
    1 of 5, so Out of Compliance comes only at the fifth consecutive one after it."""
    running = await make_agent()
    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    t0 = ssm.clock.now()
    await inst.set_usage({PREMIUM: 130})
    await ssm.clock.advance(2 * Q - timedelta(seconds=1))
    await inst.set_usage({PREMIUM: 80})  # within the second interval: its peak stays 130
    await ssm.clock.advance(timedelta(seconds=1))
    assert (await pool(ssm)).pool.over_count == 2
    await ssm.clock.advance(Q)  # the third interval: 80 of 100
    p = await pool(ssm)
    assert p.pool.over_count == 0 and p.pool.ooc_since is None
    assert inst.status().license_authorization_status is AuthorizationStatus.AUTHORIZED
    await inst.set_usage({PREMIUM: 130})
    await ssm.clock.advance(Q)
    assert (await pool(ssm)).pool.over_count == 1  # "the count will be 1 of 5"
    await ssm.clock.advance(3 * Q)
    assert inst.status().license_authorization_status is AuthorizationStatus.AUTHORIZED
    await ssm.clock.advance(Q)
    view = inst.status()
    assert view.license_authorization_status is AuthorizationStatus.OUT_OF_COMPLIANCE
    assert view.out_of_compliance_since == (t0 + 8 * Q).isoformat()


async def test_two_cvps_share_a_pool(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """Two CVPs of one virtual account using 60 each of a pool of 100: both Out of Compliance after
    five intervals, and the SSM's pool shows 120 in use, a deficit of 20."""
    running = await make_agent(
        [
            {"name": "cvp-1", "product": "CVP", "deployment_type": "CVP"},
            {"name": "cvp-2", "product": "CVP", "deployment_type": "CVP"},
        ]
    )
    cvps = [running.agent.runner("cvp-1"), running.agent.runner("cvp-2")]
    for cvp in cvps:
        await cvp.register(await ssm.token())
        await cvp.set_usage({PREMIUM: 60})
    await ssm.clock.advance(4 * Q)
    assert all(c.status().license_authorization_status is AuthorizationStatus.AUTHORIZED for c in cvps)
    await ssm.clock.advance(Q)
    assert all(c.status().license_authorization_status is AuthorizationStatus.OUT_OF_COMPLIANCE for c in cvps)
    p = await pool(ssm)
    assert (p.pool.in_use, p.quantity) == (120, 100)
    assert len(await ssm.store.read(lambda u: u.events.outbox())) == 1  # one pool, one alert


async def test_out_of_compliance_for_ninety_days_is_enforcement(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """Out of Compliance unresolved for 90 days: Enforcement (Out-of-Compliance expiry)."""
    running = await make_agent()
    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    t0 = ssm.clock.now()
    await inst.set_usage({PREMIUM: 101})
    await ssm.clock.advance(5 * Q)
    await inst.set_usage({PREMIUM: 0})  # idle now; the lock keeps the pool over
    await ssm.clock.advance(timedelta(days=91))
    view = inst.status()
    assert view.enforcement is Enforcement.OUT_OF_COMPLIANCE_EXPIRY
    assert view.enforcement_since == (t0 + 5 * Q + timedelta(days=90)).isoformat()


async def test_a_purchase_reaches_an_idle_out_of_compliance_instance(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """Issue 16.1: usage falls to 0 and is reported once; licenses bought later put the pool and the
    instance back In Compliance on the SSM at once; the instance learns it at its next contact (here
    a renewal) and never reaches Enforcement."""
    inst = (await make_agent()).agent.runner(None)
    await inst.register(await ssm.token())
    await go_idle_out_of_compliance(ssm, inst)
    assert (await pool(ssm)).pool.in_use == 101  # locked

    await buy(ssm, 1)
    p = await pool(ssm)
    assert (p.pool.ooc_since, p.pool.in_use) == (None, 0)
    row = await ssm.store.read(lambda u: u.instances.get(inst.state.piid or ""))
    assert row is not None and (row.status, row.ooc_since) == (AuthorizationStatus.AUTHORIZED, None)
    await ssm.clock.advance(timedelta(days=1))
    assert inst.status().license_authorization_status is AuthorizationStatus.OUT_OF_COMPLIANCE  # not told yet

    view = await inst.renew_authorization()
    assert view.license_authorization_status is AuthorizationStatus.AUTHORIZED
    assert view.out_of_compliance_since is None
    await ssm.clock.advance(timedelta(days=91))
    assert inst.status().enforcement is None


async def test_a_renewal_rejudges_a_pool_covered_behind_its_back(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """A pool whose quantity was raised without a re-judgement (an SSM before issue 16, a restored
    snapshot): the next automatic renewal finds it covered and the instance In Compliance."""
    inst = (await make_agent()).agent.runner(None)
    await inst.register(await ssm.token())
    await go_idle_out_of_compliance(ssm, inst)
    p = await pool(ssm)
    await ssm.store.write(
        lambda u: u.pools.set_quantity(
            va_id=p.virtual_account_id,
            name=p.name,
            license_type=p.license_type,
            usage_mode=p.usage_mode,
            tag=p.tag,
            quantity=150,
        )
    )
    await ssm.clock.advance(timedelta(days=30))  # the 30-day renewal
    assert inst.status().license_authorization_status is AuthorizationStatus.AUTHORIZED
    assert (await pool(ssm)).pool.ooc_since is None


async def test_outage_queues_reports_and_delivers_them_in_order(
    ssm: RunningSSM, make_agent: MakeAgent, netcut: NetCut
) -> None:
    """Three hours unreachable: twelve reports queued and delivered in order on reconnection, none
    lost or sent twice; compliance is judged on them (Out of Compliance since the fifth)."""
    running = await make_agent(port=netcut.port)
    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    t0 = ssm.clock.now()
    await inst.set_usage({PREMIUM: 150})
    await netcut.cut()
    await ssm.clock.advance(12 * Q)
    assert len(inst.usage.queue) == 12
    stored = await running.store.load(inst.name)
    assert stored is not None and len(stored.usage.queue) == 12  # persisted
    await netcut.restore()
    await ssm.clock.advance(timedelta(hours=4))
    assert inst.usage.queue == []
    rows = await ssm.store.read(lambda u: u.usage.reports(inst.state.piid or "", limit=100))
    ends = sorted(r.interval_end for r in rows)
    assert ends[:12] == [epoch(t0 + k * Q) for k in range(1, 13)]
    assert len(ends) == len(set(ends))
    assert (await pool(ssm)).pool.ooc_since == epoch(t0 + 5 * Q)
    assert inst.status().license_authorization_status is AuthorizationStatus.OUT_OF_COMPLIANCE


async def test_idle_instances_send_no_reports(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """An instance with nothing in use stays silent; a license that stops being used is reported
    once as zero, then silence."""
    running = await make_agent()
    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    await ssm.clock.advance(timedelta(hours=2))
    assert await ssm.store.read(lambda u: u.usage.reports(inst.state.piid or "")) == []
    await inst.set_usage({PREMIUM: 5})
    await ssm.clock.advance(Q)
    await inst.set_usage({PREMIUM: 0})
    await ssm.clock.advance(3 * Q)
    rows = await ssm.store.read(lambda u: u.usage.reports(inst.state.piid or ""))
    # 5 (interval 1), 0 (interval 2: set to 0 exactly at its start, issue 16.6), then nothing
    assert len(rows) == 2
    assert (await pool(ssm)).pool.in_use == 0


async def test_usage_input_errors_change_nothing(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """Negative counts and unknown license names are refused with a clear code."""
    from shared.errors import BadRequest

    running = await make_agent()
    inst = running.agent.runner(None)
    for values, code in (({PREMIUM: -1}, "invalid_usage"), ({"Quantum Agent": 3}, "unknown_license")):
        with pytest.raises(BadRequest) as exc:
            await inst.set_usage(values)
        assert exc.value.code == code
    assert inst.usage.current == {}


async def test_not_applicable_licenses_are_never_reported(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """A license its license type does not offer shows Not Applicable and is not reported."""
    running = await make_agent()
    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    await inst.set_usage({"Third-party IVR": 4})
    await ssm.clock.advance(2 * Q)
    assert line(inst, "Third-party IVR").status is EntitlementStatus.NOT_APPLICABLE
    assert await ssm.store.read(lambda u: u.usage.reports(inst.state.piid or "")) == []


async def test_evaluation_usage_shows_evaluation(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """Unregistered, every license reads Evaluation (then Evaluation Expired after 90 days)."""
    running = await make_agent()
    inst = running.agent.runner(None)
    await inst.set_usage({PREMIUM: 10})
    assert line(inst).status is EntitlementStatus.EVALUATION
    await ssm.clock.advance(timedelta(days=91))
    assert line(inst).status is EntitlementStatus.EVALUATION_EXPIRED
    assert utc(inst.state.first_started_at) < ssm.clock.now()
