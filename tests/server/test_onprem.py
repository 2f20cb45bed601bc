"""SSM On-Prem: registration to the cloud, Connected and Disconnected synchronization, the bad
files each refused without a change, the 90-day removal, and the device paths of each mode. The
cloud SSM, the On-Prem SSM and an agent run in one process over real TLS on one virtual clock."""

from __future__ import annotations

import ssl
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from plumbing.web import serve
from server import apiclients, onprem
from server.accounts import LAB_DOMAIN, create_account, create_token
from server.app import create_app
from server.pki_files import LabPki
from server.registry import Registry
from server.settings import ServerSettings
from server.store import Store
from server.tls import server_context
from shared import sync
from shared.errors import SmartLicensingError
from shared.policy import DEFAULT_POLICY
from shared.transportsettings import CH_CLOUD_PATH, CH_ONPREM_PATH, ST_CLOUD_PATH, ST_ONPREM_PATH
from tests.conftest import MakeAgent, RunningSSM
from tests.server.onprem_site import (
    CONNECTED,
    OnPrem,
    Q,
    agent_on,
    bind,
    cloud_pool,
    onprem_token,
    start_onprem,
)


@CONNECTED
async def test_connected_sync_carries_usage_up_and_entitlements_down(
    ssm: RunningSSM, site: OnPrem, pki_dir: Path, make_agent: MakeAgent
) -> None:
    """Usage reported to the On-Prem appears in the cloud's pool after one synchronization; the
    cloud's entitlements become the On-Prem's purchased quantities."""
    link = await bind(site, ssm, pki_dir)
    assert link.account_domain == LAB_DOMAIN
    result = await onprem.sync_now(site.store, ssm.clock.now(), truststore=pki_dir / "truststore.pem")
    assert result.sequence == 1 and result.entitlements > 0
    local = {
        p.name: p.quantity for p in await site.store.read(lambda u: u.pools.all()) if p.license_type.value == "Flex"
    }
    assert local["Premium Agent"] == 100

    running = await agent_on(make_agent, site)
    inst = running.agent.runner(None)
    view = await inst.register(await onprem_token(site, ssm))
    assert view.smart_account == onprem.ONPREM_ACCOUNT
    await inst.set_usage({"Premium Agent": 30})
    await ssm.clock.advance(Q)
    assert await cloud_pool(ssm) == 0  # nothing flows until the next synchronization
    await onprem.sync_now(site.store, ssm.clock.now(), truststore=pki_dir / "truststore.pem")
    assert await cloud_pool(ssm) == 30
    seen = await ssm.store.read(lambda u: u.satellites.inventory(link.piid))
    assert [r.name for r in seen] == ["ucce-1"]


async def test_disconnected_files_carried_by_hand(
    ssm: RunningSSM, site: OnPrem, pki_dir: Path, make_agent: MakeAgent, lab_pki: LabPki
) -> None:
    """Disconnected: export, cloud import, On-Prem import; usage counts in the cloud only after
    the request file is carried."""
    await bind(site, ssm, pki_dir)
    cloud = Registry(store=ssm.store, clock=ssm.clock, policy=DEFAULT_POLICY, lab_pki=lab_pki)
    running = await agent_on(make_agent, site)
    inst = running.agent.runner(None)
    await inst.register(await onprem_token(site, ssm))
    await inst.set_usage({"Premium Agent": 12})
    await ssm.clock.advance(Q)
    request = await onprem.export_request(site.store, ssm.clock.now())
    assert await cloud_pool(ssm) == 0
    response = await cloud.import_sync_file(request)
    assert await cloud_pool(ssm) == 12
    link = await onprem.import_response(site.store, ssm.clock.now(), response, truststore=pki_dir / "truststore.pem")
    assert link.applied == 1 and link.deadline is not None


def _tamper(data: bytes) -> bytes:
    """Change one character inside the signed payload of a sync file."""
    import json

    f = json.loads(data)
    head, payload, sig = f["jws"].split(".")
    i = len(payload) // 2
    f["jws"] = f"{head}.{payload[:i]}{'A' if payload[i] != 'A' else 'B'}{payload[i + 1 :]}.{sig}"
    return json.dumps(f).encode()


