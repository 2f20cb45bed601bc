"""What kind of SSM a database is, and how an On-Prem synchronizes, are properties of the store:
every command reads them (``server.deployment``). A verb of the other kind refuses; a
Disconnected On-Prem never synchronizes over the network."""

from __future__ import annotations

import json
import sqlite3
import ssl
from pathlib import Path

import aiohttp
import pytest

from server import deployment, onprem
from server.accounts import LAB_DOMAIN
from server.store import Store
from shared.errors import SmartLicensingError
from tests.conftest import RunningSSM
from tests.server.onprem_site import OnPrem, bind, ssm_server


async def test_verbs_on_an_onprem_database_act_as_the_onprem(
    ssm: RunningSSM, site: OnPrem, pki_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """'token create --db <On-Prem>' makes a token of the On-Prem's local account and never seeds
    the cloud's lab account into it; a purchase is refused there; the On-Prem's verbs are refused
    on the cloud's database; neither kind runs as the other."""
    db = str(site.db)
    status, out, err = await ssm_server(capsys, "token", "create", "--va", "DEFAULT", "--json", "--db", db)
    assert status == 0, err
    assert json.loads(out)["smart_account"] == onprem.ONPREM_DOMAIN
    domains = {a.domain for a in await site.store.read(lambda u: u.accounts.all())}
    assert domains == {onprem.ONPREM_DOMAIN}

    before = site.snapshot()
    status, _, err = await ssm_server(
        capsys, "license", "add", "--type", "Flex", "--name", "Premium Agent", "--quantity", "5", "--db", db
    )
    assert status == 2
    assert "this database is an SSM On-Prem's" in err and "add them on the cloud SSM" in err
    assert site.snapshot() == before

    cloud = str(ssm.db_path)
    for verb in (("sync", "now"), ("sync", "export", "--out", str(site.db.parent / "r.json"))):
        status, _, err = await ssm_server(capsys, *verb, "--db", cloud)
        assert status == 2
        assert "this database is a cloud SSM's" in err and "fix:" in err, err
    with pytest.raises(SmartLicensingError) as exc:
        await onprem.sync_now(ssm.store, ssm.clock.now(), truststore=site.db.parent / "none.pem")
    assert exc.value.code == "cloud_database"
    with pytest.raises(SmartLicensingError) as exc:
        await deployment.claim(ssm.store, deployment.Kind.ONPREM, ssm.clock.now())
    assert exc.value.code == "cloud_database"
    with pytest.raises(SmartLicensingError) as exc:
        await deployment.claim(site.store, deployment.Kind.CLOUD, ssm.clock.now())
    assert exc.value.code == "onprem_database"
    # 'run' on the other kind's database stops before it listens
    status, _, err = await ssm_server(capsys, "run", "--mode", "cloud", "--certs", str(pki_dir), "--db", db)
    assert status == 2 and "'ssm-server run --mode cloud' is for a cloud SSM" in err


async def test_a_database_of_before_is_known_by_its_account(tmp_path: Path, ssm: RunningSSM, site: OnPrem) -> None:
    """A database written before the kind was stored says what it is by the account it holds."""
    for store, db, kind in (
        (ssm.store, ssm.db_path, deployment.Kind.CLOUD),
        (site.store, site.db, deployment.Kind.ONPREM),
    ):
        with sqlite3.connect(db) as conn:
            conn.execute("DELETE FROM settings WHERE key = 'deployment'")
        found = await deployment.load(store)
        assert found is not None and found.kind is kind
    fresh = await Store.open(tmp_path / "fresh.db")
    try:
        assert await deployment.load(fresh) is None
        assert (await deployment.seed(fresh, ssm.clock.now())).kind is deployment.Kind.CLOUD  # as it always was
        assert await fresh.read(lambda u: u.accounts.by_domain(LAB_DOMAIN)) is not None
    finally:
        await fresh.close()


async def test_a_disconnected_onprem_never_syncs_over_the_network(
    ssm: RunningSSM, site: OnPrem, pki_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """'sync now' and POST /_lab/sync on a Disconnected On-Prem are refused with the way that
    works (files); nothing reaches the cloud and nothing changes on either side."""
    await bind(site, ssm, pki_dir)
    found = await deployment.load(site.store)
    assert found == deployment.Deployment(deployment.Kind.ONPREM, deployment.SyncMode.DISCONNECTED)
    cloud_before, site_before = ssm.snapshot(), site.snapshot()
    with pytest.raises(SmartLicensingError) as exc:
        await onprem.sync_now(site.store, ssm.clock.now(), truststore=pki_dir / "truststore.pem")
    assert exc.value.code == "sync_disconnected" and "sync export" in exc.value.fix

    ctx = ssl.create_default_context(cafile=str(pki_dir / "truststore.pem"))
    async with aiohttp.ClientSession() as s, s.post(site.url + "/_lab/sync", ssl=ctx) as r:
        assert r.status == 409
        body = await r.json()
    assert body["error"] == "sync_disconnected" and "sync import" in body["fix"]

    status, _, err = await ssm_server(capsys, "sync", "now", "--certs", str(pki_dir), "--db", str(site.db))
    assert status == 2 and "Disconnected mode" in err and "sync export" in err
    assert ssm.snapshot() == cloud_before and site.snapshot() == site_before
    link = await onprem.load_link(site.store)
    assert link is not None and link.sequence == 0
