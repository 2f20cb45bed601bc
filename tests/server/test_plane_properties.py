"""Property tests over the SSM's planes (issue 15): every route that reads a body — the lab plane,
the admin API, the device plane (register and every signed message) — is sent documents drawn
from its declaration, valid and not. Whatever the document: no 5xx; a refusal is JSON with its
code and fix and changes nothing in the store."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import aiohttp
import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plumbing.web.openapi import template
from plumbing.web.routes import Route
from server import admin, lab
from server.accounts import LAB_DOMAIN
from shared import envelope, pki
from shared.clock import epoch
from shared.messages import Authorize, RenewRegistration, ReportUsage, Request, SyncRequest
from tests.conftest import RunningSSM
from tests.fuzzing import examples
from tests.server.conftest import Api
from tests.server.ownpki import lab_pki, pki_dir  # noqa: F401 - fuzzed lab routes may roll the PKI over
from tests.strategies import documents

PATH_VALUES = {"domain": LAB_DOMAIN, "va": "DEFAULT", "version": "v2", "type": "CUSTOMER", "piid": "nobody", "id": "1"}
BODY_ROUTES = [r for r in [*lab.ROUTES, *admin.ROUTES] if r.body is not None and r.form is None]
SETTINGS = settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def path_of(route: Route) -> str:
    path = template(route.path)
    for name, value in PATH_VALUES.items():
        path = path.replace("{" + name + "}", value)
    return path


async def post(ssm: RunningSSM, pki_dir: Path, path: str, data: bytes, ctype: str, bearer: str = "") -> tuple[int, Any]:
    ctx = ssl.create_default_context(cafile=str(pki_dir / "truststore.pem"))
    headers = {"Content-Type": ctype, **({"Authorization": f"Bearer {bearer}"} if bearer else {})}
    async with aiohttp.ClientSession() as s, s.post(ssm.url + path, data=data, headers=headers, ssl=ctx) as r:
        if r.status < 400 and r.content_type != "application/json":
            return r.status, await r.read()
        assert r.content_type == "application/json", (r.status, r.content_type, await r.text())
        return r.status, await r.json()


def judge(status: int, body: Any, what: str) -> None:
    """No 5xx; a refusal says its code and fix."""
    assert status < 500, (what, status, body)
    if status >= 400:
        assert isinstance(body, dict) and body.get("error") and body.get("fix"), (what, status, body)


def unchanged(before: dict[str, Any], ssm: RunningSSM) -> None:
    after = ssm.snapshot(skip=("settings", "api_clients"))
    assert after == before


@pytest.mark.e2e
@SETTINGS
@given(data=st.data())
async def test_every_body_route_refuses_cleanly(ssm: RunningSSM, api: Api, pki_dir: Path, data: st.DataObject) -> None:
    if not api.token:
        await api.login()
    route = data.draw(st.sampled_from(BODY_ROUTES), label="route")
    assert route.body is not None
    doc = data.draw(documents(route.body.type, mutate=True), label="body")
    before = ssm.snapshot(skip=("settings", "api_clients"))
    status, body = await post(
        ssm, pki_dir, path_of(route), msgspec.json.encode(doc), "application/json", api.token if route.auth else ""
    )
    judge(status, body, f"{route.method} {route.path}")
    if status >= 400:
        unchanged(before, ssm)


SIGNED = [Authorize, ReportUsage, RenewRegistration, SyncRequest]


@pytest.mark.e2e
@SETTINGS
@given(data=st.data())
async def test_every_device_message_refuses_cleanly(
    ssm: RunningSSM,
    pki_dir: Path,
    registered: tuple[str, pki.PrivateKey],
    data: st.DataObject,
) -> None:
    """Register documents as they come; signed messages of every kind, signed by a registered
    instance, mostly fresh and speaking for it (so the checks past the signature are reached)."""
    piid, key = registered
    if data.draw(st.booleans(), label="signed"):
        kind = data.draw(st.sampled_from(SIGNED), label="kind")
        doc = data.draw(documents(kind, mutate=True), label="message")
        if isinstance(doc, dict) and data.draw(st.integers(0, 9), label="own") > 0:
            doc |= {"piid": piid, "sent_at": epoch(ssm.clock.now())}
        raw = envelope.sign_request(msgspec.json.encode(doc), key, piid=piid, want_chain=True).encode()
        ctype = envelope.CONTENT_TYPE
    else:
        doc = data.draw(documents(Request, mutate=True), label="register")
        raw, ctype = msgspec.json.encode(doc), "application/json"
    before = ssm.snapshot(skip=("settings", "api_clients"))
    status, body = await post(ssm, pki_dir, "/licservice/license", raw, ctype)
    judge(status, body, "device")
    if status >= 400:
        unchanged(before, ssm)
