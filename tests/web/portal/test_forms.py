"""The portal's handlers without a browser: every refusal is the error box with the CLI's code,
message and fix, and changes nothing (a snapshot of every table before and after); the guards
refuse a foreign Host, a missing or forged CSRF token and a foreign origin; fragments answer 204
while unchanged."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from server.accounts import LAB_DOMAIN, create_account
from shared import slr
from tests.conftest import RunningSSM
from tests.web.portal.conftest import LOOP, Client, new_va

pytestmark = LOOP


def q(va: str = "DEFAULT", sa: str = LAB_DOMAIN, **more: str) -> str:
    return "?" + urlencode({"sa": sa, "va": va, **more})


def refused(status: int, html: str, code: str, want: int) -> None:
    """The error box: the code and a fix, with the error's HTTP status."""
    assert status == want, html
    assert 'class="error" role="alert"' in html and f'<code class="code">{code}</code>' in html, html
    assert "<span>Fix:</span>" in html, html


async def unchanged(cloud: RunningSSM, call: Any) -> tuple[int, str]:
    before = cloud.snapshot()
    status, html = await call
    assert cloud.snapshot() == before, "a refused request changed the store"
    return status, html


@pytest.mark.parametrize(
    ("form", "code", "status"),
    [
        ({"days": "0"}, "token_days_out_of_range", 400),
        ({"days": "366"}, "token_days_out_of_range", 400),
        ({"days": "thirty"}, "invalid_form", 400),
        ({"uses": "0"}, "token_uses_out_of_range", 400),
        ({"uses": "1.5"}, "invalid_form", 400),
    ],
)
async def test_token_refusals(
    cloud: RunningSSM,
    client: Client,
    form: dict[str, str],
    code: str,
    status: int,
) -> None:
    got, html = await unchanged(cloud, client.post("/inventory/tokens" + q(), data={"description": "x", **form}))
    refused(got, html, code, status)


async def test_export_control_is_hidden_and_refused_for_an_account_without_it(
    cloud: RunningSSM,
    client: Client,
) -> None:
    await create_account(
        cloud.store, domain="noexport.example", name="No Export", export_control_allowed=False, now=cloud.clock.now()
    )
    status, html = await client.get("/inventory/general" + q(sa="noexport.example"))
    assert status == 200 and 'name="export_controlled"' not in html
    status, html = await client.get("/inventory/general" + q())
    assert 'name="export_controlled" value="true" checked' in html  # ticked by default where allowed
    got, html = await unchanged(
        cloud, client.post("/inventory/tokens" + q(sa="noexport.example"), data={"export_controlled": "true"})
    )
    refused(got, html, "export_control_not_allowed", 403)


@pytest.mark.parametrize(
    ("form", "code", "status"),
    [
        ({"license": "Flex|Production|Premium Agent", "quantity": "0"}, "invalid_quantity", 400),
        ({"license": "Flex|Production|Premium Agent", "quantity": "-3"}, "invalid_quantity", 400),
        ({"license": "Flex|Production|Nothing", "quantity": "5"}, "unknown_license", 400),
        ({"license": "Flex|Non-Production|Premium Agent", "quantity": "5"}, "unknown_license", 400),
        ({"license": "garbage", "quantity": "5"}, "unknown_license", 400),
        ({"license": "Flex|Production|Premium Agent"}, "invalid_form", 400),
    ],
)
async def test_add_licenses_refusals(
    cloud: RunningSSM,
    client: Client,
    form: dict[str, str],
    code: str,
    status: int,
) -> None:
    got, html = await unchanged(cloud, client.post("/inventory/licenses" + q(), data=form))
    refused(got, html, code, status)


async def test_virtual_account_refusals(cloud: RunningSSM, client: Client) -> None:
    got, html = await unchanged(cloud, client.post("/virtual-accounts" + q(), data={"name": "  "}))
    refused(got, html, "invalid_name", 400)
    got, html = await unchanged(cloud, client.post("/virtual-accounts" + q(), data={"name": "a/../b"}))
    refused(got, html, "invalid_name", 400)
    got, html = await unchanged(cloud, client.post("/virtual-accounts" + q(), data={"name": "DEFAULT"}))
    refused(got, html, "virtual_account_exists", 409)


async def test_reservation_refusals(cloud: RunningSSM, client: Client) -> None:
    premium = next(p for p in await cloud.store.read(lambda u: u.pools.of(1)) if p.name == "Premium Agent")
    code = slr.new_request_code("UCCE", "FORMS0001").text
    steps = [
        ("/reservations/new/licenses", {"request_code": "nonsense"}, "invalid_request_code", 400),
        ("/reservations/new/code", {"request_code": code}, "reservation_empty", 400),
        ("/reservations/new/code", {"request_code": code, f"q:{premium.tag}": "many"}, "invalid_form", 400),
        ("/reservations/new/code", {"request_code": code, f"q:{premium.tag}": "100000"}, "insufficient_licenses", 409),
        ("/reservations/new/code", {"request_code": code, "q:regid.nothing": "1"}, "license_not_found", 404),
        ("/reservations/confirm", {"device": "UCCE:NOPE", "code": "abc"}, "reservation_not_found", 404),
        ("/reservations/confirm", {"device": "no-colon", "code": "abc"}, "invalid_form", 400),
        ("/reservations/return", {"device": "UCCE:NOPE", "code": "abc"}, "reservation_not_found", 404),
    ]
    for path, form, want, status in steps:
        got, html = await unchanged(cloud, client.post(path + q(), data=form))
        refused(got, html, want, status)
    # step 2 reads the code and offers the virtual account's licenses, changing nothing
    got, html = await unchanged(cloud, client.post("/reservations/new/licenses" + q(), data={"request_code": code}))
    assert got == 200 and "UCCE:FORMS0001" in html and f'name="q:{premium.tag}"' in html


