"""The banner (Enforcement > Out of Compliance > Evaluation, shown only then), the
Non-Production banner, the License Compliance report, the consumption summary and the system
alerts, through the agent's local API."""

from __future__ import annotations

import argparse
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent.api import create_api
from agent.cli import views
from shared import banner
from shared.clock import AnyClock
from tests.conftest import MakeAgent, NetCut, RunningSSM

Q = timedelta(minutes=15)


async def _noop(_c: AnyClock) -> None:
    return None


@pytest.fixture
async def agent_api(ssm: RunningSSM, make_agent: MakeAgent, aiohttp_client: Any) -> tuple[Any, TestClient[Any, Any]]:
    running = await make_agent(
        [
            {"name": "ucce-1"},
            {"name": "cvp-1", "product": "CVP", "deployment_type": "CVP"},
            {"name": "lab-1", "license_type": "Perpetual", "usage_mode": "Non-Production"},
        ]
    )
    client: TestClient[Any, Any] = await aiohttp_client(create_api(running.agent, _noop))
    return running, client


async def test_banner_precedence(ssm: RunningSSM, agent_api: tuple[Any, TestClient[Any, Any]]) -> None:
    """Evaluation while any instance evaluates; Out of Compliance outranks it; Enforcement outranks
    both; no banner once every instance is registered and compliant."""
    running, api = agent_api
    b = await (await api.get("/api/v1/banner")).json()
    assert b["level"] == "Evaluation" and "ucce-1" in b["message"]
    assert len(b["report"]) == 3

    for name in ("ucce-1", "cvp-1", "lab-1"):
        await running.agent.runner(name).register(await ssm.token())
    b = await (await api.get("/api/v1/banner")).json()
    assert b["level"] is None and b["message"] is None

    await running.agent.runner("cvp-1").set_usage({"Premium Agent": 150})
    await ssm.clock.advance(5 * Q)
    b = await (await api.get("/api/v1/banner")).json()
    assert b["level"] == "Out of Compliance" and "cvp-1" in b["message"]

    await running.agent.runner("cvp-1").set_usage({"Premium Agent": 0})  # idle from now on: the lock holds
    await ssm.clock.advance(timedelta(days=91))
    b = await (await api.get("/api/v1/banner")).json()
    assert b["level"] == "Enforcement"
    rows = {r["instance"]: r for r in b["report"]}
    assert rows["cvp-1"]["enforcement"] == "Out-of-Compliance expiry"


async def test_non_production_banner(ssm: RunningSSM, agent_api: tuple[Any, TestClient[Any, Any]]) -> None:
    """Consuming Non-Production licenses shows "You are using a Non-Production System"."""
    _running, api = agent_api
    b = await (await api.get("/api/v1/banner")).json()
    assert b["non_production"] is None
    r = await api.put("/api/v1/instances/lab-1/usage", json={"Regular Agent": 3})
    assert r.status == 200
    b = await (await api.get("/api/v1/banner")).json()
    assert b["non_production"] == banner.NON_PRODUCTION_BANNER


async def test_consumption_summary_through_the_api(
    ssm: RunningSSM, agent_api: tuple[Any, TestClient[Any, Any]]
) -> None:
    """PUT usage then GET consumption: name, usage count, actual and Table 5 status; bad input refused."""
    running, api = agent_api
    await running.agent.runner("ucce-1").register(await ssm.token())
    r = await api.put("/api/v1/instances/ucce-1/usage", json={"Premium Agent": 12})
    lines = {c["license_name"]: c for c in (await r.json())["consumption"]}
    assert lines["Premium Agent"]["actual_usage"] == 12
    assert lines["Premium Agent"]["status"] == "Waiting"  # the SSM has not seen it yet
    await ssm.clock.advance(Q)
    body = await (await api.get("/api/v1/instances/ucce-1/consumption")).json()
    lines = {c["license_name"]: c for c in body["consumption"]}
    assert lines["Premium Agent"]["status"] == "In Compliance"
    assert lines["Premium Agent"]["usage_count"] == 12
    assert lines["Standard Agent"]["status"] == "No License in Use"
    for bad, code in (
        ({"Premium Agent": -3}, "invalid_usage"),
        ({"Nope": 1}, "unknown_license"),
        ({"Premium Agent": "many"}, "invalid_body"),
    ):
        r = await api.put("/api/v1/instances/ucce-1/usage", json=bad)
        assert r.status == 400 and (await r.json())["error"] == code


