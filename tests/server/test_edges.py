"""Every plane validates at its edge (issue 15, Build 1): each example of the issue that answered
500 or was accepted is now refused with a JSON 4xx naming its code and fix, and changes nothing."""

from __future__ import annotations

import json
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from server import cli
from server.accounts import LAB_DOMAIN
from tests.conftest import RunningSSM
from tests.server.conftest import Api

LEGACY = "/services/api/smart-accounts-and-licensing"
SW_VA = f"/v1/software/apis/accounts/v1/domain/{LAB_DOMAIN}/type/CUSTOMER/virtual-accounts"
TOKENS = f"{LEGACY}/v1/accounts/{LAB_DOMAIN}/virtual-accounts/DEFAULT/tokens"
DEEP = b"[" * 5000 + b"]" * 5000


async def raw(
    ssm: RunningSSM, pki_dir: Path, method: str, path: str, data: bytes | None = None, **headers: str
) -> tuple[int, Any]:
    ctx = ssl.create_default_context(cafile=str(pki_dir / "truststore.pem"))
    hdrs = {k.replace("_", "-"): v for k, v in headers.items()}
    async with aiohttp.ClientSession() as s, s.request(method, ssm.url + path, data=data, headers=hdrs, ssl=ctx) as r:
        assert r.content_type == "application/json", (r.status, await r.text())
        return r.status, await r.json()


def refused(status: int, body: Any, code: str | tuple[str, ...], http: int = 400) -> None:
    codes = (code,) if isinstance(code, str) else code
    assert status == http, (status, body)
    assert body["error"] in codes, body
    assert body.get("fix"), body


# -- 5xx from input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [DEEP, b'{"virtualAccounts": ' + DEEP + b"}", b'{"x": ' + b'{"a": ' * 3000 + b"1" + b"}" * 3000 + b"}"],
)
async def test_deeply_nested_json_is_refused_on_every_json_plane(
    ssm: RunningSSM, api: Api, pki_dir: Path, payload: bytes
) -> None:
    await api.login()
    before = ssm.snapshot(skip=("settings", "api_clients"))
    bearer = f"Bearer {api.token}"
    for path, headers in [
        (f"{LEGACY}/v1/accounts/{LAB_DOMAIN}/licenses", {"Authorization": bearer}),
        ("/as/token.oauth2", {}),
        ("/licservice/license", {}),
        ("/_lab/snapshot", {}),
        ("/_lab/clock", {}),
    ]:
        status, body = await raw(ssm, pki_dir, "POST", path, payload, Content_Type="application/json", **headers)
        assert 400 <= status < 500 and body["error"] and body.get("fix"), (path, body)
    assert ssm.snapshot(skip=("settings", "api_clients")) == before


@pytest.mark.parametrize(
    ("path", "payload", "code"),
    [
        ("/_lab/snapshot", b'{"name": 5}', "invalid_snapshot_name"),
        ("/_lab/snapshot", b"{", "malformed_json"),
        ("/_lab/snapshot", b'{"name": "../etc"}', "invalid_snapshot_name"),
        ("/_lab/reset", b'{"account": 5}', "invalid_body"),
        ("/_lab/tokens", json.dumps({"uses": 2**63}).encode(), "invalid_body"),
        ("/_lab/tokens", json.dumps({"days": -(2**70)}).encode(), "invalid_body"),
        ("/_lab/tokens", json.dumps({"description": "lab\u0000"}).encode(), "invalid_body"),
        ("/_lab/licenses", json.dumps({"name": "Premium Agent", "quantity": 2**63 - 1}).encode(), "invalid_body"),
        ("/_lab/licenses", json.dumps({"name": "Premium Agent", "quantity": 2**64}).encode(), "invalid_body"),
        ("/_lab/clock", b'{"advance": "99999999999y"}', "invalid_duration"),
        ("/_lab/clock", b'{"to": "9999-12-31T00:00:00+00:00"}', "instant_out_of_range"),
        ("/_lab/clock", b'{"advance": "101y"}', "invalid_duration"),
        ("/_lab/faults", b'{"kind": "drop", "times": 99999999999999999999}', "invalid_fault"),
    ],
)
async def test_lab_plane_bodies_of_the_wrong_shape_or_range(
    ssm: RunningSSM, pki_dir: Path, path: str, payload: bytes, code: str
) -> None:
    before, now = ssm.snapshot(), ssm.clock.now()
    status, body = await raw(ssm, pki_dir, "POST", path, payload, Content_Type="application/json")
    refused(status, body, code)
    assert ssm.snapshot() == before and ssm.clock.now() == now


async def test_the_clock_is_never_stuck(ssm: RunningSSM, pki_dir: Path) -> None:
    """After the refused 9999 jump the lab still advances."""
    js = "application/json"
    await raw(ssm, pki_dir, "POST", "/_lab/clock", b'{"to": "9999-12-31T00:00:00+00:00"}', Content_Type=js)
    status, view = await raw(ssm, pki_dir, "POST", "/_lab/clock", b'{"advance": "1d"}', Content_Type=js)
    assert status == 200 and view["now"].startswith("2026-01-06")
    status, body = await raw(
        ssm, pki_dir, "POST", "/_lab/clock", b'{"to": "2199-12-31T00:00:00+00:00"}', Content_Type=js
    )
    assert status == 200, body
    status, body = await raw(ssm, pki_dir, "POST", "/_lab/clock", b'{"advance": "2d"}', Content_Type=js)
    refused(status, body, "instant_out_of_range")


