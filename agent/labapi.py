"""The agent's lab plane beyond health, clock and events: ``/_lab/info``, Prometheus ``/metrics``,
``POST /_lab/reset``, ``POST /_lab/snapshot`` / ``/_lab/restore`` ``{"name": ...}``, and
``POST /_lab/instances/{name}/id-cert`` ``{"pem": ...}`` (the ID-certificate drills: the instance
presents that certificate from now on)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import msgspec
from aiohttp import web
from prometheus_client import CollectorRegistry, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from agent.daemon import Agent
from plumbing.web import openapi
from plumbing.web.middleware import json_response
from plumbing.web.routes import LAB_TYPES, Body, Plane, Route
from shared import clockctl
from shared.clockstate import dump_state
from shared.errors import BadRequest
from shared.limits import SNAPSHOT_FIX, SnapshotName

VERSION = "0.1.0"


class NameBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: SnapshotName


class PemBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pem: Annotated[str, msgspec.Meta(max_length=8192)]


def _folder(agent: Agent, name: str) -> Path:
    return agent.config.data_path / "snapshots" / name


NAME = Body(
    NameBody,
    limit=1024,
    types=LAB_TYPES,
    malformed="invalid_body",
    invalid="invalid_snapshot_name",
    fix='send {"name": "before-demo"}; ' + SNAPSHOT_FIX,
)


def routes(agent: Agent) -> list[Route]:
    """The agent's lab-plane routes beyond health, clock and events."""

    async def info(_request: web.Request) -> web.Response:
        return json_response(
            {
                "service": "smart-agent",
                "version": VERSION,
                "instances": list(agent.runners),
                "clock": clockctl.view(agent.clock),
                "transport": agent.transport.url,
                "data_dir": str(agent.config.data_path),
                "policy": agent.policy.describe(),
            }
        )

    async def metrics(_request: web.Request) -> web.Response:
        registry = CollectorRegistry()
        requests = Gauge(
            "agent_requests", "Requests sent by kind and outcome", ["instance", "kind", "outcome"], registry=registry
        )
        queue = Gauge("agent_report_queue", "Usage reports waiting to be sent", ["instance"], registry=registry)
        state = Gauge(
            "agent_instance_state",
            "1 for each instance's current statuses",
            ["instance", "registration", "authorization", "enforcement"],
            registry=registry,
        )
        in_use = Gauge("agent_usage", "Current in-use count per license", ["instance", "license"], registry=registry)
        for r in agent.runners.values():
            for (kind, outcome), n in r.counters.items():
                requests.labels(r.name, kind, outcome).set(n)
            queue.labels(r.name).set(len(r.usage.queue))
            s = r.state
            state.labels(r.name, str(s.registration), str(s.authorization), str(s.enforcement or "")).set(1)
            for name, count in r.usage.current.items():
                in_use.labels(r.name, name).set(count)
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def save_clock() -> None:
        await agent.store.set_setting("clock", dump_state(agent.clock))

    async def snapshot(_request: web.Request, body: NameBody) -> web.Response:
        """Save the database, and the instant the clock has reached in it, under a name."""
        name = body.name
        folder = _folder(agent, name)
        folder.mkdir(parents=True, exist_ok=True)
        clockctl.prepare_snapshot(agent.clock)
        await save_clock()
        await agent.store.backup_to(folder / "agent.db")
        return json_response({"saved": name, "path": str(folder / "agent.db"), "at": agent.clock.now().isoformat()})

    async def restore(_request: web.Request, body: NameBody) -> web.Response:
        """Load a saved database; the clock goes back (or on) to the instant saved with it."""
        name = body.name
        source = _folder(agent, name) / "agent.db"
        if not source.exists():
            raise BadRequest(f"no snapshot {name!r}", code="snapshot_not_found", fix="list them: ssmlab snapshot list")
        await agent.stop()
        await agent.store.restore_from(source)
        restored = await clockctl.restore_snapshot(agent.clock, await agent.store.setting("clock"))
        await save_clock()
        await agent.reload()
        return json_response({"restored": name, "clock": restored})

    async def reset(_request: web.Request) -> web.Response:
        await agent.stop()
        removed = await agent.store.reset()
        await agent.reload()
        return json_response(
            {
                "reset": "everything",
                "rows_removed": removed,
                "alerts": [a.alert for a in agent.alerts() if a.state == "red"],
            }
        )

    async def id_cert(request: web.Request, body: PemBody) -> web.Response:
        """Present another ID certificate for the instance's key (the lab's ID-certificate drills)."""
        runner = agent.runner(request.match_info["name"])
        return json_response({"instance": runner.name, "event": await runner.install_id_cert(body.pem)})

    return [
        Route(
            "POST",
            "/_lab/instances/{name}/id-cert",
            id_cert,
            Plane.LAB,
            body=Body(PemBody, limit=16384, types=LAB_TYPES, fix='send {"pem": "-----BEGIN CERTIFICATE-----..."}'),
        ),
        Route("GET", "/_lab/info", info, Plane.LAB),
        Route("GET", "/metrics", metrics, Plane.LAB, media="text/plain"),
        Route("POST", "/_lab/snapshot", snapshot, Plane.LAB, body=NAME),
        Route("POST", "/_lab/restore", restore, Plane.LAB, body=NAME),
        Route("POST", "/_lab/reset", reset, Plane.LAB),
        openapi.document_route("/_lab/openapi.json", Plane.LAB, openapi.LAB_STYLE, documents=(Plane.LAB, Plane.PROBE)),
    ]