async def test_scope_and_instance_refusals(cloud: RunningSSM, client: Client) -> None:
    status, html = await client.get("/inventory/licenses" + q(va="nope"))
    refused(status, html, "virtual_account_not_found", 404)
    assert "use one of: DEFAULT" in html
    status, html = await client.get("/alerts" + q(sa="nowhere.example"))
    refused(status, html, "account_not_found", 404)
    status, html = await client.get("/inventory/licenses" + q(va="nope", pick="1"))
    assert status == 200  # from the picker: another account's virtual account falls back to the default
    status, html = await client.get("/inventory/instances/no-such-piid" + q())
    refused(status, html, "instance_not_found", 404)
    for action in ("remove", "transfer"):
        got, html = await unchanged(
            cloud, client.post(f"/inventory/instances/no-such-piid/{action}" + q(), data={"target": "DEFAULT"})
        )
        refused(got, html, "instance_not_found", 404)
    await new_va(cloud, "other-tokens")
    token_id = (await cloud.store.read(lambda u: u.tokens.of(None)) or [None])[0]
    tid = token_id.token_id if token_id else "no-token"
    got, html = await unchanged(cloud, client.post(f"/inventory/tokens/{tid}/revoke" + q(va="other-tokens")))
    refused(got, html, "token_not_found", 404)


async def test_sync_refusals(cloud: RunningSSM, client: Client) -> None:
    upload = aiohttp.FormData()
    upload.add_field("file", b"{not json", filename="response.json", content_type="application/json")
    got, html = await unchanged(cloud, client.post("/synchronization/response" + q(), data=upload))
    refused(got, html, "sync_file_malformed", 400)
    got, html = await unchanged(cloud, client.post("/synchronization/response" + q(), data={"other": "x"}))
    refused(got, html, "sync_file_missing", 400)
    got, html = await unchanged(cloud, client.post("/synchronization/now" + q()))
    refused(got, html, "cloud_database", 409)  # as the CLI says on a cloud database


async def test_the_guards(cloud: RunningSSM, client: Client) -> None:
    form = {"description": "forged", "days": "30"}
    got, html = await unchanged(cloud, client.post("/inventory/tokens" + q(), data=form, token=False))
    assert got == 403 and "csrf_token_missing" in html
    got, html = await unchanged(
        cloud, client.post("/inventory/tokens" + q(), data=form, token=False, headers={"X-CSRF-Token": "forged"})
    )
    assert got == 403 and "csrf_token_missing" in html
    got, html = await unchanged(
        cloud, client.post("/inventory/tokens" + q(), data=form, headers={"Origin": "https://attacker.example"})
    )
    assert got == 403 and "cross_origin" in html
    status, html = await client.get("/inventory/general" + q(), headers={"Host": "rebound.example"})
    assert status == 421 and "host_not_served" in html
    # the token in a plain form's field is accepted (the Disconnected download is such a form)
    status, html = await client.get("/inventory/general" + q())
    got, html = await client.post(
        "/virtual-accounts" + q(), data={"name": "via-form", "_csrf": client.csrf}, token=False
    )
    assert got == 200 and "via-form" in html


async def test_fragments_answer_204_while_unchanged(client: Client) -> None:
    for path in ("/fragments/licenses", "/fragments/tokens", "/fragments/instances", "/fragments/alerts"):
        async with client.session.get(client.ssm.url + path + q(), ssl=False) as r:
            assert r.status == 200
            tag = r.headers["ETag"]
        async with client.session.get(client.ssm.url + path + q(), ssl=False, headers={"X-Shown": tag}) as r:
            assert r.status == 204, path


async def test_home_is_the_inventory(client: Client) -> None:
    async with client.session.get(client.ssm.url + "/" + q(), ssl=False, allow_redirects=False) as r:
        assert r.status == 303 and r.headers["Location"] == "/inventory/general" + q()


async def test_the_pages_stay_out_of_the_lab_journal(cloud: RunningSSM, client: Client) -> None:
    await cloud.lab("GET", "/_lab/health")
    await client.get("/inventory/licenses" + q())
    await client.get("/fragments/licenses" + q())
    status, journal = await cloud.lab("GET", "/_lab/journal")
    assert status == 200 and [j["path"] for j in journal if "health" in j["path"]]  # it journals...
    assert [j["path"] for j in journal if not j["path"].startswith("/_lab")] == []  # ...but not the pages
