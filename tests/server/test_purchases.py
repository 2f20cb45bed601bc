"""Every way licenses reach a virtual account re-judges it at once (issue 16.1): the lab's
``POST /_lab/licenses`` (as ``ssm-server license add``), the admin API's license transfer and an SSM
On-Prem's synchronization. An idle instance, which sends no report, learns it at its next
authorization renewal."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from server import onprem, reservations
from server.accounts import LAB_DOMAIN, create_virtual_account, resolve_account
from shared import slr
from shared.states import AuthorizationStatus, LicenseType, UsageMode
from tests.agent.compliance import buy, go_idle_out_of_compliance
from tests.conftest import MakeAgent, RunningSSM
from tests.server.conftest import Api
from tests.server.onprem_site import CONNECTED, OnPrem, agent_on, bind, onprem_token
from tests.server.reservations import reserve

Q = timedelta(minutes=15)
PREMIUM = "Premium Agent"
LEGACY = "/services/api/smart-accounts-and-licensing"


async def premium(store, va_id: int = 1):  # type: ignore[no-untyped-def]
    return next(
        p
        for p in await store.read(lambda u: u.pools.of(va_id))
        if p.name == PREMIUM and p.license_type is LicenseType.FLEX and p.usage_mode is UsageMode.PRODUCTION
    )


async def test_the_lab_purchase_rejudges_the_pool(api: Api, make_agent: MakeAgent) -> None:
    ssm = api.ssm
    inst = (await make_agent()).agent.runner(None)
    await inst.register(await ssm.token())
    await go_idle_out_of_compliance(ssm, inst)
    status, body = await api.call("POST", "/_lab/licenses", json={"name": PREMIUM, "quantity": 1})
    assert status == 201 and body["purchased"] == 101
    assert (await premium(ssm.store)).pool.ooc_since is None
    events = [e.kind for e in await ssm.store.read(lambda u: u.events.recent(limit=5))]
    assert "pool_in_compliance" in events and "instance_in_compliance" in events
    assert (await inst.renew_authorization()).license_authorization_status is AuthorizationStatus.AUTHORIZED


async def test_a_transfer_reaches_the_target_accounts_instances(api: Api, make_agent: MakeAgent) -> None:
    """An instance in a virtual account holding no licenses of its type is Out of Compliance; a
    transfer of licenses into it clears the verdict on the SSM at once, and at the next renewal on
    the instance."""
    ssm = api.ssm
    account = await resolve_account(ssm.store, LAB_DOMAIN)
    east = await create_virtual_account(ssm.store, account=account, name="East", description="", now=ssm.clock.now())
    inst = (await make_agent()).agent.runner(None)
    view = await inst.register(await ssm.token("East"))
    assert view.license_authorization_status is AuthorizationStatus.OUT_OF_COMPLIANCE
    await api.login()
    item = {"license": f"{PREMIUM} (Flex, Production)", "quantity": 10, "targetVirtualAccount": "East"}
    path = f"{LEGACY}/v1/accounts/{LAB_DOMAIN}/virtual-accounts/DEFAULT/licenses/transfer"
    got, body = await api.call("POST", path, json={"licenses": [item]})
    assert got == 200 and body["status"] == "SUCCESS", body
    row = await ssm.store.read(lambda u: u.instances.get(inst.state.piid or ""))
    assert row is not None and (row.status, row.ooc_since) == (AuthorizationStatus.AUTHORIZED, None)
    assert (await premium(ssm.store, east.id)).quantity == 10
    assert (await inst.renew_authorization()).license_authorization_status is AuthorizationStatus.AUTHORIZED


@CONNECTED
async def test_an_onprem_synchronization_rejudges_its_pools(
    ssm: RunningSSM,
    site: OnPrem,
    pki_dir: Path,
    make_agent: MakeAgent,
) -> None:
    """Licenses bought on the cloud reach an idle Out-of-Compliance instance of the On-Prem at the
    On-Prem's next synchronization."""
    trust = pki_dir / "truststore.pem"
    await bind(site, ssm, pki_dir)
    await onprem.sync_now(site.store, ssm.clock.now(), truststore=trust)
    inst = (await agent_on(make_agent, site)).agent.runner(None)
    await inst.register(await onprem_token(site, ssm))
    await go_idle_out_of_compliance(ssm, inst)
    assert (await premium(site.store)).pool.ooc_since is not None

    await buy(ssm, 5)  # on the cloud
    await onprem.sync_now(site.store, ssm.clock.now(), truststore=trust)
    local = await premium(site.store)
    assert (local.quantity, local.pool.ooc_since) == (105, None)
    assert (await inst.renew_authorization()).license_authorization_status is AuthorizationStatus.AUTHORIZED


async def test_a_reservation_given_back_counts_for_usage_at_once(api: Api, make_agent: MakeAgent) -> None:
    """95 of 100 reserved, 10 in use then none: locked Out of Compliance; the administrator releases
    the reservation: the pool is back In Compliance without waiting for a report."""
    ssm = api.ssm
    await api.login()
    pool = await premium(ssm.store)
    got, _ = await reserve(api, slr.new_request_code("UCCE", "SN-R").text, pool.tag, 95)
    assert got == 200
    inst = (await make_agent()).agent.runner(None)
    await inst.register(await ssm.token())
    await go_idle_out_of_compliance(ssm, inst, over=10)
    await reservations.release(ssm.store, "UCCE", "SN-R", now=ssm.clock.now(), by="test")
    assert (await premium(ssm.store)).pool.ooc_since is None