async def test_bad_files_are_refused_and_change_nothing(
    tmp_path: Path, ssm: RunningSSM, site: OnPrem, pki_dir: Path, lab_pki: LabPki
) -> None:
    """Tampered, truncated, replayed, wrong-direction and wrong-account files: each refused with its
    code; neither side's store changes."""
    await bind(site, ssm, pki_dir)
    cloud = Registry(store=ssm.store, clock=ssm.clock, policy=DEFAULT_POLICY, lab_pki=lab_pki)
    trust = pki_dir / "truststore.pem"
    request = await onprem.export_request(site.store, ssm.clock.now())
    response = await cloud.import_sync_file(request)
    await onprem.import_response(site.store, ssm.clock.now(), response, truststore=trust)

    second = await onprem.export_request(site.store, ssm.clock.now())
    cases_cloud = [
        (_tamper(second), ("signature_invalid", "malformed_jws", "invalid_message", "malformed_json")),
        (second[: len(second) // 2], ("sync_file_malformed",)),
        (request, ("sync_replayed",)),  # the first round again
        (response, ("sync_file_wrong_direction",)),
    ]
    for data, codes in cases_cloud:
        before = ssm.snapshot()
        with pytest.raises(SmartLicensingError) as exc:
            await cloud.import_sync_file(data)
        assert exc.value.code in codes, (exc.value.code, codes)
        assert exc.value.fix
        assert ssm.snapshot() == before

    # the On-Prem side: wrong direction, replay of an applied response, a response of another
    # On-Prem bound to another account
    other_account = await create_account(
        ssm.store, domain="other.example", name="Other", export_control_allowed=True, now=ssm.clock.now()
    )
    other_token = (
        await create_token(
            ssm.store, account=other_account, va_name="DEFAULT", now=ssm.clock.now(), policy=DEFAULT_POLICY
        )
    ).minted.text
    other, runner = await start_onprem(tmp_path, "other", ssm, lab_pki)
    try:
        await bind(other, ssm, pki_dir, token=other_token)
        foreign = await cloud.import_sync_file(await onprem.export_request(other.store, ssm.clock.now()))
    finally:
        await runner.cleanup()  # type: ignore[attr-defined]
        await other.store.close()
    fresh_response = await cloud.import_sync_file(second)
    cases_onprem = [
        (second, "sync_file_wrong_direction"),
        (response, "sync_replayed"),
        (foreign, "sync_wrong_account"),
        (_tamper(fresh_response), "signature_invalid"),
        (b'{"format": "ssmlab-sync/1", "direc', "sync_file_malformed"),
    ]
    for data, code in cases_onprem:
        before = site.snapshot()
        with pytest.raises(SmartLicensingError) as exc:
            await onprem.import_response(site.store, ssm.clock.now(), data, truststore=trust)
        assert exc.value.code == code
        assert site.snapshot() == before
    link = await onprem.import_response(site.store, ssm.clock.now(), fresh_response, truststore=trust)
    assert link.applied == 2


@CONNECTED
async def test_ninety_days_without_sync_removes_the_onprem(
    ssm: RunningSSM, site: OnPrem, pki_dir: Path, make_agent: MakeAgent
) -> None:
    """30 days silent: Synchronization Overdue; 60: the 30-day deadline warning; 90: the On-Prem
    is removed from the cloud and its usage no longer counts."""
    link = await bind(site, ssm, pki_dir)
    running = await agent_on(make_agent, site)
    inst = running.agent.runner(None)
    await onprem.sync_now(site.store, ssm.clock.now(), truststore=pki_dir / "truststore.pem")
    await inst.register(await onprem_token(site, ssm))
    await inst.set_usage({"Premium Agent": 7})
    await ssm.clock.advance(Q)
    await inst.set_usage({"Premium Agent": 0})
    await onprem.sync_now(site.store, ssm.clock.now(), truststore=pki_dir / "truststore.pem")
    assert await cloud_pool(ssm) == 7
    await ssm.clock.advance(timedelta(days=31))
    kinds = [n.kind for n in await ssm.store.read(lambda u: u.events.outbox())]
    assert sync.SYNC_OVERDUE in kinds and sync.SYNC_DEADLINE not in kinds
    await ssm.clock.advance(timedelta(days=30))
    assert sync.SYNC_DEADLINE in [n.kind for n in await ssm.store.read(lambda u: u.events.outbox())]
    await ssm.clock.advance(timedelta(days=30))
    kinds = [n.kind for n in await ssm.store.read(lambda u: u.events.outbox())]
    assert sync.SYNC_REMOVED in kinds
    removed = await ssm.store.read(lambda u: u.instances.get(link.piid))
    assert removed is not None and removed.removed_at is not None
    assert await cloud_pool(ssm) == 0
    with pytest.raises(SmartLicensingError) as exc:
        await onprem.sync_now(site.store, ssm.clock.now(), truststore=pki_dir / "truststore.pem")
    assert exc.value.code == "instance_removed"


async def test_each_mode_answers_only_its_own_device_paths(ssm: RunningSSM, site: OnPrem, pki_dir: Path) -> None:
    """The cloud answers 404 at the On-Prem's paths (Smart Transport and Call Home) and the
    On-Prem at the cloud's."""
    ctx = ssl.create_default_context(cafile=str(pki_dir / "truststore.pem"))
    wrong = (
        (ssm.url, ST_ONPREM_PATH),
        (ssm.url, CH_ONPREM_PATH),
        (site.url, ST_CLOUD_PATH),
        (site.url, CH_CLOUD_PATH),
    )
    async with aiohttp.ClientSession() as s:
        for base, path in wrong:
            async with s.post(base + path, data=b"{}", headers={"Content-Type": "application/json"}, ssl=ctx) as r:
                assert r.status == 404, path
                assert (await r.json())["error"] == "not_found"
        for path in (ST_ONPREM_PATH, CH_ONPREM_PATH):
            async with s.post(site.url + path, data=b"{}", headers={"Content-Type": "application/json"}, ssl=ctx) as r:
                assert r.status in (400, 415), path  # it is there: the body is wrong


async def test_the_admin_listener_keeps_its_paths(
    tmp_path: Path, ssm: RunningSSM, lab_pki: LabPki, pki_dir: Path
) -> None:
    """With two listeners, device paths answer on the device one only and admin paths on the admin
    one only."""
    db = tmp_path / "two.db"
    store = await Store.open(db)
    settings = ServerSettings(mode="onprem", db_path=db, admin_port=0, certs=lab_pki.paths.root)
    app = create_app(settings, clock=ssm.clock, lab_pki=lab_pki, store=store)
    runner, _ = await serve.start(app, "127.0.0.1", 0, ssl_context=server_context(lab_pki), also=("127.0.0.1", 0))
    from server import keys

    device, admin = serve.bound_ports(runner)
    app[keys.LISTENERS].device, app[keys.LISTENERS].admin = device, admin
    ctx = ssl.create_default_context(cafile=str(pki_dir / "truststore.pem"))
    try:
        async with aiohttp.ClientSession() as s:

            async def status(port: int, method: str, path: str) -> int:
                async with s.request(method, f"https://127.0.0.1:{port}{path}", ssl=ctx, json={}) as r:
                    return r.status

            assert await status(admin, "POST", "/SmartTransport") == 404
            assert await status(device, "GET", "/_lab/pools") == 404
            assert await status(admin, "GET", "/_lab/pools") == 200
            assert await status(device, "POST", "/SmartTransport") == 400
            assert await status(device, "GET", "/_lab/health") == 200
            # the admin API: On-Prem's token endpoint and backend API live on the admin listener
            new = await apiclients.create(store, name="wwt", now=ssm.clock.now())
            creds = {"client_id": new.client_id, "client_secret": new.client_secret, "grant_type": "client_credentials"}
            assert await status(device, "POST", "/backend/oauth/token") == 404
            async with s.post(f"https://127.0.0.1:{admin}/backend/oauth/token", ssl=ctx, json=creds) as r:
                assert r.status == 200
                token = (await r.json())["access_token"]
            tokens = f"/backend/api/v1/accounts/{onprem.ONPREM_DOMAIN}/virtual-accounts/DEFAULT/tokens"
            async with s.post(
                f"https://127.0.0.1:{admin}{tokens}",
                ssl=ctx,
                json={"description": "hcm-f", "expiresAfterDays": 30, "exportControlled": "Not Allowed"},
                headers={"Authorization": f"Bearer {token}"},
            ) as r:
                assert r.status == 200, await r.text()
                assert (await r.json())["tokenInfo"]["token"]
            async with s.get(f"https://127.0.0.1:{admin}{tokens}", ssl=ctx) as r:
                assert r.status == 401 and (await r.json())["error"] == "invalid_token"  # no token
    finally:
        await runner.cleanup()
        await store.close()