# -- admin API -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "payload", "code"),
    [
        (f"{LEGACY}/v1/accounts/{LAB_DOMAIN}/licenses", {"offset": 2**64}, "invalid_body"),
        (f"{LEGACY}/v1/accounts/{LAB_DOMAIN}/licenses", {"offset": -5}, "invalid_body"),
        (f"{LEGACY}/v1/accounts/{LAB_DOMAIN}/devices", {"limit": -1}, "invalid_body"),
        (SW_VA, {"name": "bad\u0000name"}, "invalid_body"),
        (SW_VA, {"name": "a/b"}, "invalid_body"),
        (SW_VA, {"name": "../up"}, "invalid_body"),
        (SW_VA, {"name": "two\nlines"}, "invalid_body"),
        (SW_VA, {"name": "x" * 10_000}, "invalid_body"),
        (SW_VA, {"name": "ok", "description": "tab\tbed"}, "invalid_body"),
        (TOKENS, {"description": "nul\u0000"}, "invalid_body"),
        (TOKENS, {"expiresAfterDays": 2**63}, "invalid_body"),
        (
            f"{LEGACY}/v1/accounts/{LAB_DOMAIN}/virtual-accounts/DEFAULT/licenses/transfer",
            {"licenses": [{"license": "Premium Agent", "quantity": 2**63, "targetVirtualAccount": "X"}]},
            "invalid_body",
        ),
        (SW_VA.replace("CUSTOMER", "PARTNER"), {"name": "ok"}, "invalid_path_parameter"),
    ],
)
async def test_admin_api_refusals(ssm: RunningSSM, api: Api, path: str, payload: dict[str, Any], code: str) -> None:
    await api.login()
    before = ssm.snapshot(skip=("settings", "api_clients"))
    status, body = await api.call("POST", path, json=payload)
    assert status == 400 and body["error"] == code and body["fix"] and body["status"] == "ERROR", body
    assert ssm.snapshot(skip=("settings", "api_clients")) == before


async def test_json_sent_as_text_plain_is_refused(ssm: RunningSSM, api: Api, pki_dir: Path) -> None:
    await api.login()
    before = ssm.snapshot(skip=("settings", "api_clients"))
    data = json.dumps({"name": "Plain"}).encode()
    status, body = await api.call("POST", SW_VA, data=data, headers={"Content-Type": "text/plain"})
    # Cisco lists no 415 for the operation: its 400, with ssmlab's code
    assert status == 400 and body["error"] == "unsupported_media_type" and body["fix"], body
    status, body = await raw(ssm, pki_dir, "POST", "/_lab/tokens", b"{}", Content_Type="text/plain")
    refused(status, body, "unsupported_media_type", 415)
    assert ssm.snapshot(skip=("settings", "api_clients")) == before
    # the form type curl -d sends, and no type at all, still read as JSON on the lab plane
    assert (await raw(ssm, pki_dir, "POST", "/_lab/clock", b'{"advance": "1m"}', Content_Type=FORM))[0] == 200


FORM = "application/x-www-form-urlencoded"


async def test_a_valid_name_still_works(ssm: RunningSSM, api: Api) -> None:
    await api.login()
    status, body = await api.call("POST", SW_VA, json={"name": "Team A (lab) 2", "description": "ok"})
    assert status == 200, body


# -- unmatched and oversized requests ------------------------------------------------------------


async def test_oversized_requests_answer_json(ssm: RunningSSM, pki_dir: Path) -> None:
    status, body = await raw(ssm, pki_dir, "GET", "/_lab/health", None, X_Big="a" * 20_000)
    refused(status, body, "headers_too_large", 431)
    status, body = await raw(ssm, pki_dir, "GET", "/" + "a" * 10_000)
    refused(status, body, "uri_too_long", 414)
    status, body = await raw(ssm, pki_dir, "GET", "/no/such/path")
    refused(status, body, "not_found", 404)
    status, body = await raw(ssm, pki_dir, "PATCH", "/_lab/health")
    refused(status, body, "method_not_allowed", 405)


# -- the CLI refuses the same -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a/b", "../x", "nul\u0000", "two\nlines", "x" * 10_000, " lead"])
def test_va_create_refuses_bad_names(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    db = str(tmp_path / "ssm.db")
    assert cli.main(["account", "create", "--domain", "ex.example", "--name", "Ex", "--db", db]) == 0
    capsys.readouterr()
    assert cli.main(["va", "create", "--name", name, "--account", "ex.example", "--db", db]) == 2
    err = capsys.readouterr().err
    assert "is not allowed" in err and "fix:" in err


def test_license_add_refuses_past_the_codec_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "ssm.db")
    assert cli.main(["account", "create", "--domain", "ex.example", "--name", "Ex", "--db", db]) == 0
    args = ["license", "add", "--type", "Flex", "--name", "Premium Agent", "--account", "ex.example", "--db", db]
    assert cli.main([*args, "--quantity", str(2**63 - 1)]) == 2
    err = capsys.readouterr().err
    assert "out of range" in err and "fix:" in err
