"""The agent's local API (loopback HTTP): the "License Management" page as JSON.

GET  /api/v1/status                          every instance's Smart Licensing Status
GET  /api/v1/instances/{name}/status         one instance
POST /api/v1/instances/{name}/register       {"token": "..."}
GET  /_lab/health, GET|POST /_lab/clock, GET /_lab/events
"""

from __future__ import annotations

import msgspec
from aiohttp import web

from agent.daemon import Agent
from plumbing.body import read_body, require_type
from plumbing.clockroutes import Persist, add_clock_routes
from plumbing.middleware import json_response, request_context
from shared.clock import utc
from shared.errors import BadRequest

AGENT = web.AppKey("agent", Agent)


class RegisterBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    token: str


def _decode(data: bytes, type_: type[RegisterBody]) -> RegisterBody:
    try:
        return msgspec.json.decode(data, type=type_)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadRequest(
            f"invalid request body: {exc}", code="invalid_body", fix='send JSON like {"token": "..."}'
        ) from None


async def status_all(request: web.Request) -> web.Response:
    agent = request.app[AGENT]
    return json_response({"instances": [r.status() for r in agent.runners.values()]})


async def status_one(request: web.Request) -> web.Response:
    return json_response(request.app[AGENT].runner(request.match_info["name"]).status())


async def register(request: web.Request) -> web.Response:
    require_type(request, "application/json")
    body = _decode(await read_body(request, limit=16384), RegisterBody)
    runner = request.app[AGENT].runner(request.match_info["name"])
    return json_response(await runner.register(body.token))


async def health(request: web.Request) -> web.Response:
    agent = request.app[AGENT]
    return json_response(
        {
            "status": "ok",
            "service": "smart-agent",
            "instances": list(agent.runners),
            "now": agent.clock.now().isoformat(),
        }
    )


async def events(request: web.Request) -> web.Response:
    agent = request.app[AGENT]
    rows = await agent.store.events(limit=200, instance=request.query.get("instance"))
    return json_response(
        [{"at": utc(e.at).isoformat(), "instance": e.instance, "kind": e.kind, "message": e.message} for e in rows]
    )


def create_api(agent: Agent, persist_clock: Persist) -> web.Application:
    app = web.Application(middlewares=[request_context("agent.api")], client_max_size=64 * 1024)
    app[AGENT] = agent
    app.router.add_get("/api/v1/status", status_all)
    app.router.add_get("/api/v1/instances/{name}/status", status_one)
    app.router.add_post("/api/v1/instances/{name}/register", register)
    app.router.add_get("/_lab/health", health)
    app.router.add_get("/_lab/events", events)
    add_clock_routes(app, agent.clock, persist_clock)
    return app