async def test_system_alerts_raise_and_clear(ssm: RunningSSM, make_agent: MakeAgent, aiohttp_client: Any) -> None:
    """Disabled Smart Agent and a missing serial number are red until fixed, then green; a disabled
    agent sends nothing."""
    running = await make_agent([{"name": "nos", "generate_serial": "false"}])
    api: TestClient[Any, Any] = await aiohttp_client(create_api(running.agent, _noop))
    alerts = {a["alert"]: a for a in (await (await api.get("/api/v1/alerts")).json())["alerts"]}
    assert alerts[banner.NO_SERIAL]["state"] == "red" and "serial generate" in alerts[banner.NO_SERIAL]["fix"]
    assert alerts[banner.NOT_ENABLED]["state"] == "green"
    assert alerts[banner.NOT_INITIALIZED]["state"] == "green"
    r = await api.post("/api/v1/instances/nos/register", json={"token": await ssm.token()})
    assert r.status == 409 and (await r.json())["error"] == "serial_not_generated"
    assert (await api.post("/api/v1/instances/nos/serial")).status == 200
    assert (await api.post("/api/v1/instances/nos/disable")).status == 200
    alerts = {a["alert"]: a for a in (await (await api.get("/api/v1/alerts")).json())["alerts"]}
    assert alerts[banner.NO_SERIAL]["state"] == "green"
    assert alerts[banner.NOT_ENABLED]["state"] == "red"
    r = await api.post("/api/v1/instances/nos/register", json={"token": await ssm.token()})
    assert r.status == 409 and (await r.json())["error"] == "smart_agent_disabled"
    assert (await api.post("/api/v1/instances/nos/enable")).status == 200
    inst = running.agent.runner("nos")
    await inst.register(await ssm.token())
    first = inst.state.authorized_at
    assert (await api.post("/api/v1/instances/nos/disable")).status == 200
    await ssm.clock.advance(timedelta(days=31))
    assert inst.state.authorized_at == first  # disabled: the 30-day renewal was not sent
    assert (await api.post("/api/v1/instances/nos/enable")).status == 200
    await ssm.clock.advance(timedelta(seconds=1))
    assert inst.state.authorized_at != first


async def test_no_banner_names_what_it_does_not_show(
    ssm: RunningSSM, make_agent: MakeAgent, netcut: NetCut, aiohttp_client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 16.4: with one instance Authorization Expired and one disabled there is no banner (the
    seed shows it for Evaluation, Out of Compliance and Enforcement only), and 'smart-agent banner'
    does not say every instance is registered and compliant: it names them."""
    running = await make_agent(
        [{"name": "ucce-1"}, {"name": "cvp-1", "product": "CVP", "deployment_type": "CVP"}], port=netcut.port
    )
    api: TestClient[Any, Any] = await aiohttp_client(create_api(running.agent, _noop))
    for name in ("ucce-1", "cvp-1"):
        await running.agent.runner(name).register(await ssm.token())
    b = await (await api.get("/api/v1/banner")).json()
    assert b["level"] is None and b["note"] == banner.ALL_CLEAR
    assert (await api.post("/api/v1/instances/cvp-1/disable")).status == 200
    await netcut.cut()
    await ssm.clock.advance(timedelta(days=91))
    b = await (await api.get("/api/v1/banner")).json()
    assert b["level"] is None
    assert "ucce-1 Authorization Expired" in b["note"] and "cvp-1 Smart Agent disabled" in b["note"]

    class Stub:
        def call(self, method: str, path: str) -> Any:
            return b

    views._banner(Stub(), argparse.Namespace(json=False))  # type: ignore[arg-type]
    out = capsys.readouterr().out
    assert "compliant" not in out and "ucce-1 Authorization Expired" in out
