"""The seed's "Action" menu and License Type page, end to end over TLS: deregister (online and
with the SSM unreachable), the SSM's "remove product instance", reregistration into another
virtual account, and the license type rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent.api import create_api
from server.accounts import LAB_DOMAIN, create_virtual_account, resolve_account
from server.registration import remove_instance
from shared.clock import AnyClock
from shared.errors import Conflict
from shared.states import (
    AuthorizationStatus,
    Enforcement,
    EntitlementStatus,
    LicenseType,
    RegistrationStatus,
    UsageMode,
)
from tests.conftest import MakeAgent, NetCut, RunningSSM


async def test_deregister_releases_on_the_ssm_and_returns_to_evaluation(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """Deregister: the SSM forgets the instance at once; the agent is back in Evaluation Mode with
    the time left of its first evaluation (never reset)."""
    running = await make_agent()
    inst = running.agent.runner(None)
    await ssm.clock.advance(timedelta(days=20))
    await inst.register(await ssm.token())
    piid = inst.state.piid
    await ssm.clock.advance(timedelta(days=10))
    result = await inst.deregister()
    assert result.removed_on_ssm
    assert result.status.registration_status is RegistrationStatus.UNREGISTERED
    assert result.status.license_authorization_status is AuthorizationStatus.EVALUATION
    assert result.status.evaluation_remaining == "60 days"
    assert await ssm.store.read(lambda u: u.instances.page()) == []
    removed = await ssm.store.read(lambda u: u.instances.get(piid or ""))
    assert removed is not None and removed.removed_reason == "deregistered"
    assert inst.key is None
    stored = await running.store.load(inst.name)
    assert stored is not None and stored.key_pem is None  # the ID key is gone from disk too


async def test_deregister_after_evaluation_expired_goes_to_enforcement(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """Deregistering after the evaluation period ended: Evaluation Expired and Enforcement."""
    running = await make_agent()
    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    await ssm.clock.advance(timedelta(days=100))
    result = await inst.deregister()
    assert result.status.license_authorization_status is AuthorizationStatus.EVALUATION_EXPIRED
    assert result.status.enforcement is Enforcement.EVALUATION_EXPIRY


async def test_deregister_with_the_ssm_unreachable_is_local_and_says_what_to_do(
    ssm: RunningSSM, make_agent: MakeAgent, netcut: NetCut
) -> None:
    """SSM unreachable: the agent deregisters locally and names the instance to remove by hand; the
    SSM's admin removal then frees it."""
    running = await make_agent(port=netcut.port)
    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    piid = inst.state.piid or ""
    await netcut.cut()
    result = await inst.deregister()
    assert not result.removed_on_ssm
    assert piid in result.message and "ssm-server instance remove" in result.message
    assert result.status.registration_status is RegistrationStatus.UNREGISTERED
    assert [i.piid for i in await ssm.store.read(lambda u: u.instances.page())] == [piid]  # still on the SSM
    await remove_instance(ssm.store, piid, ssm.clock.now(), by="test")
    assert await ssm.store.read(lambda u: u.instances.page()) == []
    with pytest.raises(Conflict) as exc:
        await remove_instance(ssm.store, piid, ssm.clock.now(), by="test")
    assert exc.value.code == "instance_already_removed"


