"""Acceptance: mcssmapi 0.2 (PyPI), a real client nobody here wrote, runs unchanged against ssmlab.

Only its hosts are redirected, as research/cisco-api.md §e describes: ``url_login`` is an instance
attribute, and the API calls go through ``api.session``, on which an ``HTTPAdapter`` rewrites the
hard-coded ``https://swapi.cisco.com`` prefix. Its calls are blocking (requests): they run in a
thread while the SSM serves on the test's loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import requests
from mcssmapi import Licensing
from requests.adapters import HTTPAdapter

from server import apiclients, reservations
from server.accounts import LAB_DOMAIN
from shared import slr
from tests.conftest import RunningSSM


class Redirect(HTTPAdapter):
    """Send what mcssmapi addresses to swapi.cisco.com to the emulator instead."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def send(self, request: requests.PreparedRequest, **kwargs):  # type: ignore[no-untyped-def, override]
        assert request.url is not None
        request.url = request.url.replace("https://swapi.cisco.com", self.target, 1)
        return super().send(request, **kwargs)


@pytest.fixture
async def client(ssm: RunningSSM, pki_dir: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Licensing]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(pki_dir / "truststore.pem"))
    new = await apiclients.create(ssm.store, name="mcssmapi", now=ssm.clock.now())
    api = Licensing(new.client_id, new.client_secret)
    api.url_login = f"{ssm.url}/as/token.oauth2"
    api.session.verify = str(pki_dir / "truststore.pem")
    api.session.mount("https://swapi.cisco.com", Redirect(ssm.url))
    yield api
    api.session.close()  # before the SSM stops: no keep-alive connection left behind


async def test_token_usage_and_reservation(client: Licensing, ssm: RunningSSM) -> None:
    login = await asyncio.to_thread(client.bearer_update)
    assert login["success"] is True, login
    assert login["response"]["token_type"] == "Bearer" and login["response"]["expires_in"] == 3599

    usage = await asyncio.to_thread(client.smart_license_usage, LAB_DOMAIN, 50, 0, "DEFAULT")
    assert usage["success"] is True, usage
    body = usage["response"]
    store_pools = [p for p in await ssm.store.read(lambda u: u.pools.of(1)) if p.quantity]
    assert body["totalRecords"] == len(store_pools)
    by_tag = {row["entitlementTag"]: row for row in body["licenses"]}
    premium = next(p for p in store_pools if p.name == "Premium Agent" and p.license_type == "Flex")
    row = by_tag[premium.tag]
    assert row["quantity"] == premium.quantity and row["inUse"] == 0 and row["reserved"] == 0
    assert row["virtualAccount"] == "DEFAULT" and row["status"] == "In Compliance"

    # paging: limit/offset apply to the same listing
    second = await asyncio.to_thread(client.smart_license_usage, LAB_DOMAIN, 2, 1, "DEFAULT")
    assert [r["license"] for r in second["response"]["licenses"]] == [r["license"] for r in body["licenses"][1:3]]

    request = slr.new_request_code("UCCE", "SN-MC-0001")
    reserved = await asyncio.to_thread(
        client.reserve_license, LAB_DOMAIN, "DEFAULT", request.text, [{"entitlementTag": premium.tag, "quantity": 7}]
    )
    assert reserved["success"] is True, reserved
    code = reserved["response"]["authorizationCodes"][0]
    assert code["status"] == "SUCCESS" and code["reservationCode"] == request.text
    auth = slr.read_authorization(code["authorizationCode"])
    assert [(e.tag, e.count) for e in auth.entitlements] == [(premium.tag, 7)]

    # the store holds the reservation and the pool counts it
    pool = await ssm.store.read(lambda u: u.pools.by_tag(premium.virtual_account_id, premium.tag))
    assert pool is not None and pool.reserved == 7 and reservations.available(pool) == premium.quantity - 7
    after = await asyncio.to_thread(client.smart_license_usage, LAB_DOMAIN, 50, 0, "DEFAULT")
    row = {r["entitlementTag"]: r for r in after["response"]["licenses"]}[premium.tag]
    assert row["reserved"] == 7 and row["available"] == premium.quantity - 7


async def test_wrong_secret_is_refused_as_cisco_does(client: Licensing) -> None:
    client.login_body = client.login_body.rsplit("=", 1)[0] + "=wrong"
    login = await asyncio.to_thread(client.bearer_update)
    assert login["success"] is False and login["error"] == 401
    assert login["response"]["error"] == "invalid_client"
    # without a token the API refuses with a JSON body (mcssmapi calls .json() on every answer)
    usage = await asyncio.to_thread(client.smart_license_usage, LAB_DOMAIN, 50, 0)
    assert usage["success"] is False and usage["error"] == 401
    assert usage["response"]["error"] == "invalid_token"
