"""An SSM On-Prem the cloud removed (90 days without synchronization) registers again with
``ssm-server onprem register``: the errors on the way name that verb, never the agent's; a link
that still stands is refused unless forced; each On-Prem registers under a name of its own."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from server import onprem
from server.pki_files import LabPki
from server.registry import Registry
from shared.errors import SmartLicensingError
from shared.policy import DEFAULT_POLICY
from tests.conftest import RunningSSM
from tests.server.onprem_site import CLOUD_URL, CONNECTED, OnPrem, bind, start_onprem


async def events(op: OnPrem, kind: str) -> list[str]:
    return [e.message for e in await op.store.read(lambda u: u.events.recent(limit=100)) if e.kind == kind]


@CONNECTED
async def test_a_removed_onprem_registers_again(ssm: RunningSSM, site: OnPrem, pki_dir: Path, lab_pki: LabPki) -> None:
    trust = pki_dir / "truststore.pem"
    first = await bind(site, ssm, pki_dir)
    await onprem.sync_now(site.store, ssm.clock.now(), truststore=trust)
    with pytest.raises(SmartLicensingError) as exc:
        await bind(site, ssm, pki_dir)  # the link stands: refused, nothing sent
    assert exc.value.code == "onprem_already_registered" and "--force" in exc.value.fix

    await ssm.clock.advance(timedelta(days=91))  # the cloud removes it
    with pytest.raises(SmartLicensingError) as exc:
        await onprem.sync_now(site.store, ssm.clock.now(), truststore=trust)
    assert exc.value.code == "instance_removed"
    assert f"ssm-server onprem register TOKEN --cloud {CLOUD_URL}" in exc.value.fix
    assert "smart-agent" not in exc.value.fix
    # the cloud's own answer to a file of the removed On-Prem names the On-Prem's verb too
    cloud = Registry(store=ssm.store, clock=ssm.clock, policy=DEFAULT_POLICY, lab_pki=lab_pki)
    with pytest.raises(SmartLicensingError) as exc:
        await cloud.import_sync_file(await onprem.export_request(site.store, ssm.clock.now()))
    assert exc.value.code == "instance_removed" and "ssm-server onprem register" in exc.value.fix

    again = await bind(site, ssm, pki_dir)
    assert again.piid != first.piid
    assert (again.name, again.serial_number) == (first.name, first.serial_number)
    assert again.sequence == 0 and again.last_error == ""
    [message] = await events(site, "onprem_reregistered")
    assert first.piid in message and again.piid in message
    result = await onprem.sync_now(site.store, ssm.clock.now(), truststore=trust)
    assert result.sequence == 1
    old, new = await ssm.store.read(lambda u: (u.instances.get(first.piid), u.instances.get(again.piid)))
    assert old is not None and old.removed_at is not None
    assert new is not None and new.removed_at is None and new.name == first.name


@CONNECTED
async def test_forced_registration_replaces_a_standing_link(ssm: RunningSSM, site: OnPrem, pki_dir: Path) -> None:
    """--force binds anew while the cloud still holds the old registration: the cloud replaces it
    (same serial number) and no deadline runs for the old one."""
    trust = pki_dir / "truststore.pem"
    first = await bind(site, ssm, pki_dir)
    await onprem.sync_now(site.store, ssm.clock.now(), truststore=trust)
    again = await bind(site, ssm, pki_dir, force=True)
    assert again.piid != first.piid
    old = await ssm.store.read(lambda u: u.instances.get(first.piid))
    assert old is not None and old.removed_reason == "reregistered"
    await onprem.sync_now(site.store, ssm.clock.now(), truststore=trust)
    await ssm.clock.advance(timedelta(days=40))
    overdue = [n for n in await ssm.store.read(lambda u: u.events.outbox()) if n.piid == first.piid]
    assert overdue == []  # the replaced registration raises no "Synchronization Overdue"


async def test_each_onprem_registers_under_its_own_name(
    tmp_path: Path, ssm: RunningSSM, site: OnPrem, pki_dir: Path, lab_pki: LabPki
) -> None:
    """Two On-Prems of one machine get two names (host name and serial number), or the one given."""
    a = await bind(site, ssm, pki_dir)
    other, runner = await start_onprem(tmp_path, "other", ssm, lab_pki)
    try:
        b = await bind(other, ssm, pki_dir, name="site-b")
    finally:
        await runner.cleanup()  # type: ignore[attr-defined]
        await other.store.close()
    assert a.name != "ssm-onprem" and a.serial_number.lower()[-5:] in a.name
    assert b.name == "site-b"
    names = {i.name for i in await ssm.store.read(lambda u: u.instances.page()) if i.product == "SSM On-Prem"}
    assert names == {a.name, "site-b"}
