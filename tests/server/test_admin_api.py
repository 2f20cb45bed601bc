"""The admin API as scripts use it: OAuth2 token endpoints, bearer checks, the legacy routes,
tolerant paths, Cisco's error envelope, and bad input that changes nothing."""

from __future__ import annotations

import base64
import io
from datetime import timedelta
from typing import Any

import pytest

from server import apiclients
from server.accounts import LAB_DOMAIN, create_virtual_account, resolve_account
from shared import oauth, pki
from tests.server.conftest import Api

LEGACY = "/services/api/smart-accounts-and-licensing"


# -- OAuth2 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/as/token.oauth2", "/oauth2/default/v1/token", "/backend/oauth/token"])
async def test_both_token_paths_issue_bearer_tokens(api: Api, path: str) -> None:
    body = await api.login(path)
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3599
    status, accounts = await api.call("GET", f"{LEGACY}/v2/accounts")
    assert status == 200 and accounts["accounts"][0]["accountDomain"] == LAB_DOMAIN


async def test_token_request_as_query_json_or_basic(api: Api) -> None:
    creds = {"grant_type": "client_credentials", "client_id": api.client_id, "client_secret": api.secret}
    status, body = await api.call("POST", "/as/token.oauth2", token="", params=creds)
    assert status == 200 and body["access_token"]
    status, body = await api.call("POST", "/backend/oauth/token", token="", json=creds)
    assert status == 200 and body["access_token"]
    basic = base64.b64encode(f"{api.client_id}:{api.secret}".encode()).decode()
    status, body = await api.call(
        "POST",
        "/oauth2/default/v1/token",
        token="",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert status == 200 and body["access_token"]


@pytest.mark.parametrize(
    ("data", "status", "error"),
    [
        ({"grant_type": "client_credentials", "client_id": "nobody", "client_secret": "x"}, 401, "invalid_client"),
        ({"grant_type": "password", "username": "a", "password": "b"}, 400, "unsupported_grant_type"),
        ({"client_id": "a"}, 400, "invalid_request"),
    ],
)
async def test_token_refusals_are_ciscos(api: Api, data: dict[str, str], status: int, error: str) -> None:
    got, body = await api.call("POST", "/as/token.oauth2", token="", data=data)
    assert got == status and body["error"] == error and body["error_description"]


async def test_wrong_secret_and_revoked_client_are_refused(api: Api) -> None:
    got, body = await api.call(
        "POST",
        "/as/token.oauth2",
        token="",
        data={"grant_type": "client_credentials", "client_id": api.client_id, "client_secret": "nope"},
    )
    assert got == 401 and body["error"] == "invalid_client"
    await api.login()
    await apiclients.revoke(api.ssm.store, api.client_id, now=api.ssm.clock.now())
    got, body = await api.call("GET", f"{LEGACY}/v2/accounts")
    assert got == 401 and body["error"] == "invalid_token" and "revoked" in body["error_description"]
    got, body = await api.call(
        "POST",
        "/as/token.oauth2",
        token="",
        data={"grant_type": "client_credentials", "client_id": api.client_id, "client_secret": api.secret},
    )
    assert got == 401 and body["error"] == "invalid_client"


async def test_missing_expired_forged_and_foreign_tokens_get_401_json(api: Api, lab_pki: Any) -> None:
    got, body = await api.call("GET", f"{LEGACY}/v2/accounts")
    assert got == 401 and body["error"] == "invalid_token" and "no access token" in body["error_description"]

    now = api.ssm.clock.now()
    kid = "k"
    forged = oauth.issue(api.client_id, now=now, key=pki.new_key(), kid=kid, aud=oauth.audience("cloud"))
    foreign = oauth.issue(api.client_id, now=now, key=lab_pki.signing.key, kid=kid, aud=oauth.audience("onprem"))
    for token, words in (
        (forged.access_token, "signature"),
        (foreign.access_token, "audience"),
        ("x.y.z", "not valid"),
    ):
        got, body = await api.call("GET", f"{LEGACY}/v2/accounts", token=token)
        assert got == 401 and body["error"] == "invalid_token" and words in body["error_description"], body

    await api.login()
    assert (await api.call("GET", f"{LEGACY}/v2/accounts"))[0] == 200
    await api.ssm.clock.advance(timedelta(seconds=3599))  # domain time: the token's hour is over
    got, body = await api.call("GET", f"{LEGACY}/v2/accounts")
    assert got == 401 and "expired" in body["error_description"]


# -- the legacy API ----------------------------------------------------------------------------------


async def test_accounts_and_virtual_accounts(api: Api) -> None:
    await api.login()
    account = await resolve_account(api.ssm.store, LAB_DOMAIN)
    await create_virtual_account(
        api.ssm.store, account=account, name="East", description="east", now=api.ssm.clock.now()
    )
    _, v1 = await api.call("GET", f"{LEGACY}/v1/accounts/search", params={"domain": "lab.ssmlab"})
    assert v1["totalRecords"] == 1 and v1["accounts"][0] == {
        "domain": LAB_DOMAIN,
        "name": account.name,
        "id": account.id,
        "type": "CUSTOMER",
        "status": "ACTIVE",
    }
    _, none = await api.call("GET", f"{LEGACY}/v1/accounts/search", params={"domain": "nomatch"})
    assert none["totalRecords"] == 0
    _, v2 = await api.call("GET", f"{LEGACY}/v2/accounts/search")
    vas = {v["name"]: v for v in v2["accounts"][0]["virtual_accounts"]}
    assert v2["status"] == "COMPLETE" and vas["DEFAULT"]["default"] is True and vas["East"]["default"] is False
    _, listed = await api.call("GET", f"{LEGACY}/v1/accounts/{LAB_DOMAIN}/customer/virtual-accounts")
    assert {v["name"]: v["isDefault"] for v in listed["virtualAccounts"]} == {"DEFAULT": "true", "East": "false"}


async def test_licenses_filter_and_page(api: Api) -> None:
    await api.login()
    pools = [p for p in await api.ssm.store.read(lambda u: u.pools.of(1)) if p.quantity]
    _, every = await api.call(
        "POST", f"{LEGACY}/v1/accounts/{LAB_DOMAIN}/licenses", json={"virtualAccounts": [], "limit": 100, "offset": 0}
    )
    assert every["totalRecords"] == len(pools) == len(every["licenses"])
    assert {r["entitlementTag"]: r["quantity"] for r in every["licenses"]} == {p.tag: p.quantity for p in pools}
    _, page = await api.call("POST", f"{LEGACY}/v1/accounts/{LAB_DOMAIN}/licenses", json={"limit": 3, "offset": 2})
    assert [r["license"] for r in page["licenses"]] == [r["license"] for r in every["licenses"][2:5]]
    got, body = await api.call(
        "POST", f"{LEGACY}/v1/accounts/{LAB_DOMAIN}/licenses", json={"virtualAccounts": ["Nope"]}
    )
    assert got == 404 and body["status"] == "ERROR" and body["error"] == "virtual_account_not_found" and body["fix"]


async def test_tokens_create_then_list_and_register_with_it(api: Api) -> None:
    await api.login()
    path = f"{LEGACY}/v1/accounts/{LAB_DOMAIN}/virtual-accounts/DEFAULT/tokens"
    got, created = await api.call(
        "POST", path, json={"description": "api", "expiresAfterDays": "365", "exportControlled": "Not Allowed"}
    )
    assert got == 200 and created["status"] == "SUCCESS", created
    token = created["tokenInfo"]["token"]
    _, listed = await api.call("GET", path)
    row = next(t for t in listed["tokens"] if t["description"] == "api")
    assert row["status"] == "Active" and token not in str(listed)  # only a hash is stored: never listed
    record = next(r for r in await api.ssm.store.read(lambda u: u.tokens.of(1)) if r.description == "api")
    assert (record.expires_at - api.ssm.clock.now()).days == 365


async def test_license_transfer_between_virtual_accounts(api: Api) -> None:
    await api.login()
    account = await resolve_account(api.ssm.store, LAB_DOMAIN)
    east = await create_virtual_account(
        api.ssm.store, account=account, name="East", description="", now=api.ssm.clock.now()
    )
    premium = next(
        p for p in await api.ssm.store.read(lambda u: u.pools.of(1)) if p.name == "Premium Agent" and p.quantity
    )
    items = [
        {
            "license": f"{premium.name} ({premium.license_type}, {premium.usage_mode})",
            "licenseType": "TERM",
            "quantity": 30,
            "targetVirtualAccount": "East",
        },
        {"license": "No Such License", "quantity": 1, "targetVirtualAccount": "East"},
    ]
    got, body = await api.call(
        "POST",
        f"{LEGACY}/v1/accounts/{LAB_DOMAIN}/virtual-accounts/DEFAULT/licenses/transfer",
        json={"licenses": items},
    )
    assert got == 200 and body["status"] == "WARNING"
    assert [s["status"] for s in body["licensesTransferStatus"]] == ["SUCCESS", "ERROR"]
    moved = await api.ssm.store.read(lambda u: u.pools.by_tag(east.id, premium.tag))
    left = await api.ssm.store.read(lambda u: u.pools.by_tag(1, premium.tag))
    assert moved is not None and moved.quantity == 30 and left is not None and left.quantity == premium.quantity - 30
    too_many = [{"license": premium.tag, "quantity": 10_000, "targetVirtualAccount": "East"}]
    got, body = await api.call(
        "POST",
        f"{LEGACY}/v1/accounts/{LAB_DOMAIN}/virtual-accounts/DEFAULT/licenses/transfer",
        json={"licenses": too_many},
    )
    assert got == 400 and "available" in body["statusMessage"]


@pytest.mark.parametrize(
    "path",
    [
        "//services/api/smart-accounts-and-licensing/v2/accounts",
        "/services/api/services/api/smart-accounts-and-licensing/v2/accounts",
        "/services/api/smart-accounts-and-licensing//v2/accounts/",
    ],
)
async def test_tolerated_path_spellings(api: Api, path: str) -> None:
    await api.login()
    got, body = await api.call("GET", path)
    assert got == 200 and body["accounts"][0]["accountDomain"] == LAB_DOMAIN


async def test_unknown_api_path_answers_json(api: Api) -> None:
    await api.login()
    got, body = await api.call("GET", f"{LEGACY}/v9/nothing")
    assert got == 404 and body["status"] == "ERROR" and "COVERAGE.md" in body["fix"]
    got, body = await api.call("DELETE", f"{LEGACY}/v2/accounts")
    assert got == 405 and body["error"] == "method_not_allowed"


@pytest.mark.parametrize(
    ("payload", "ctype", "error"),
    [
        (b"{not json", "application/json", "invalid_json"),
        (b'{"limit": "many"}', "application/json", "invalid_body"),
        (b'{"virtualAccounts": "DEFAULT"}', "application/json", "invalid_body"),
        (b"[1, 2]", "application/json", "invalid_body"),
        (b"\xff\xfe", "application/json", "invalid_json"),
    ],
)
async def test_bad_bodies_are_refused_and_change_nothing(api: Api, payload: bytes, ctype: str, error: str) -> None:
    await api.login()
    before = api.ssm.snapshot()
    for path in ("licenses", "devices"):
        got, body = await api.call(
            "POST", f"{LEGACY}/v1/accounts/{LAB_DOMAIN}/{path}", data=payload, headers={"Content-Type": ctype}
        )
        assert got == 400 and body["error"] == error and body["statusMessage"], body
    after = api.ssm.snapshot()
    assert {k: v for k, v in after.items() if k != "api_clients"} == {
        k: v for k, v in before.items() if k != "api_clients"
    }


@pytest.mark.parametrize(
    ("payload", "error"),
    [
        (b"{not json", "invalid_json"),
        (b'{"expiresAfterDays": "many"}', "invalid_body"),
        (b'{"expiresAfterDays": 0}', "token_days_out_of_range"),
        (b'{"expiresAfterDays": 366}', "token_days_out_of_range"),
        (b'{"exportControlled": "maybe"}', "invalid_body"),
    ],
)
async def test_bad_token_requests_create_nothing(api: Api, payload: bytes, error: str) -> None:
    await api.login()
    before = await api.ssm.store.read(lambda u: u.tokens.of())
    got, body = await api.call(
        "POST",
        f"{LEGACY}/v1/accounts/{LAB_DOMAIN}/virtual-accounts/DEFAULT/tokens",
        data=payload,
        headers={"Content-Type": "application/json"},
    )
    assert got == 400 and body["error"] == error, body
    assert await api.ssm.store.read(lambda u: u.tokens.of()) == before


async def test_oversized_body_is_refused(api: Api) -> None:
    await api.login()
    got, body = await api.call(
        "POST",
        f"{LEGACY}/v1/accounts/{LAB_DOMAIN}/licenses",
        data=io.BytesIO(b"{" + b" " * (2 * 1024 * 1024) + b"}"),
        headers={"Content-Type": "application/json"},
    )
    assert got == 413 and body["status"] == "ERROR"


async def test_hostile_token_requests_get_400_not_500(api: Api) -> None:
    """Non-ASCII Basic credentials, lone surrogates and deep nesting in a JSON token body."""
    got, body = await api.call(
        "POST",
        "/as/token.oauth2",
        token="",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic é=="},
    )
    assert got == 400 and body["error"] == "invalid_request"
    for raw in (
        b'{"grant_type": "client_credentials", "client_id": "\\ud800", "client_secret": "x"}',
        b"[" * 8000 + b"]" * 8000,
        b'{"grant_type": ["client_credentials"]}',
    ):
        got, body = await api.call(
            "POST", "/backend/oauth/token", token="", data=raw, headers={"Content-Type": "application/json"}
        )
        assert got == 400 and body["error"] == "invalid_request", body


async def test_out_of_range_header_ids_get_400(api: Api) -> None:
    await api.login()
    for value in ("99999999999999999999", "-1", "x"):
        got, body = await api.call(
            "POST",
            "/v1/software/apis/licensing/v2/get-summary",
            headers={"X-CSW-SMART-ACCOUNT-ID": value, "X-CSW-VIRTUAL-ACCOUNT-ID": value},
            json={"data": {"nonce": "n"}},
        )
        assert got == 400 and body["error"] == "header_required", body


async def test_search_limit_keeps_ciscos_cap(api: Api) -> None:
    await api.login()
    for limit in ("-5", "0", "5000"):
        got, body = await api.call("GET", f"{LEGACY}/v1/accounts/search", params={"limit": limit})
        assert got == 200 and body["totalRecords"] == 1 and len(body["accounts"]) == 1


async def test_odd_tokens_and_undecodable_bodies_are_refused_not_500(api: Api) -> None:
    await api.login()
    got, body = await api.call("GET", f"{LEGACY}/v2/accounts", token="abc\u00ff")
    assert got == 401 and body["error"] == "invalid_token"
    got, body = await api.call(
        "POST",
        f"{LEGACY}/v1/accounts/{LAB_DOMAIN}/licenses",
        data=b"this is not gzip",
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert got == 400 and body["error"] == "body_unreadable", body
    got, body = await api.call(
        "POST",
        "/as/token.oauth2",
        token="",
        params={"grant_type": "client_credentials", "client_id": api.client_id, "client_secret": api.secret},
        data=b"not gzip",
        headers={"Content-Encoding": "gzip"},
    )
    assert got == 400 and body["error"] in ("body_unreadable", "invalid_request"), body


async def test_oversized_token_request_is_refused(api: Api) -> None:
    got, body = await api.call(
        "POST", "/as/token.oauth2", token="", data=io.BytesIO(b"grant_type=client_credentials&x=" + b"a" * 20_000)
    )
    assert got == 413 and body["error"] == "body_too_large"
