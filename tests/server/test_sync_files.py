"""Sync files and the limits of both sides (issue 15): every field outside the signed content is
compared with it; a cloud pool never breaks a later On-Prem synchronization."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server import accounts, onprem
from server.accounts import LAB_DOMAIN, resolve_account
from server.pki_files import LabPki
from server.registry import Registry
from shared.catalog import LicenseKey
from shared.errors import SmartLicensingError
from shared.limits import COUNT_MAX
from shared.policy import DEFAULT_POLICY
from shared.states import LicenseType, UsageMode
from tests.conftest import RunningSSM
from tests.server.onprem_site import OnPrem, bind

PREMIUM = LicenseKey("Premium Agent", LicenseType.FLEX, UsageMode.PRODUCTION)


def _outer(data: bytes, **fields: object) -> bytes:
    f = json.loads(data)
    f.update(fields)
    return json.dumps(f).encode()


async def test_outer_fields_of_a_request_file_are_compared(
    ssm: RunningSSM,
    site: OnPrem,
    pki_dir: Path,
    lab_pki: LabPki,
) -> None:
    """A request file whose account_domain, onprem or sequence differs from its signed content is
    refused on the cloud (sync_file_tampered) and changes nothing."""
    await bind(site, ssm, pki_dir)
    cloud = Registry(store=ssm.store, clock=ssm.clock, policy=DEFAULT_POLICY, lab_pki=lab_pki)
    request = await onprem.export_request(site.store, ssm.clock.now())
    for changed in ({"account_domain": "other.example"}, {"onprem": "not-this-one"}, {"sequence": 7}):
        before = ssm.snapshot()
        with pytest.raises(SmartLicensingError) as exc:
            await cloud.import_sync_file(_outer(request, **changed))
        assert exc.value.code == "sync_file_tampered" and exc.value.fix, changed
        assert ssm.snapshot() == before
    response = await cloud.import_sync_file(request)
    trust = pki_dir / "truststore.pem"
    for changed in ({"account_domain": "other.example"}, {"onprem": "not-this-one"}):
        before = site.snapshot()
        with pytest.raises(SmartLicensingError) as exc:
            await onprem.import_response(site.store, ssm.clock.now(), _outer(response, **changed), truststore=trust)
        assert exc.value.code in ("sync_file_tampered", "sync_wrong_account"), changed
        assert site.snapshot() == before
    link = await onprem.import_response(site.store, ssm.clock.now(), response, truststore=trust)
    assert link.applied == 1


async def test_a_pool_past_the_codec_limit_is_refused_at_the_source(ssm: RunningSSM) -> None:
    """Purchases stop at COUNT_MAX per pool, with the quantity that still fits."""
    account = await resolve_account(ssm.store, LAB_DOMAIN)
    before = ssm.snapshot()
    for quantity in (2**63 - 1, COUNT_MAX):  # 100 are seeded: COUNT_MAX more is too many already
        with pytest.raises(SmartLicensingError) as exc:
            await accounts.add_licenses(
                ssm.store,
                account=account,
                va_name="DEFAULT",
                license_type=LicenseType.FLEX,
                usage_mode=UsageMode.PRODUCTION,
                name="Premium Agent",
                quantity=quantity,
                now=ssm.clock.now(),
            )
        assert exc.value.code == "quantity_out_of_range" and exc.value.fix
    assert ssm.snapshot() == before


async def test_an_old_pool_past_the_limit_still_synchronizes(
    ssm: RunningSSM,
    site: OnPrem,
    pki_dir: Path,
    lab_pki: LabPki,
) -> None:
    """A pool stored above the codec's limit (before the limit existed) is sent clamped: every later
    On-Prem synchronization still works."""
    await bind(site, ssm, pki_dir)
    await ssm.store.write(
        lambda u: u.pools.purchase(
            va_id=1,
            name=PREMIUM.name,
            license_type=PREMIUM.license_type,
            usage_mode=PREMIUM.usage_mode,
            tag=PREMIUM.tag,
            quantity=2**62,
        )
    )
    cloud = Registry(store=ssm.store, clock=ssm.clock, policy=DEFAULT_POLICY, lab_pki=lab_pki)
    trust = pki_dir / "truststore.pem"
    for _ in range(2):
        response = await cloud.import_sync_file(await onprem.export_request(site.store, ssm.clock.now()))
        await onprem.import_response(site.store, ssm.clock.now(), response, truststore=trust)
    pools = await site.store.read(lambda u: u.pools.all())
    assert next(p.quantity for p in pools if p.tag == PREMIUM.tag) == COUNT_MAX
