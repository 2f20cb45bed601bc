"""Fixtures of the server tests: the admin API client (an API client, its token, calls over TLS)
and an SSM On-Prem beside the cloud (``site``; see ``tests.server.onprem_site``)."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from agent.instance import InstanceRunner
from server import apiclients
from server.pki_files import LabPki
from shared import pki
from shared.policy import DEFAULT_POLICY
from tests.conftest import MakeAgent, RunningSSM
from tests.server.onprem_site import BY_HAND, OnPrem, start_onprem


@dataclass
class Api:
    ssm: RunningSSM
    session: aiohttp.ClientSession
    client_id: str
    secret: str
    token: str = ""

    async def call(self, method: str, path: str, *, token: str | None = None, **kw: Any) -> tuple[int, Any]:
        headers = dict(kw.pop("headers", {}))
        bearer = self.token if token is None else token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        async with self.session.request(method, self.ssm.url + path, headers=headers, **kw) as resp:
            assert resp.content_type == "application/json", await resp.text()
            return resp.status, await resp.json()

    async def login(self, path: str = "/as/token.oauth2") -> dict[str, Any]:
        status, body = await self.call(
            "POST",
            path,
            token="",
            data={"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.secret},
        )
        assert status == 200, body
        self.token = body["access_token"]
        return body


@pytest.fixture
async def api(ssm: RunningSSM, pki_dir: Path) -> AsyncIterator[Api]:
    ctx = ssl.create_default_context(cafile=str(pki_dir / "truststore.pem"))
    new = await apiclients.create(ssm.store, name="tests", now=ssm.clock.now())
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
        yield Api(ssm, session, new.client_id, new.client_secret)


@pytest.fixture
async def site(
    request: pytest.FixtureRequest, tmp_path: Path, ssm: RunningSSM, lab_pki: LabPki
) -> AsyncIterator[OnPrem]:
    """A Disconnected On-Prem (files carried by hand); ``CONNECTED`` (indirect parameter): a
    Connected one, which the tests synchronize by hand (``BY_HAND``)."""
    mode = getattr(request, "param", "disconnected")
    policy = BY_HAND if mode == "connected" else DEFAULT_POLICY
    op, runner = await start_onprem(tmp_path, "onprem", ssm, lab_pki, mode, policy)
    try:
        yield op
    finally:
        await runner.cleanup()  # type: ignore[attr-defined]
        await op.store.close()


async def registered_runner(ssm: RunningSSM, make_agent: MakeAgent) -> InstanceRunner:
    """An agent's instance registered with ``ssm``, its agent running (the test acts through it)."""
    running = await make_agent()
    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    return inst


@pytest.fixture
async def registered(ssm: RunningSSM, make_agent: MakeAgent) -> tuple[str, pki.PrivateKey]:
    """A product instance registered with ``ssm`` whose agent stopped: the test sends its requests
    (its piid and ID-certificate key)."""
    running = await make_agent()
    runner = running.agent.runner(None)
    await runner.register(await ssm.token())
    await running.agent.stop()  # passive: the test sends the reports
    assert runner.key is not None and runner.state.piid is not None
    return runner.state.piid, runner.key
