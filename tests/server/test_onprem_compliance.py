"""Compliance across both sides: the cloud's pool is shared by its own product instances and an
SSM On-Prem's; when it goes Out of Compliance the On-Prem's instances do too (after the next
synchronization), judged by the On-Prem's own ledger, and come back when a purchase covers it."""

from __future__ import annotations

from pathlib import Path

from server import onprem
from server.accounts import LAB_DOMAIN, add_licenses, resolve_account
from server.store import Store
from server.store.rows import License
from shared.states import AuthorizationStatus, LicenseType, UsageMode
from tests.conftest import MakeAgent, RunningSSM
from tests.server.onprem_site import CONNECTED, OnPrem, Q, agent_on, bind, onprem_token


async def premium(store: Store) -> License:
    return next(
        p
        for p in await store.read(lambda u: u.pools.of(1))
        if p.name == "Premium Agent" and p.license_type is LicenseType.FLEX
    )


@CONNECTED
async def test_the_onprem_instances_follow_the_shared_pool(
    ssm: RunningSSM, site: OnPrem, pki_dir: Path, make_agent: MakeAgent
) -> None:
    trust = pki_dir / "truststore.pem"
    await bind(site, ssm, pki_dir)
    await onprem.sync_now(site.store, ssm.clock.now(), truststore=trust)
    direct = (await make_agent()).agent.runner(None)  # registered to the cloud
    await direct.register(await ssm.token())
    behind = (await agent_on(make_agent, site)).agent.runner(None)  # registered to the On-Prem
    await behind.register(await onprem_token(site, ssm))
    await behind.set_usage({"Premium Agent": 30})  # 30 of the 100 the On-Prem sees: fine on its own
    await ssm.clock.advance(Q)
    await onprem.sync_now(site.store, ssm.clock.now(), truststore=trust)  # the cloud counts the 30
    await direct.set_usage({"Premium Agent": 110})
    await ssm.clock.advance(6 * Q)  # five over-usage intervals at the cloud: 140 of 100
    cloud_pool = await premium(ssm.store)
    assert cloud_pool.pool.in_use == 140 and cloud_pool.pool.ooc_since is not None
    local = await premium(site.store)
    assert (local.pool.in_use, local.pool.ooc_since) == (30, None)  # it knows at its next synchronization
    assert behind.status().license_authorization_status is AuthorizationStatus.AUTHORIZED

    await onprem.sync_now(site.store, ssm.clock.now(), truststore=trust)
    local = await premium(site.store)
    assert (local.quantity, local.pool.in_use, local.pool.ooc_since) == (100, 140, cloud_pool.pool.ooc_since)
    [mine] = await site.store.read(lambda u: u.instances.page())
    assert mine.status is AuthorizationStatus.OUT_OF_COMPLIANCE and mine.ooc_since == cloud_pool.pool.ooc_since
    await ssm.clock.advance(Q)  # its next report: the On-Prem's own ledger keeps it Out of Compliance
    view = behind.status()
    assert view.license_authorization_status is AuthorizationStatus.OUT_OF_COMPLIANCE
    assert view.out_of_compliance_reason and "Premium Agent: 140 in use" in view.out_of_compliance_reason
    kinds = [e.kind for e in await site.store.read(lambda u: u.events.recent(limit=200))]
    assert "pool_out_of_compliance" in kinds and "instance_out_of_compliance" in kinds

    account = await resolve_account(ssm.store, LAB_DOMAIN)
    await add_licenses(
        ssm.store,
        account=account,
        va_name="DEFAULT",
        license_type=LicenseType.FLEX,
        usage_mode=UsageMode.PRODUCTION,
        name="Premium Agent",
        quantity=50,
        now=ssm.clock.now(),
    )
    await ssm.clock.advance(Q)  # the cloud judges the pool again: covered
    assert (await premium(ssm.store)).pool.ooc_since is None
    await onprem.sync_now(site.store, ssm.clock.now(), truststore=trust)
    local = await premium(site.store)
    assert (local.quantity, local.pool.ooc_since) == (150, None)
    [mine] = await site.store.read(lambda u: u.instances.page())
    assert mine.status is AuthorizationStatus.AUTHORIZED and mine.ooc_since is None
    await ssm.clock.advance(Q)
    assert behind.status().license_authorization_status is AuthorizationStatus.AUTHORIZED


@CONNECTED
async def test_between_synchronizations_the_onprem_judges_the_shared_pool(
    ssm: RunningSSM, site: OnPrem, pki_dir: Path, make_agent: MakeAgent
) -> None:
    """The cloud's others use 90 of 100 (as the last synchronization said): the On-Prem's own 30
    over-use the shared pool, and its ledger puts its instance Out of Compliance after five of
    its own intervals, before the cloud hears of them."""
    trust = pki_dir / "truststore.pem"
    await bind(site, ssm, pki_dir)
    direct = (await make_agent()).agent.runner(None)
    await direct.register(await ssm.token())
    await direct.set_usage({"Premium Agent": 90})
    await ssm.clock.advance(Q)
    await onprem.sync_now(site.store, ssm.clock.now(), truststore=trust)
    assert (await premium(site.store)).pool.in_use == 90
    behind = (await agent_on(make_agent, site)).agent.runner(None)
    await behind.register(await onprem_token(site, ssm))
    await behind.set_usage({"Premium Agent": 30})
    await ssm.clock.advance(7 * Q)
    local = await premium(site.store)
    assert local.pool.in_use == 120 and local.pool.ooc_since is not None
    assert behind.status().license_authorization_status is AuthorizationStatus.OUT_OF_COMPLIANCE
    assert (await premium(ssm.store)).pool.ooc_since is None  # the cloud counts them at the next synchronization
