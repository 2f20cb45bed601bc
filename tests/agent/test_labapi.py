"""The agent's lab plane: info, Prometheus metrics, snapshot/restore and reset."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from agent.api import create_api
from shared.clock import AnyClock
from tests.conftest import MakeAgent, RunningSSM


async def _noop(_c: AnyClock) -> None:
    return None


async def test_metrics_info_snapshot_and_reset(ssm: RunningSSM, make_agent: MakeAgent, aiohttp_client: Any) -> None:
    """Metrics count what was sent; a snapshot taken unregistered, restored after registering,
    brings the unregistered instance back (same serial); reset starts over with a new one."""
    running = await make_agent()
    api: TestClient[Any, Any] = await aiohttp_client(create_api(running.agent, _noop))
    info = await (await api.get("/_lab/info")).json()
    assert info["service"] == "smart-agent" and info["instances"] == ["ucce-1"]
    serial = running.agent.runner(None).state.serial_number
    assert (await api.post("/_lab/snapshot", json={"name": "fresh"})).status == 200

    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    await inst.set_usage({"Premium Agent": 3})
    await ssm.clock.advance(timedelta(minutes=15))
    text = await (await api.get("/metrics")).text()
    assert 'agent_requests{instance="ucce-1",kind="ReportUsage",outcome="ok"} 1.0' in text
    assert 'agent_usage{instance="ucce-1",license="Premium Agent"} 3.0' in text
    assert 'registration="Registered"' in text

    r = await api.post("/_lab/restore", json={"name": "fresh"})
    assert r.status == 200
    again = running.agent.runner(None)
    assert again.state.registration == "Unregistered" and again.state.serial_number == serial
    assert (await api.post("/_lab/restore", json={"name": "../x"})).status == 400
    assert (await api.post("/_lab/restore", json={"name": "missing"})).status == 400

    r = await api.post("/_lab/reset")
    assert r.status == 200
    assert running.agent.runner(None).state.serial_number != serial


async def test_a_snapshot_brings_back_its_clock(ssm: RunningSSM, make_agent: MakeAgent, aiohttp_client: Any) -> None:
    """Loading a snapshot restores the agent's domain time to the instant it was saved at, saved
    as its clock; the instance's timers count from there."""
    from shared.clock import load_state

    running = await make_agent()
    api: TestClient[Any, Any] = await aiohttp_client(create_api(running.agent, _noop))
    saved_at = ssm.clock.now()
    snap = await (await api.post("/_lab/snapshot", json={"name": "start"})).json()
    assert snap["at"] == saved_at.isoformat()
    await ssm.clock.advance(timedelta(days=100))
    assert running.agent.runner(None).status().license_authorization_status == "Evaluation Expired"
    loaded = await (await api.post("/_lab/restore", json={"name": "start"})).json()
    assert loaded["clock"]["now"] == saved_at.isoformat() and ssm.clock.now() == saved_at
    saved = await running.store.setting("clock")
    assert saved is not None and (clock := load_state(saved)) is not None and clock.now() == saved_at
    assert running.agent.runner(None).status().license_authorization_status == "Evaluation Mode"
