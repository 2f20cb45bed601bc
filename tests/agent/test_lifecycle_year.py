"""The licensing lifecycle on a virtual clock, over real TLS: a year of automatic renewals, an
outage that runs into Authorization Expired and then Enforcement, recovery, and restarts that
lose no transition."""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec
import pytest

from agent.cli.render import render_status
from shared.clock import epoch, utc
from shared.errors import Conflict
from shared.states import AuthorizationStatus, Enforcement, RegistrationStatus
from shared.watch import FAILED_TO_CONNECT, FAILED_TO_RENEW
from tests.conftest import MakeAgent, NetCut, RunningSSM

DAY = timedelta(days=1)


async def kinds_at(running, kind: str) -> list[datetime]:  # type: ignore[no-untyped-def]
    return [utc(e.at) for e in await running.store.events(limit=10_000) if e.kind == kind]


async def test_a_year_of_renewals_then_an_outage_then_recovery(
    ssm: RunningSSM, make_agent: MakeAgent, netcut: NetCut
) -> None:
    """Register; 365 days bring 12 authorization renewals and 2 registration renewals at their
    instants; cut off for 91 days: Authorization Expired at last contact + 90 days; 90 days more:
    Enforcement (and adding agents is refused); reconnect: Authorized again within the backoff."""
    running = await make_agent(port=netcut.port)
    inst = running.agent.runner(None)
    t0 = ssm.clock.now()
    await inst.register(await ssm.token())

    await ssm.clock.advance(timedelta(days=365))
    renewals = await kinds_at(running, "authorization_renewed")
    assert renewals == [t0 + timedelta(days=30 * k) for k in range(1, 13)]
    assert await kinds_at(running, "registration_renewed") == [t0 + timedelta(days=180), t0 + timedelta(days=360)]
    view = inst.status()
    assert view.registration_status is RegistrationStatus.REGISTERED
    assert view.license_authorization_status is AuthorizationStatus.AUTHORIZED
    assert view.registration_expires == (t0 + timedelta(days=360 + 365)).isoformat()
    last_contact = t0 + timedelta(days=360)

    await netcut.cut()
    await ssm.clock.advance(timedelta(days=91))  # day 456: 96 days after the last contact
    view = inst.status()
    assert view.license_authorization_status is AuthorizationStatus.AUTHORIZATION_EXPIRED
    assert view.enforcement is None
    assert await kinds_at(running, "authorization_authorization_expired") == [last_contact + timedelta(days=90)]
    assert view.reason is not None and view.reason.code in ("connection_failed", "connection_lost")

    await ssm.clock.advance(timedelta(days=90))
    view = inst.status()
    assert view.enforcement is Enforcement.AUTHORIZATION_EXPIRY
    assert view.enforcement_since == (last_contact + timedelta(days=180)).isoformat()
    with pytest.raises(Conflict) as exc:
        await inst.add_agents(1)
    assert exc.value.code == "enforcement" and "renew" in exc.value.fix

    attempts = [e for e in await running.store.events(limit=10_000) if e.kind == "renew_authorization_failed"]
    assert 100 < len(attempts) < 400  # backoff: never a spin, at most one attempt a day once capped

    await netcut.restore()
    await ssm.clock.advance(DAY)
    view = inst.status()
    assert view.license_authorization_status is AuthorizationStatus.AUTHORIZED
    assert view.enforcement is None
    assert (await inst.add_agents(2)).agents == 2

    outbox = await ssm.store.read(lambda u: u.events.outbox(limit=100))
    kinds = [n.kind for n in outbox]
    assert FAILED_TO_RENEW in kinds and FAILED_TO_CONNECT in kinds
    connect = next(n for n in outbox if n.kind == FAILED_TO_CONNECT)
    assert utc(connect.at) == last_contact + timedelta(days=90)


