"""What the cloud shows of the SSM On-Prems registered to it: their product instances (marked
behind which On-Prem) in every listing, and 'sync status' on a cloud database; and a failed
scheduled synchronization, an event on the On-Prem and visible in its 'sync status'."""

from __future__ import annotations

import json
import ssl
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from server import onprem, views
from server.accounts import LAB_DOMAIN
from server.pki_files import LabPki
from shared.policy import DEFAULT_POLICY
from tests.conftest import MakeAgent, RunningSSM
from tests.server.conftest import Api
from tests.server.onprem_site import CONNECTED, OnPrem, Q, agent_on, bind, onprem_token, ssm_server, start_onprem

LEGACY = "/services/api/smart-accounts-and-licensing"


async def ok(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    status, out, err = await ssm_server(capsys, *argv)
    assert status == 0, err
    return out


@CONNECTED
async def test_the_cloud_shows_the_onprems_and_their_instances(
    ssm: RunningSSM,
    site: OnPrem,
    pki_dir: Path,
    make_agent: MakeAgent,
    api: Api,
    capsys: pytest.CaptureFixture[str],
) -> None:
    link = await bind(site, ssm, pki_dir, name="branch-1")
    direct = (await make_agent()).agent.runner(None)
    await direct.register(await ssm.token())
    behind = (await agent_on(make_agent, site)).agent.runner(None)
    await behind.register(await onprem_token(site, ssm))
    await ssm.clock.advance(Q)
    await onprem.sync_now(site.store, ssm.clock.now(), truststore=pki_dir / "truststore.pem")

    [mine] = [r for r in await views.instances(ssm.store) if r["onprem"]]
    assert mine["onprem"] == {"piid": link.piid, "name": "branch-1", "virtual_account": "DEFAULT"}
    assert mine["piid"] == behind.state.piid and mine["virtual_account"] == "DEFAULT"
    assert [r["onprem"] for r in await views.instances(ssm.store, limit=2, offset=1)] == [None, mine["onprem"]]

    ctx = ssl.create_default_context(cafile=str(pki_dir / "truststore.pem"))
    async with aiohttp.ClientSession() as s, s.get(ssm.url + "/_lab/instances", ssl=ctx) as r:
        page = await r.json()
    assert page["total"] == 3  # the cloud's instance, the On-Prem itself, the instance behind it
    assert [i["onprem"]["name"] for i in page["instances"] if i["onprem"]] == ["branch-1"]

    listing = await ok(capsys, "instance", "list", "--db", str(ssm.db_path))
    [line] = [x for x in listing.splitlines() if "behind SSM On-Prem" in x]
    assert behind.state.piid in line and line.endswith("behind SSM On-Prem branch-1")

    await api.login()
    got, body = await api.call("POST", f"{LEGACY}/v1/accounts/{LAB_DOMAIN}/devices", json={})
    assert got == 200, body
    marked = [d for d in body["devices"] if d.get("satelliteName")]
    assert [(d["sudi"]["udiSerialNumber"], d["satelliteName"]) for d in marked] == [
        (behind.state.serial_number, "branch-1")
    ]

    status = await ok(capsys, "sync", "status", "--db", str(ssm.db_path))
    assert "this is a cloud SSM" in status and "not registered" not in status
    [line] = [x for x in status.splitlines() if "branch-1" in x]
    assert link.piid in line and "registered" in line
    data = json.loads(await ok(capsys, "sync", "status", "--json", "--db", str(ssm.db_path)))
    [op] = data["onprems"]
    assert (op["name"], op["piid"], op["instances"], op["sequence"]) == ("branch-1", link.piid, 1, 1)
    local = await onprem.load_link(site.store)
    assert local is not None and op["deadline"] == views._iso(local.deadline)


async def test_a_failed_scheduled_sync_is_an_event(
    tmp_path: Path, ssm: RunningSSM, lab_pki: LabPki, pki_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The schedule (daily) meets a cloud answering 503: the failure is in the On-Prem's event log
    and in its 'sync status'."""
    op, runner = await start_onprem(tmp_path, "scheduled", ssm, lab_pki, "connected", DEFAULT_POLICY)
    try:
        await bind(op, ssm, pki_dir)
        ctx = ssl.create_default_context(cafile=str(pki_dir / "truststore.pem"))
        fault = {"kind": "status", "status": 503, "path": "/licservice/license"}
        async with aiohttp.ClientSession() as s, s.post(ssm.url + "/_lab/faults", json=fault, ssl=ctx) as r:
            assert r.status in (200, 201), await r.text()
        await ssm.clock.advance(timedelta(days=1, minutes=1))
        failed = [e for e in await op.store.read(lambda u: u.events.recent(limit=50)) if e.kind == "onprem_sync_failed"]
        assert failed and "503" in failed[0].message
        status = await ok(capsys, "sync", "status", "--db", str(op.db))
        assert "last error:" in status and "503" in status
    finally:
        await runner.cleanup()  # type: ignore[attr-defined]
        await op.store.close()
