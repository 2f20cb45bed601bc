"""``ssmlab timeline``: the SSM's and the agent's events in one list, by domain time and, within one
instant, in the order they happened (issue 16, item 17: they were ordered by the side's name, so an
instance named before "ssm" showed its reading of a reply before the SSM had sent it)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from agent.api import create_api
from lab import view
from lab.processes import Lab
from plumbing.web import serve
from shared.clock import AnyClock
from tests.conftest import MakeAgent, RunningSSM

AT = "2027-01-04T08:00:00+00:00"


def test_events_of_one_instant_keep_the_order_they_were_recorded_in() -> None:
    """Stamps decide within an instant, whichever side; domain time decides across instants."""
    ssm = [
        {"at": AT, "kind": "instance_registered", "message": "registered a-1", "recorded_ns": 20},
        {"at": "2027-01-04T08:15:00+00:00", "kind": "usage_reported", "message": "report", "recorded_ns": 5},
    ]
    agent = [
        {"at": AT, "instance": "a-1", "kind": "usage_set", "message": "usage", "recorded_ns": 10},
        {"at": AT, "instance": "a-1", "kind": "registered", "message": "registered", "recorded_ns": 30},
        {"at": AT, "instance": "z-9", "kind": "first_start", "message": "first start", "recorded_ns": 1},
    ]
    merged = view.merge(ssm, agent)
    assert [(e["side"], e["kind"]) for e in merged] == [
        ("z-9", "first_start"),
        ("a-1", "usage_set"),
        ("ssm", "instance_registered"),
        ("a-1", "registered"),
        ("ssm", "usage_reported"),
    ]
    assert [e["kind"] for e in view.merge(ssm, agent, limit=2)] == ["registered", "usage_reported"]


async def test_a_registration_reads_cause_before_effect(
    tmp_path: Path, pki_dir: Path, ssm: RunningSSM, make_agent: MakeAgent
) -> None:
    """On a virtual clock every event of a registration has one instant: the SSM registering the
    instance comes before the agent recording that it is registered, though 'a-1' sorts before
    'ssm'."""
    running = await make_agent([{"name": "a-1"}])

    async def keep(_clock: AnyClock) -> None:
        return None

    api, port = await serve.start(create_api(running.agent, keep), "127.0.0.1", 0)
    try:
        await running.agent.runner("a-1").register(await ssm.token())
        lab = Lab(tmp_path / "lab", pki_dir, ssm_port=ssm.port, agent_port=port)
        merged = await asyncio.to_thread(view.timeline, lab)
    finally:
        await api.cleanup()
    order = [(e["side"], e["kind"]) for e in merged if e["at"] == merged[-1]["at"]]
    assert order.index(("ssm", "instance_registered")) < order.index(("a-1", "registered"))
