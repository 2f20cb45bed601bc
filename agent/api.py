"""The agent's local API (loopback HTTP): the "License Management" page as JSON.

GET  /api/v1/status                               every instance's Smart Licensing Status
GET  /api/v1/instances/{name}/status              one instance
POST /api/v1/instances/{name}/register            {"token": "..."}
POST /api/v1/instances/{name}/reregister          {"token": "..."}
POST /api/v1/instances/{name}/renew-authorization
POST /api/v1/instances/{name}/renew-registration
POST /api/v1/instances/{name}/deregister
GET|PUT /api/v1/instances/{name}/license-type     {"license_type": "Flex", "usage_mode": "Production"}
POST /api/v1/instances/{name}/agents              {"count": 1}   (refused in Enforcement)
GET  /api/v1/instances/{name}/consumption         License consumption summary (seed Table 5)
PUT  /api/v1/instances/{name}/usage               {"Premium Agent": 130, ...}
POST /api/v1/instances/{name}/enable | disable | serial
GET  /api/v1/banner                               the aggregate banner and License Compliance report
GET  /api/v1/alerts                               system alerts of every machine
GET|PUT /api/v1/transport                         Transport Settings {"mode", "connection", "url", "proxy_host",
                                                  "proxy_port"}
GET  /api/v1/trust                                the truststore's certificates
POST /api/v1/trust                                {"alias": "...", "data": "<base64 of a PEM or DER file>"}
DELETE /api/v1/trust/{alias}
POST /api/v1/diagnose                             {"url": null | "https://..."}: the diagnosis report
GET  /_lab/health, GET|POST /_lab/clock, GET /_lab/events
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, TypeVar

import msgspec
from aiohttp import web

from agent import labapi
from agent.daemon import Agent, new_serial_number
from agent.diagnose import as_json
from agent.instance import InstanceRunner
from plumbing.body import read_body, require_type
from plumbing.clockroutes import Persist, add_clock_routes
from plumbing.middleware import json_response, request_context
from shared import banner
from shared.clock import utc
from shared.errors import BadRequest
from shared.states import LicenseType, UsageMode
from shared.transportsettings import decode_settings

AGENT = web.AppKey("agent", Agent)


class RegisterBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    token: str


class InstallBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: str


class LicenseTypeBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    license_type: LicenseType
    usage_mode: UsageMode


class AgentsBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    count: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1


class TrustBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    alias: str
    #: The certificate file (PEM or DER), base64.
    data: str


class DiagnoseBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: str | None = None


B = TypeVar("B", RegisterBody, LicenseTypeBody, AgentsBody, TrustBody, DiagnoseBody, InstallBody)

_EXAMPLES: dict[type, str] = {
    InstallBody: '{"code": "<specificPLR>...</specificPLR>"}',
    RegisterBody: '{"token": "..."}',
    LicenseTypeBody: '{"license_type": "Perpetual", "usage_mode": "Production"}',
    AgentsBody: '{"count": 1}',
    TrustBody: '{"alias": "ssm-root-ca", "data": "<base64 of the certificate file>"}',
    DiagnoseBody: '{"url": "https://smartreceiver.cisco.com/licservice/license"}',
}


async def _body(request: web.Request, type_: type[B]) -> B:
    require_type(request, "application/json")
    data = await read_body(request, limit=16384)
    try:
        return msgspec.json.decode(data, type=type_)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadRequest(
            f"invalid request body: {exc}", code="invalid_body", fix=f"send JSON like {_EXAMPLES[type_]}"
        ) from None


async def status_all(request: web.Request) -> web.Response:
    agent = request.app[AGENT]
    return json_response({"instances": [r.status() for r in agent.runners.values()]})


async def status_one(request: web.Request) -> web.Response:
    return json_response(request.app[AGENT].runner(request.match_info["name"]).status())


def _runner(request: web.Request) -> InstanceRunner:
    return request.app[AGENT].runner(request.match_info["name"])


async def register(request: web.Request) -> web.Response:
    body = await _body(request, RegisterBody)
    return json_response(await _runner(request).register(body.token))


async def reregister(request: web.Request) -> web.Response:
    body = await _body(request, RegisterBody)
    return json_response(await _runner(request).register(body.token, force=True))


async def renew_authorization(request: web.Request) -> web.Response:
    return json_response(await _runner(request).renew_authorization())


async def renew_registration(request: web.Request) -> web.Response:
    return json_response(await _runner(request).renew_registration())


async def deregister(request: web.Request) -> web.Response:
    result = await _runner(request).deregister()
    return json_response({"removed_on_ssm": result.removed_on_ssm, "message": result.message, "status": result.status})


async def reservation_request(request: web.Request) -> web.Response:
    return json_response(await _runner(request).reservation_request())


async def reservation_install(request: web.Request) -> web.Response:
    body = await _body(request, InstallBody)
    return json_response(await _runner(request).reservation_install(body.code))


async def reservation_return(request: web.Request) -> web.Response:
    status, code = await _runner(request).reservation_return()
    return json_response({"return_code": code, "status": status})


async def reservation_cancel(request: web.Request) -> web.Response:
    return json_response(await _runner(request).reservation_cancel())


async def get_license_type(request: web.Request) -> web.Response:
    view = _runner(request).status()
    return json_response(
        {
            "license_type": view.configured_license_type,
            "effective_license_type": view.license_type,
            "usage_mode": view.usage_mode,
            "deployment_type": view.deployment_type,
        }
    )


async def put_license_type(request: web.Request) -> web.Response:
    body = await _body(request, LicenseTypeBody)
    return json_response(await _runner(request).set_license_type(body.license_type, body.usage_mode))


async def add_agents(request: web.Request) -> web.Response:
    body = await _body(request, AgentsBody)
    return json_response(await _runner(request).add_agents(body.count))


async def get_consumption(request: web.Request) -> web.Response:
    runner = _runner(request)
    return json_response({"instance": runner.name, "consumption": runner.consumption()})


async def put_usage(request: web.Request) -> web.Response:
    require_type(request, "application/json")
    data = await read_body(request, limit=16384)
    try:
        values = msgspec.json.decode(data, type=dict[str, int])
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadRequest(
            f"invalid request body: {exc}", code="invalid_body", fix='send JSON like {"Premium Agent": 130}'
        ) from None
    runner = _runner(request)
    return json_response({"instance": runner.name, "consumption": await runner.set_usage(values)})


async def enable(request: web.Request) -> web.Response:
    return json_response(await _runner(request).set_enabled(True))


async def disable(request: web.Request) -> web.Response:
    return json_response(await _runner(request).set_enabled(False))


async def serial(request: web.Request) -> web.Response:
    return json_response(await _runner(request).generate_serial(new_serial_number()))


async def get_banner(request: web.Request) -> web.Response:
    agent = request.app[AGENT]
    states = [(r.state, r.usage) for r in agent.runners.values()]
    return json_response(banner.banner(states, agent.clock.now(), agent.policy))


async def get_alerts(request: web.Request) -> web.Response:
    agent = request.app[AGENT]
    out = []
    for r in agent.runners.values():
        out += banner.system_alerts(
            r.name, initialized=r.initialized, enabled=r.state.enabled, serial=r.state.serial_number, since={}
        )
    return json_response({"alerts": out})


def _transport_view(agent: Agent) -> dict[str, object]:
    s = agent.transport.settings
    return {"settings": s, "effective_url": s.effective_url, "proxy_url": s.proxy_url}


async def get_transport(request: web.Request) -> web.Response:
    return json_response(_transport_view(request.app[AGENT]))


async def put_transport(request: web.Request) -> web.Response:
    require_type(request, "application/json")
    settings = decode_settings(await read_body(request, limit=16384))
    agent = request.app[AGENT]
    await agent.set_transport(settings)
    return json_response(_transport_view(agent))


async def get_trust(request: web.Request) -> web.Response:
    agent = request.app[AGENT]
    return json_response(
        {"truststore": str(agent.transport.truststore.path), "entries": [e.view() for e in agent.trust_list()]}
    )


async def post_trust(request: web.Request) -> web.Response:
    body = await _body(request, TrustBody)
    try:
        data = base64.b64decode(body.data, validate=True)
    except binascii.Error:
        raise BadRequest(
            "data is not base64", code="invalid_body", fix=f"send JSON like {_EXAMPLES[TrustBody]}"
        ) from None
    entry = request.app[AGENT].trust_import(body.alias, data)
    return json_response(entry.view(), status=201)


async def delete_trust(request: web.Request) -> web.Response:
    return json_response(request.app[AGENT].trust_remove(request.match_info["alias"]).view())


async def post_diagnose(request: web.Request) -> web.Response:
    body = await _body(request, DiagnoseBody) if request.can_read_body else DiagnoseBody()
    report = await request.app[AGENT].diagnose(body.url)
    return json_response(as_json(report))


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
    app.router.add_post("/api/v1/instances/{name}/reregister", reregister)
    app.router.add_post("/api/v1/instances/{name}/renew-authorization", renew_authorization)
    app.router.add_post("/api/v1/instances/{name}/renew-registration", renew_registration)
    app.router.add_post("/api/v1/instances/{name}/deregister", deregister)
    app.router.add_get("/api/v1/instances/{name}/license-type", get_license_type)
    app.router.add_post("/api/v1/instances/{name}/reservation/request", reservation_request)
    app.router.add_post("/api/v1/instances/{name}/reservation/install", reservation_install)
    app.router.add_post("/api/v1/instances/{name}/reservation/return", reservation_return)
    app.router.add_post("/api/v1/instances/{name}/reservation/cancel", reservation_cancel)
    app.router.add_put("/api/v1/instances/{name}/license-type", put_license_type)
    app.router.add_post("/api/v1/instances/{name}/agents", add_agents)
    app.router.add_get("/api/v1/instances/{name}/consumption", get_consumption)
    app.router.add_put("/api/v1/instances/{name}/usage", put_usage)
    app.router.add_post("/api/v1/instances/{name}/enable", enable)
    app.router.add_post("/api/v1/instances/{name}/disable", disable)
    app.router.add_post("/api/v1/instances/{name}/serial", serial)
    app.router.add_get("/api/v1/banner", get_banner)
    app.router.add_get("/api/v1/alerts", get_alerts)
    app.router.add_get("/api/v1/transport", get_transport)
    app.router.add_put("/api/v1/transport", put_transport)
    app.router.add_get("/api/v1/trust", get_trust)
    app.router.add_post("/api/v1/trust", post_trust)
    app.router.add_delete("/api/v1/trust/{alias}", delete_trust)
    app.router.add_post("/api/v1/diagnose", post_diagnose)
    app.router.add_get("/_lab/health", health)
    app.router.add_get("/_lab/events", events)
    add_clock_routes(app, agent.clock, persist_clock)
    app.router.add_routes(labapi.routes(agent))
    return app
