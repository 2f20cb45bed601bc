"""The lab guard (issue 15): the lab plane answers loopback only, unless the process was started
with --lab-exposed, and then only requests carrying the lab token. A refusal changes nothing."""

from __future__ import annotations

import os
import ssl
import stat
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.typedefs import Handler

from plumbing.web import serve
from plumbing.web.guard import is_loopback
from server import keys
from server.app import create_app
from server.pki_files import LabPki
from server.settings import ServerSettings
from server.store import Store
from shared.clock import VirtualClock
from shared.policy import DEFAULT_POLICY
from tests.conftest import START, RunningSSM
from tests.e2e.running import cli, stop, wait_for_file

Call = Callable[..., Awaitable[tuple[int, Any]]]


def spoof(remote: str) -> web.Middleware:
    """Make every request come from ``remote`` (a peer on another machine, without a network)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        return await handler(request.clone(remote=remote))

    return middleware


@pytest.fixture
async def serve_ssm(tmp_path: Path, lab_pki: LabPki, pki_dir: Path) -> AsyncIterator[Callable[..., Any]]:
    """Start an SSM whose peers all appear as ``remote``; yields a call helper and its RunningSSM.
    Whatever was started is stopped at teardown, whether the test passed or not."""
    opened: list[Callable[[], Awaitable[None]]] = []

    async def start(remote: str, token: str | None = None) -> tuple[Call, RunningSSM]:
        db = tmp_path / f"ssm-{remote.replace(':', '_')}-{token}.db"
        store = await Store.open(db)
        opened.append(store.close)
        clock = VirtualClock(START)
        app = create_app(
            ServerSettings(db_path=db, policy=DEFAULT_POLICY, lab_token=token),
            clock=clock,
            lab_pki=lab_pki,
            store=store,
        )
        app.middlewares.insert(0, spoof(remote))
        runner, port = await serve.start(app, "127.0.0.1", 0, ssl_context=app[keys.TLS].context)
        opened.insert(0, runner.cleanup)
        ssm = RunningSSM(
            f"https://127.0.0.1:{port}", port, store, clock, DEFAULT_POLICY, db, pki_dir / "truststore.pem"
        )
        ctx = ssl.create_default_context(cafile=str(ssm.truststore))

        async def call(method: str, path: str, body: object = None, bearer: str | None = None) -> tuple[int, Any]:
            headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
            async with (
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as s,
                s.request(method, ssm.url + path, json=body, headers=headers) as r,
            ):
                assert r.content_type in ("application/json", "text/plain"), r.content_type
                return r.status, (await r.json() if r.content_type == "application/json" else await r.text())

        return call, ssm

    yield start
    for close in opened:
        await close()


@pytest.mark.parametrize("remote", ["203.0.113.7", "2001:db8::7", "::ffff:198.51.100.1"])
async def test_the_lab_plane_refuses_other_machines(serve_ssm: Any, remote: str) -> None:
    """Started without --lab-exposed: a token or a reset from another machine is refused 403
    lab_not_exposed with its fix, and nothing changes; liveness and the admin API still answer."""
    call, ssm = await serve_ssm(remote)
    before = ssm.snapshot()
    for method, path, body in [
        ("POST", "/_lab/tokens", {"va": "DEFAULT"}),
        ("POST", "/_lab/reset", {}),
        ("POST", "/_lab/clock", {"advance": "30d"}),
        ("GET", "/_lab/instances", None),
        ("GET", "/metrics", None),
    ]:
        status, err = await call(method, path, body)
        assert status == 403 and err["error"] == "lab_not_exposed" and "--lab-exposed" in err["fix"], (path, err)
    assert ssm.snapshot() == before
    assert ssm.clock.now() == START
    assert (await call("GET", "/_lab/health"))[0] == 200
    assert (await call("GET", "/openapi.json"))[0] == 200


async def test_an_exposed_lab_plane_needs_the_token(serve_ssm: Any) -> None:
    """With --lab-exposed: every lab request needs the token (401 lab_token_required), from
    another machine as from this one; with it, the lab plane works."""
    for remote in ("203.0.113.7", "127.0.0.1"):
        call, ssm = await serve_ssm(remote, token="s3cret-lab-token")
        before = ssm.snapshot()
        for bearer in (None, "wrong"):
            status, err = await call("POST", "/_lab/tokens", {"va": "DEFAULT"}, bearer=bearer)
            assert status == 401 and err["error"] == "lab_token_required" and err["fix"], err
        assert ssm.snapshot() == before
        status, made = await call("POST", "/_lab/tokens", {"va": "DEFAULT"}, bearer="s3cret-lab-token")
        assert status == 201 and made["token"]


async def test_loopback_is_served_unexposed(ssm: RunningSSM, pki_dir: Path) -> None:
    """The default: the operator's own machine drives the lab plane without a token."""
    ctx = ssl.create_default_context(cafile=str(pki_dir / "truststore.pem"))
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as s,
        s.post(ssm.url + "/_lab/tokens", json={"va": "DEFAULT"}) as r,
    ):
        assert r.status == 201


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("::ffff:127.0.0.2") and is_loopback(None)
    assert not is_loopback("10.1.2.3") and not is_loopback("::ffff:10.0.0.1") and not is_loopback("garbage")


@pytest.mark.e2e
def test_run_warns_and_exposes_only_when_asked(tmp_path: Path, pki_dir: Path) -> None:
    """`ssm-server run --listen 0.0.0.0:0` starts with a warning naming what is exposed; with
    --lab-exposed it prints the token once and writes it 0600, and `ssm-server clock show` on the
    same machine reads it."""
    env = {k: v for k, v in os.environ.items() if k != "SSMLAB_LAB_TOKEN"}
    common = ["--db", str(tmp_path / "ssm.db"), "--certs", str(pki_dir), "--log-format", "json"]
    port_file = tmp_path / "ssm.port"
    proc = subprocess.Popen(
        [cli("ssm-server"), "run", "--listen", "0.0.0.0:0", "--port-file", str(port_file), *common],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    wait_for_file(port_file, proc)
    err = stop(proc)
    assert "WARNING: listening on 0.0.0.0" in err and "lab_not_exposed" in err and "--lab-exposed" in err
    assert not (tmp_path / "lab.token").exists()

    port_file.unlink()
    proc = subprocess.Popen(
        [cli("ssm-server"), "run", "--listen", "127.0.0.1:0", "--port-file", str(port_file), "--lab-exposed", *common],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    try:
        port = wait_for_file(port_file, proc)
        token_file = tmp_path / "lab.token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        url = f"https://127.0.0.1:{port}"
        cacert = str(pki_dir / "ca.pem")
        shown = subprocess.run(
            [cli("ssm-server"), "clock", "--url", url, "--cacert", cacert, "--db", str(tmp_path / "ssm.db"), "show"],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        assert shown.returncode == 0 and "now " in shown.stdout, shown.stderr
        other = tmp_path / "elsewhere"
        refused = subprocess.run(
            [cli("ssm-server"), "clock", "--url", url, "--cacert", cacert, "--db", str(other / "ssm.db"), "show"],
            capture_output=True, text=True, env=env, check=False,
        )  # fmt: skip
        assert refused.returncode == 1 and "lab token" in refused.stderr
    finally:
        err = stop(proc)
    assert token_file.read_text().strip() in err  # printed once at start
