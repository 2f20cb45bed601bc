"""The request journal as a WireMock-style verifier (issue 18, item 3): both sides' headers and
bodies with secrets masked, filters, counts, emptying, a bounded memory, and the lab plane's
reads left out."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from server.lab.recording import BODY_LIMIT, HEADER_LIMIT, HEADERS_KEPT, Journal, body_view, mask_headers
from tests.conftest import MakeAgent, RunningSSM
from tests.server.conftest import Api

LEGACY_VAS = "/services/api/smart-accounts-and-licensing/v1/accounts/lab.ssmlab.example/customer/virtual-accounts"


async def journal(ssm: RunningSSM, query: str = "") -> list[dict[str, Any]]:
    status, entries = await ssm.lab("GET", "/_lab/journal" + query)
    assert status == 200, entries
    return list(entries)


async def lab_token(ssm: RunningSSM) -> str:
    status, made = await ssm.lab("POST", "/_lab/tokens", {})
    assert status == 201, made
    return str(made["token"])


async def test_the_admin_api_is_kept_with_its_secrets_masked(ssm: RunningSSM, api: Api) -> None:
    await api.login()
    status, _ = await api.call("GET", LEGACY_VAS)
    assert status == 200
    login, listing = await journal(ssm)
    assert (login["method"], login["path"], login["status"]) == ("POST", "/as/token.oauth2", 200)
    sent = login["request"]["body"]
    assert f"client_id={api.client_id}" in sent and "client_secret=***" in sent and api.secret not in sent
    reply = json.loads(login["response"]["body"])
    assert reply["access_token"] == "***" and reply["token_type"] == "Bearer" and api.token not in json.dumps(login)
    assert login["response"]["headers"]["Content-Type"].startswith("application/json")
    assert listing["request"]["headers"]["Authorization"] == "Bearer ***"
    assert "DEFAULT" in listing["response"]["body"] and listing["request"]["body"] is None


async def test_device_requests_keep_their_bodies_without_the_token(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    running = await make_agent()
    token = await ssm.token()
    await running.agent.runner(None).register(token)
    entries = await journal(ssm)
    register = next(e for e in entries if e["kind"] == "registration")
    assert token not in json.dumps(entries)
    assert json.loads(register["request"]["body"])["token"] == "***"
    assert json.loads(register["request"]["body"])["identity"]["instance_name"] == "ucce-1"
    assert register["response"]["body"] and register["request"]["size"] > 0


async def test_filters_and_counts(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    running = await make_agent([{"name": "ucce-1"}, {"name": "ucce-2", "serial_number": '"SSM0002TEST"'}])
    await running.agent.runner("ucce-1").register(await lab_token(ssm))
    await ssm.clock.advance(timedelta(days=1))
    await running.agent.runner("ucce-2").register(await lab_token(ssm))
    piid = running.agent.runner("ucce-1").state.piid
    assert piid is not None
    device = await journal(ssm, "?path=/licservice/*")
    assert device and {e["path"] for e in device} == {"/licservice/license"}
    by_name = await journal(ssm, "?instance=ucce-1")
    assert by_name and {e["piid"] for e in by_name} == {piid} == {
        e["piid"] for e in await journal(ssm, f"?instance={piid}")
    }
    later = await journal(ssm, "?since=2026-01-06T00:00:00%2B00:00")
    assert later and all(e["at"] >= "2026-01-06" for e in later)
    assert {e["piid"] for e in later if e["piid"]} == {running.agent.runner("ucce-2").state.piid}
    earlier = await journal(ssm, "?until=2026-01-05T23:59:59Z")
    assert len(earlier) + len(later) == len(await journal(ssm))
    posts = await journal(ssm, "?method=post&path=/_lab/tokens")
    assert len(posts) == 2 and all(e["status"] == 201 for e in posts)
    assert (await ssm.lab("GET", "/_lab/journal/count?path=/_lab/tokens&status=201")) == (200, {"count": 2})
    assert (await ssm.lab("GET", "/_lab/journal/count?path=/nowhere")) == (200, {"count": 0})
    assert len(await journal(ssm, "?limit=1")) == 1
    status, err = await ssm.lab("GET", "/_lab/journal?since=yesterday")
    assert status == 400 and err["error"] == "invalid_instant" and err["fix"]
    status, err = await ssm.lab("GET", "/_lab/journal?colour=red")
    assert status == 400 and err["error"] == "invalid_query"


async def test_the_lab_planes_reads_stay_out(ssm: RunningSSM) -> None:
    for path in ("/_lab/clock", "/_lab/instances", "/_lab/faults", "/_lab/journal", "/metrics", "/_lab/tls"):
        assert (await ssm.lab("GET", path))[0] == 200
    await ssm.lab("GET", "/_lab/no-such-thing")  # no route: journalled (someone is probing)
    await ssm.lab("POST", "/_lab/clock", {"advance": "1h"})
    assert [(e["method"], e["path"]) for e in await journal(ssm)] == [
        ("GET", "/_lab/no-such-thing"),
        ("POST", "/_lab/clock"),
    ]
    assert (await journal(ssm))[-1]["at"] == "2026-01-05T09:00:00+00:00"  # when it came, before the clock moved


async def test_it_empties_on_request_and_with_the_lab_reset(ssm: RunningSSM) -> None:
    made = await lab_token(ssm)
    await lab_token(ssm)
    assert made not in json.dumps(await journal(ssm))  # the reply's token is masked
    assert await ssm.lab("DELETE", "/_lab/journal") == (200, {"removed": 2})
    assert await journal(ssm) == []
    await lab_token(ssm)
    assert (await ssm.lab("POST", "/_lab/reset", {}))[0] == 200
    assert [e["path"] for e in await journal(ssm)] == ["/_lab/reset"]  # only the reset itself


async def test_a_fault_on_an_admin_operation(ssm: RunningSSM, api: Api) -> None:
    await api.login()
    status, fault = await ssm.lab("POST", "/_lab/faults", {"kind": "status", "status": 500, "path": LEGACY_VAS})
    assert status == 201
    assert (await api.call("GET", LEGACY_VAS))[0] == 500
    assert (await journal(ssm, f"?path={LEGACY_VAS}"))[-1]["fault"] == fault["id"]


def test_memory_is_bounded() -> None:
    ring = Journal(size=3)
    for i in range(5):
        ring.append({"n": i})
    assert [e["n"] for e in ring] == [2, 3, 4] and [e["seq"] for e in ring] == [3, 4, 5]
    big = body_view(b'{"note": "' + b"x" * 10000 + b'"}', "application/json")
    assert len(big["body"]) == BODY_LIMIT and big["truncated"] and big["size"] == 10012
    assert body_view(b"", "application/json") == {"body": None, "size": 0, "truncated": False}
    many = mask_headers({f"X-{i}": "v" * 5000 for i in range(100)})
    assert len(many) == HEADERS_KEPT and {len(v) for v in many.values()} == {HEADER_LIMIT}


def test_what_is_masked() -> None:
    headers = mask_headers({"Authorization": "Basic abc", "Cookie": "s=1", "X-Api-Key": "k", "Accept": "*/*"})
    assert headers == {"Authorization": "Basic ***", "Cookie": "***", "X-Api-Key": "***", "Accept": "*/*"}
    body = json.loads(
        body_view(
            b'{"password": "p", "private_key": "k", "token_id": "t1", "items": [{"refresh_token": "r"}], "key": ""}',
            "application/json",
        )["body"]
    )
    assert body == {
        "password": "***",
        "private_key": "***",
        "token_id": "t1",
        "items": [{"refresh_token": "***"}],
        "key": "",
    }
    text = body_view(b'<x>{"token": "abc", "name": "ucce-1"}</x>', "application/xml")["body"]
    assert text == '<x>{"token": "***", "name": "ucce-1"}</x>'
