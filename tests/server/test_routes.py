"""Planes as route tables: every route the SSM serves is declared with its plane; a listener serves
its planes by that declaration; one decoder answers every undecodable body with a 400 and a fix."""

from __future__ import annotations

import ssl
from pathlib import Path

import aiohttp
import pytest

from plumbing.web import serve
from plumbing.web.routes import TABLE, Plane
from server import keys
from server.app import ADMIN_PLANES, DEVICE_PLANES, create_app
from server.pki_files import LabPki
from server.settings import ServerSettings
from shared.clock import VirtualClock
from tests.conftest import START, RunningSSM
from tests.server.conftest import Api

DEEP = b"[" * 1500 + b"]" * 1500
DEEP_OBJECT = b'{"a": ' + DEEP + b"}"


@pytest.mark.parametrize("mode", ["cloud", "onprem"])
def test_every_route_is_declared_with_a_plane(tmp_path: Path, lab_pki: LabPki, mode: str) -> None:
    """No route reaches the router but through a table (so none can miss its plane)."""
    app = create_app(ServerSettings(db_path=tmp_path / "x.db", mode=mode), clock=VirtualClock(START), lab_pki=lab_pki)  # type: ignore[arg-type]
    table = app[TABLE]
    served = [r for r in app.router.routes() if r.method != "HEAD"]
    assert served and all(r in table for r in served)
    planes = {route.plane for route in table.values()}
    assert {Plane.DEVICE, Plane.ADMIN, Plane.LAB, Plane.PROBE} <= planes
    device_paths = {r.path for r in table.values() if r.plane is Plane.DEVICE}
    assert device_paths == (
        {"/licservice/license", "/its/service/oddce/services/DDCEService"}
        if mode == "cloud"
        else {"/SmartTransport", "/Transportgateway/services/DeviceRequestHandler"}
    )


def test_the_listeners_split_the_planes() -> None:
    assert Plane.DEVICE in DEVICE_PLANES and Plane.DEVICE not in ADMIN_PLANES
    assert not ({Plane.ADMIN, Plane.LAB, Plane.WEB} & DEVICE_PLANES)
    assert Plane.PROBE in DEVICE_PLANES & ADMIN_PLANES


async def test_an_onprem_serves_each_plane_on_its_listener(tmp_path: Path, lab_pki: LabPki, pki_dir: Path) -> None:
    settings = ServerSettings(db_path=tmp_path / "onprem.db", mode="onprem", admin_port=0)
    app = create_app(settings, clock=VirtualClock(START), lab_pki=lab_pki)
    runner, device_port = await serve.start(
        app, "127.0.0.1", 0, ssl_context=app[keys.TLS].context, also=("127.0.0.1", 0)
    )
    admin_port = serve.bound_ports(runner)[1]
    app[keys.LISTENERS].device, app[keys.LISTENERS].admin = device_port, admin_port
    ctx = ssl.create_default_context(cafile=str(pki_dir / "truststore.pem"))
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as s:
            on = {"device": f"https://127.0.0.1:{device_port}", "admin": f"https://127.0.0.1:{admin_port}"}
            async with s.get(on["device"] + "/_lab/info") as r:
                assert r.status == 404 and "admin listener" in (await r.json())["message"]
            async with s.get(on["admin"] + "/_lab/info") as r:
                assert r.status == 200
            async with s.post(on["admin"] + "/SmartTransport", json={}) as r:
                assert r.status == 404 and "device listener" in (await r.json())["fix"]
            for base in on.values():
                async with s.get(base + "/_lab/health") as r:
                    assert r.status == 200
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("path", "ctype", "body"),
    [
        ("/licservice/license", "application/json", DEEP),
        ("/licservice/license", "application/json", DEEP_OBJECT),
        ("/_lab/snapshot", "application/json", DEEP_OBJECT),
        ("/_lab/reset", "application/json", DEEP_OBJECT),
        ("/_lab/faults", "application/json", DEEP_OBJECT),
        ("/_lab/clock", "application/json", DEEP_OBJECT),
        ("/_lab/tls", "application/json", DEEP_OBJECT),
        ("/as/token.oauth2", "application/json", DEEP_OBJECT),
    ],
)
async def test_json_nested_too_deeply_is_a_400_with_a_fix(
    ssm: RunningSSM, pki_dir: Path, path: str, ctype: str, body: bytes
) -> None:
    """msgspec stops near a thousand levels with a RecursionError: a 400, never a 500, nothing stored."""
    before = ssm.snapshot()
    ctx = ssl.create_default_context(cafile=str(pki_dir / "truststore.pem"))
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as s,
        s.post(ssm.url + path, data=body, headers={"Content-Type": ctype}) as r,
    ):
        answer = await r.json()
    if r.status == 413:  # the plane's body limit stops it first (the snapshot names are a few bytes)
        assert answer["error"] == "body_too_large" and answer["fix"]
    else:
        assert r.status == 400, answer
        assert answer.get("error") and (answer.get("fix") or answer.get("error_description")), answer
        if path == "/licservice/license" and body is DEEP_OBJECT:  # skipping an unknown field recurses
            assert answer["error"] == "json_too_deep"
    assert ssm.snapshot() == before


async def test_the_admin_api_refuses_deep_json_with_its_envelope(api: Api) -> None:
    await api.login()
    status, body = await api.call(
        "POST",
        "/services/api/smart-accounts-and-licensing/v1/accounts/lab.ssmlab.example/licenses",
        data=DEEP_OBJECT,
        headers={"Content-Type": "application/json"},
    )
    assert status == 400
    assert body["status"] == "ERROR" and body["error"] == "json_too_deep" and body["fix"]
