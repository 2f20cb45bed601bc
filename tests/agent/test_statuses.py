"""Every status of the seed's Tables 4 and 5 that needs a particular path, reached by the path the
README documents, over real TLS on a virtual clock (issue 16.3): Unauthorized / Not Authorized
(the authorization right after registering fails), Disabled ('smart-agent disable'), Invalid (the
SSM refuses the reports), Invalid Tag (an instance sending tags the SSM does not know) and, with
the policy ``idle_authorization``, No License in Use."""

from __future__ import annotations

import ssl
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from shared.states import AuthorizationStatus, EntitlementStatus
from tests.conftest import MakeAgent, RunningSSM

Q = timedelta(minutes=15)
PREMIUM = "Premium Agent"


async def lab(ssm: RunningSSM, pki_dir: Path, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
    ctx = ssl.create_default_context(cafile=str(pki_dir / "truststore.pem"))
    async with aiohttp.ClientSession() as s, s.request(method, ssm.url + path, json=body, ssl=ctx) as r:
        assert r.status < 300, await r.text()
        return await r.json()


def statuses(runner) -> dict[str, EntitlementStatus]:  # type: ignore[no-untyped-def]
    return {c.license_name: c.status for c in runner.consumption()}


async def test_unauthorized_when_the_first_authorization_fails(
    ssm: RunningSSM, pki_dir: Path, make_agent: MakeAgent
) -> None:
    """'ssmlab fault add --kind status --status 503 --message authorization', then register: the
    registration succeeds, its authorization does not: Registered, Unauthorized; its entitlements
    Not Authorized. The fault gone, the retry authorizes."""
    inst = (await make_agent()).agent.runner(None)
    await inst.set_usage({PREMIUM: 5})
    await lab(ssm, pki_dir, "POST", "/_lab/faults", {"kind": "status", "status": 503, "message": "authorization"})
    view = await inst.register(await ssm.token())
    assert (view.registration_status, view.license_authorization_status) == ("Registered", "Unauthorized")
    assert view.reason is not None and view.reason.code == "injected_fault"
    assert statuses(inst)[PREMIUM] is EntitlementStatus.NOT_AUTHORIZED
    await lab(ssm, pki_dir, "DELETE", "/_lab/faults")
    await ssm.clock.advance(Q)  # the first retry of the backoff
    assert inst.status().license_authorization_status is AuthorizationStatus.AUTHORIZED


async def test_disable_shows_every_entitlement_disabled(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """'smart-agent disable': the consumption summary says Disabled (Table 5); enabled, it is back."""
    inst = (await make_agent()).agent.runner(None)
    await inst.register(await ssm.token())
    await inst.set_usage({PREMIUM: 5})
    await ssm.clock.advance(Q)
    assert statuses(inst)[PREMIUM] is EntitlementStatus.IN_COMPLIANCE
    await inst.set_enabled(False)
    assert set(statuses(inst).values()) == {EntitlementStatus.DISABLED}
    await inst.set_enabled(True)
    assert statuses(inst)[PREMIUM] is EntitlementStatus.IN_COMPLIANCE


async def test_invalid_while_the_ssm_refuses_the_reports(ssm: RunningSSM, pki_dir: Path, make_agent: MakeAgent) -> None:
    """The SSM refuses the usage reports (here 'ssmlab fault add --kind status --status 400 --message
    report'): an error condition, Invalid (Table 5) until a report is accepted."""
    inst = (await make_agent()).agent.runner(None)
    await inst.register(await ssm.token())
    await inst.set_usage({PREMIUM: 5})
    await lab(ssm, pki_dir, "POST", "/_lab/faults", {"kind": "status", "status": 400, "message": "report"})
    await ssm.clock.advance(Q)
    assert statuses(inst)[PREMIUM] is EntitlementStatus.INVALID
    await lab(ssm, pki_dir, "DELETE", "/_lab/faults")
    await ssm.clock.advance(Q)
    assert statuses(inst)[PREMIUM] is EntitlementStatus.IN_COMPLIANCE


async def test_503_is_not_invalid(ssm: RunningSSM, pki_dir: Path, make_agent: MakeAgent) -> None:
    """An SSM that does not answer (5xx) is no refusal: the last known status stays."""
    inst = (await make_agent()).agent.runner(None)
    await inst.register(await ssm.token())
    await inst.set_usage({PREMIUM: 5})
    await ssm.clock.advance(Q)
    await lab(ssm, pki_dir, "POST", "/_lab/faults", {"kind": "status", "status": 503, "message": "report"})
    await ssm.clock.advance(Q)
    assert inst.usage.queue and statuses(inst)[PREMIUM] is EntitlementStatus.IN_COMPLIANCE


async def test_invalid_tag_for_tags_the_ssm_does_not_know(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """An instance configured with 'entitlement_tags' the SSM's catalog lacks (a newer product
    release): the SSM answers Invalid Tag and counts nothing."""
    bogus = "regid.2099-01.com.cisco.UCCE_FLEX_PROD_PREMIUM_AGENT,9.0_00000000-0000-0000-0000-000000000000"
    running = await make_agent([{"name": "ucce-9", "entitlement_tags": f'{{ "{PREMIUM}" = "{bogus}" }}'}])
    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    assert statuses(inst)[PREMIUM] is EntitlementStatus.INVALID_TAG  # the authorization's answer
    await inst.set_usage({PREMIUM: 5})
    await ssm.clock.advance(Q)
    assert statuses(inst)[PREMIUM] is EntitlementStatus.INVALID_TAG  # the report's answer
    pools = await ssm.store.read(lambda u: u.pools.all())
    assert all(p.pool.in_use == 0 for p in pools)


async def test_no_license_in_use_with_the_policy(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """With idle_authorization = "No License in Use" the License Authorization Status says so while
    the SSM counts nothing in use; in use, Authorized. The default keeps the seed's Table 2 reading
    (Authorized after a successful registration)."""
    policy = ssm.policy.with_overrides({"idle_authorization": "No License in Use"})
    inst = (await make_agent(policy=policy)).agent.runner(None)
    view = await inst.register(await ssm.token())
    assert view.license_authorization_status is AuthorizationStatus.NO_LICENSE_IN_USE
    assert view.authorization_time is not None
    await inst.set_usage({PREMIUM: 5})
    await ssm.clock.advance(Q)
    assert inst.status().license_authorization_status is AuthorizationStatus.AUTHORIZED
    await inst.set_usage({PREMIUM: 0})
    await ssm.clock.advance(Q)
    assert inst.status().license_authorization_status is AuthorizationStatus.NO_LICENSE_IN_USE