async def test_restart_mid_way_loses_no_transition(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """The agent is down from day 45 to day 130: at restart it records Authorization Expired at
    day 120 (last contact + 90 days), then renews at once and is Authorized again."""
    first = await make_agent()
    inst = first.agent.runner(None)
    t0 = ssm.clock.now()
    await inst.register(await ssm.token())
    await ssm.clock.advance(timedelta(days=45))
    await first.close()
    await ssm.clock.advance(timedelta(days=85))

    second = await make_agent()
    again = second.agent.runner(None)
    await ssm.clock.advance(timedelta(seconds=1))  # let the timer loop run its first tick
    assert await kinds_at(second, "authorization_authorization_expired") == [t0 + timedelta(days=120)]
    renewed = await kinds_at(second, "authorization_renewed")
    assert renewed[-1] >= t0 + timedelta(days=130)
    assert again.status().license_authorization_status is AuthorizationStatus.AUTHORIZED
    # and the schedule continues from the new authorization
    assert again.status().next_authorization_renewal == (renewed[-1] + timedelta(days=30)).isoformat()


async def test_evaluation_expires_into_enforcement_and_registration_leaves_it(
    ssm: RunningSSM, make_agent: MakeAgent
) -> None:
    """Unregistered for 90 days: Evaluation Expired and Enforcement at first start + 90 days;
    adding agents is refused with "register"; registering leaves Enforcement."""
    running = await make_agent()
    inst = running.agent.runner(None)
    first = utc(inst.state.first_started_at)
    await ssm.clock.advance(timedelta(days=89))
    assert inst.status().license_authorization_status is AuthorizationStatus.EVALUATION
    assert inst.status().evaluation_remaining == "1 day"
    await ssm.clock.advance(timedelta(days=2))
    view = inst.status()
    assert view.license_authorization_status is AuthorizationStatus.EVALUATION_EXPIRED
    assert view.enforcement is Enforcement.EVALUATION_EXPIRY
    assert view.enforcement_since == (first + timedelta(days=90)).isoformat()
    with pytest.raises(Conflict) as exc:
        await inst.add_agents(1)
    assert "register" in exc.value.fix
    view = await inst.register(await ssm.token())
    assert view.license_authorization_status is AuthorizationStatus.AUTHORIZED
    assert view.enforcement is None


async def test_restart_never_resets_evaluation(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """Restarting the agent keeps the evaluation clock of the first start."""
    first = await make_agent()
    started = first.agent.runner(None).state.first_started_at
    await ssm.clock.advance(timedelta(days=60))
    await first.close()
    second = await make_agent()
    assert second.agent.runner(None).state.first_started_at == started
    assert second.agent.runner(None).status().evaluation_remaining == "30 days"


async def test_registration_expires_after_twelve_months_without_renewal(
    ssm: RunningSSM, make_agent: MakeAgent, netcut: NetCut
) -> None:
    """Cut off for a year: Registration Expired when the ID certificate's 12 months end; status and
    renewals show the way out (reregister); reregistering recovers."""
    running = await make_agent(port=netcut.port)
    inst = running.agent.runner(None)
    t0 = ssm.clock.now()
    await inst.register(await ssm.token())
    await netcut.cut()
    await ssm.clock.advance(timedelta(days=366))
    assert await kinds_at(running, "registration_registration_expired") == [t0 + timedelta(days=365)]
    assert inst.status().registration_status is RegistrationStatus.REGISTRATION_EXPIRED
    # issue 16.2, 16.3: "Registration Expired (its expiry date)", the way out is to reregister,
    # and 'agents add' (refused in Enforcement) says the same
    view = inst.status()
    assert view.way_out is not None and "smart-agent reregister" in view.way_out and "renew auth" not in view.way_out
    text = render_status(msgspec.to_builtins(view))
    assert f"Registration Expired ({(t0 + timedelta(days=365)):%Y-%m-%d %H:%M:%S} UTC)" in text
    with pytest.raises(Conflict) as refused:
        await inst.add_agents(1)
    assert refused.value.code == "enforcement" and "smart-agent reregister" in refused.value.fix
    assert "renew auth" not in refused.value.fix
    await netcut.restore()
    with pytest.raises(Conflict) as exc:
        await inst.renew_authorization()
    assert exc.value.code == "registration_expired" and "reregister" in exc.value.fix
    view = await inst.register(await ssm.token(), force=True)
    assert view.registration_status is RegistrationStatus.REGISTERED
    assert view.license_authorization_status is AuthorizationStatus.AUTHORIZED


async def test_manual_renewals(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """Renew Authorization and Renew Registration on demand reset their schedules."""
    running = await make_agent()
    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    await ssm.clock.advance(timedelta(days=10))
    view = await inst.renew_authorization()
    assert view.authorization_time == ssm.clock.now().isoformat()
    assert view.next_authorization_renewal == (ssm.clock.now() + timedelta(days=30)).isoformat()
    old_piid_cert = (await ssm.store.read(lambda u: u.instances.get(view.piid or ""))).cert_serial  # type: ignore[union-attr]
    view = await inst.renew_registration()
    assert view.registration_expires == (ssm.clock.now() + timedelta(days=365)).isoformat()
    assert (await ssm.store.read(lambda u: u.instances.get(view.piid or ""))).cert_serial != old_piid_cert  # type: ignore[union-attr]
    # the new key works: the next request verifies and the SSM forgets the old key
    await inst.renew_authorization()
    assert (await ssm.store.read(lambda u: u.instances.get(view.piid or ""))).prev_public_key is None  # type: ignore[union-attr]


async def test_manual_actions_refused_when_not_registered(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """Renewals and deregistration need a registration: not_registered, with the fix."""
    running = await make_agent()
    inst = running.agent.runner(None)
    for action in (inst.renew_authorization, inst.renew_registration, inst.deregister):
        with pytest.raises(Conflict) as exc:
            await action()
        assert exc.value.code == "not_registered"
        assert "register" in exc.value.fix


def test_epoch_helpers_round_trip() -> None:
    """Domain instants survive the epoch-seconds storage format."""
    t = datetime.fromisoformat("2026-03-01T12:00:00+00:00")
    assert utc(epoch(t)) == t