async def test_instance_removed_on_the_ssm_is_disabled_on_the_agent(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """After the SSM removes an instance, its next renewal learns it: the agent unregisters it,
    its entitlements show Disabled and the reason says to register again."""
    running = await make_agent([{"name": "ucce-1", "license_type": "Perpetual"}])
    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    assert inst.state.entitlements
    await remove_instance(ssm.store, inst.state.piid or "", ssm.clock.now(), by="test")
    await ssm.clock.advance(timedelta(days=30))
    view = inst.status()
    assert view.registration_status is RegistrationStatus.UNREGISTERED
    assert view.entitlements and all(e.status is EntitlementStatus.DISABLED for e in view.entitlements)
    assert view.reason is not None and view.reason.code == "instance_removed"
    assert "register" in view.reason.fix


async def test_reregister_with_a_token_of_another_virtual_account_moves_the_instance(
    ssm: RunningSSM, make_agent: MakeAgent
) -> None:
    """Reregister with a token from another virtual account: the instance moves there; the old
    registration is gone from the SSM."""
    account = await resolve_account(ssm.store, LAB_DOMAIN)
    await create_virtual_account(ssm.store, account=account, name="CVP-Lab", description="", now=ssm.clock.now())
    from server.accounts import add_licenses

    await add_licenses(
        ssm.store,
        account=account,
        va_name="CVP-Lab",
        license_type=LicenseType.FLEX,
        usage_mode=UsageMode.PRODUCTION,
        name="Premium Agent",
        quantity=10,
        now=ssm.clock.now(),
    )
    running = await make_agent()
    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    old = inst.state.piid
    view = await inst.register(await ssm.token(va="CVP-Lab"), force=True)
    assert view.virtual_account == "CVP-Lab"
    assert view.piid != old
    active = await ssm.store.read(lambda u: u.instances.page())
    assert [i.piid for i in active] == [view.piid]
    va = await ssm.store.read(lambda u: u.accounts.virtual_account(active[0].virtual_account_id))
    assert va is not None and va.name == "CVP-Lab"
    events = [e.message for e in await ssm.store.read(lambda u: u.events.recent(limit=50))]
    assert any("moved to virtual account CVP-Lab" in m for m in events)


async def test_reregister_failure_keeps_the_registration(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """A refused reregistration changes nothing: the instance stays registered where it was."""
    from shared import tokens
    from shared.errors import RemoteError

    running = await make_agent()
    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    piid = inst.state.piid
    with pytest.raises(RemoteError):
        await inst.register(tokens.mint(expires_at=ssm.clock.now() + timedelta(days=1)).text, force=True)
    assert inst.state.piid == piid
    assert inst.status().registration_status is RegistrationStatus.REGISTERED


async def test_license_type_is_refused_while_registered(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """License Type is chosen before registering; while registered: deregister_first."""
    running = await make_agent()
    inst = running.agent.runner(None)
    view = await inst.set_license_type(LicenseType.PERPETUAL, UsageMode.NON_PRODUCTION)
    assert (view.license_type, view.usage_mode) == (LicenseType.PERPETUAL, UsageMode.NON_PRODUCTION)
    await inst.register(await ssm.token())
    with pytest.raises(Conflict) as exc:
        await inst.set_license_type(LicenseType.FLEX, UsageMode.PRODUCTION)
    assert exc.value.code == "deregister_first"
    assert "deregister" in exc.value.fix


async def test_rogger_logger_forces_perpetual(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """A Unified CCE Rogger/Logger deployment registers as Perpetual even when Flex is configured."""
    running = await make_agent(
        [{"name": "rogger", "deployment_type": "Unified CCE Rogger/Logger", "license_type": "Flex"}]
    )
    inst = running.agent.runner(None)
    view = await inst.register(await ssm.token())
    assert view.configured_license_type is LicenseType.FLEX
    assert view.license_type is LicenseType.PERPETUAL
    stored = (await ssm.store.read(lambda u: u.instances.page()))[0]
    assert stored.license_type is LicenseType.PERPETUAL


async def test_a_license_type_the_account_does_not_hold_is_out_of_compliance_then_enforcement(
    ssm: RunningSSM, make_agent: MakeAgent
) -> None:
    """Flex Non-Production, which the lab account holds none of: Out of Compliance at once, with
    the reason; unresolved for 90 days: Enforcement (Out-of-Compliance expiry)."""
    running = await make_agent([{"name": "lab-ucce", "license_type": "Flex", "usage_mode": "Non-Production"}])
    inst = running.agent.runner(None)
    t0 = ssm.clock.now()
    view = await inst.register(await ssm.token())
    assert view.license_authorization_status is AuthorizationStatus.OUT_OF_COMPLIANCE
    assert view.out_of_compliance_since == t0.isoformat()
    assert "Flex Non-Production" in (view.out_of_compliance_reason or "")
    await ssm.clock.advance(timedelta(days=91))
    view = inst.status()
    assert view.enforcement is Enforcement.OUT_OF_COMPLIANCE_EXPIRY
    assert view.enforcement_since == (t0 + timedelta(days=90)).isoformat()
    assert "licenses" in (view.way_out or "")


# -- the same actions through the local API -------------------------------------------------------


async def _noop(_c: AnyClock) -> None:
    return None


@pytest.fixture
async def api(ssm: RunningSSM, make_agent: MakeAgent, aiohttp_client: Any) -> TestClient[Any, Any]:
    running = await make_agent()
    client: TestClient[Any, Any] = await aiohttp_client(create_api(running.agent, _noop))
    return client


async def test_local_api_actions(ssm: RunningSSM, api: TestClient[Any, Any]) -> None:
    """license-type, register, renew, agents, deregister through the local API, with their errors."""
    base = "/api/v1/instances/ucce-1"
    r = await api.put(f"{base}/license-type", json={"license_type": "Perpetual", "usage_mode": "Production"})
    assert r.status == 200 and (await r.json())["license_type"] == "Perpetual"
    r = await api.put(f"{base}/license-type", json={"license_type": "Subscription", "usage_mode": "Production"})
    assert r.status == 400 and (await r.json())["error"] == "invalid_body"
    r = await api.post(f"{base}/renew-authorization")
    assert r.status == 409 and (await r.json())["error"] == "not_registered"
    r = await api.post(f"{base}/register", json={"token": await ssm.token()})
    assert r.status == 200
    r = await api.put(f"{base}/license-type", json={"license_type": "Flex", "usage_mode": "Production"})
    assert r.status == 409 and (await r.json())["error"] == "deregister_first"
    for action in ("renew-authorization", "renew-registration"):
        r = await api.post(f"{base}/{action}")
        assert r.status == 200, await r.text()
    r = await api.post(f"{base}/agents", json={"count": 3})
    assert r.status == 200 and (await r.json())["agents"] == 3
    r = await api.post(f"{base}/agents", json={"count": 0})
    assert r.status == 400
    r = await api.post(f"{base}/reregister", json={"token": await ssm.token()})
    assert r.status == 200 and (await r.json())["registration_status"] == "Registered"
    r = await api.post(f"{base}/deregister")
    body = await r.json()
    assert r.status == 200 and body["removed_on_ssm"] is True
    assert body["status"]["registration_status"] == "Unregistered"
