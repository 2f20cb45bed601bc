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
                                                  "proxy_port", "revocation"}
GET  /api/v1/trust                                the truststore's certificates
POST /api/v1/trust                                {"alias": "...", "data": "<base64 of a PEM or DER file>"}
DELETE /api/v1/trust/{alias}
POST /api/v1/diagnose                             {"url": null | "https://..."}: the diagnosis report
GET  /_lab/health, GET|POST /_lab/clock, GET /_lab/events
GET  /                                            the Smart License Management page (agent/web)
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

import msgspec
from aiohttp import web

from agent import labapi
from agent import web as agent_web
from agent.daemon import Agent, new_serial_number
from agent.diagnose import as_json
from agent.instance import InstanceRunner
from agent.keys import AGENT
from plumbing.web import openapi, pages
from plumbing.web.clock import Persist, clock_routes
from plumbing.web.guard import LabAccess, lab_guard
from plumbing.web.middleware import json_response, request_context
from plumbing.web.routes import Body, Plane, Route, install
from shared.clock import utc
from shared.errors import BadRequest
from shared.limits import Int64
from shared.states import LicenseType, UsageMode
from shared.transportsettings import TransportSettings


class RegisterBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    token: Annotated[str, msgspec.Meta(max_length=4096)]


class InstallBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(max_length=16384)]


class LicenseTypeBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    license_type: LicenseType
    usage_mode: UsageMode


class AgentsBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    count: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1


class TrustBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    alias: Annotated[str, msgspec.Meta(max_length=128)]
    #: The certificate file (PEM or DER), base64.
    data: Annotated[str, msgspec.Meta(max_length=16384)]


class DiagnoseBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(max_length=2048)] | None = None


#: In-use counts by license name (names and counts are checked by shared.usage.check_usage).
UsageBody = dict[Annotated[str, msgspec.Meta(max_length=128)], Int64]


def _json(type_: type, example: str, *, empty: bytes | None = None) -> Body:
    """A JSON body of the local API (``invalid_body`` for anything that does not decode)."""
    return Body(type_, limit=16384, empty=empty, malformed="invalid_body", fix=f"send JSON like {example}")


async def status_all(request: web.Request) -> web.Response:
    agent = request.app[AGENT]
    return json_response({"instances": [r.status() for r in agent.runners.values()]})


async def status_one(request: web.Request) -> web.Response:
    return json_response(request.app[AGENT].runner(request.match_info["name"]).status())


def _runner(request: web.Request) -> InstanceRunner:
    return request.app[AGENT].runner(request.match_info["name"])


async def register(request: web.Request, body: RegisterBody) -> web.Response:
    return json_response(await _runner(request).register(body.token))


async def reregister(request: web.Request, body: RegisterBody) -> web.Response:
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


async def reservation_install(request: web.Request, body: InstallBody) -> web.Response:
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


async def put_license_type(request: web.Request, body: LicenseTypeBody) -> web.Response:
    return json_response(await _runner(request).set_license_type(body.license_type, body.usage_mode))


async def add_agents(request: web.Request, body: AgentsBody) -> web.Response:
    return json_response(await _runner(request).add_agents(body.count))


async def get_consumption(request: web.Request) -> web.Response:
    runner = _runner(request)
    return json_response({"instance": runner.name, "consumption": runner.consumption()})


async def put_usage(request: web.Request, values: dict[str, int]) -> web.Response:
    runner = _runner(request)
    return json_response({"instance": runner.name, "consumption": await runner.set_usage(values)})


async def enable(request: web.Request) -> web.Response:
    return json_response(await _runner(request).set_enabled(True))


async def disable(request: web.Request) -> web.Response:
    return json_response(await _runner(request).set_enabled(False))


async def serial(request: web.Request) -> web.Response:
    return json_response(await _runner(request).generate_serial(new_serial_number()))


async def get_banner(request: web.Request) -> web.Response:
    return json_response(request.app[AGENT].banner())


async def get_alerts(request: web.Request) -> web.Response:
    return json_response({"alerts": request.app[AGENT].alerts()})


def _transport_view(agent: Agent) -> dict[str, object]:
    s = agent.transport.settings
    return {"settings": s, "effective_url": s.effective_url, "proxy_url": s.proxy_url}


async def get_transport(request: web.Request) -> web.Response:
    return json_response(_transport_view(request.app[AGENT]))


async def put_transport(request: web.Request, settings: TransportSettings) -> web.Response:
    agent = request.app[AGENT]
    await agent.set_transport(settings)
    return json_response(_transport_view(agent))


async def get_trust(request: web.Request) -> web.Response:
    agent = request.app[AGENT]
    return json_response(
        {"truststore": str(agent.transport.truststore.path), "entries": [e.view() for e in agent.trust_list()]}
    )


async def post_trust(request: web.Request, body: TrustBody) -> web.Response:
    try:
        data = base64.b64decode(body.data, validate=True)
    except binascii.Error:
        raise BadRequest("data is not base64", code="invalid_body", fix=f"send JSON like {TRUST_EXAMPLE}") from None
    entry = request.app[AGENT].trust_import(body.alias, data)
    return json_response(entry.view(), status=201)


async def delete_trust(request: web.Request) -> web.Response:
    return json_response(request.app[AGENT].trust_remove(request.match_info["alias"]).view())


async def post_diagnose(request: web.Request, body: DiagnoseBody) -> web.Response:
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
        [
            {
                "at": utc(e.at).isoformat(),
                "instance": e.instance,
                "kind": e.kind,
                "message": e.message,
                "recorded_ns": e.recorded_ns,
            }
            for e in rows
        ]
    )


ONE = "/api/v1/instances/{name}"
A = Plane.AGENT
TRUST_EXAMPLE = '{"alias": "ssm-root-ca", "data": "<base64 of the certificate file>"}'

#: The local API's route table (the License Management page as JSON).
ROUTES: list[Route] = [
    Route("GET", "/api/v1/status", status_all, A),
    Route("GET", ONE + "/status", status_one, A),
    Route("POST", ONE + "/register", register, A, body=_json(RegisterBody, '{"token": "..."}')),
    Route("POST", ONE + "/reregister", reregister, A, body=_json(RegisterBody, '{"token": "..."}')),
    Route("POST", ONE + "/renew-authorization", renew_authorization, A),
    Route("POST", ONE + "/renew-registration", renew_registration, A),
    Route("POST", ONE + "/deregister", deregister, A),
    Route("GET", ONE + "/license-type", get_license_type, A),
    Route(
        "PUT",
        ONE + "/license-type",
        put_license_type,
        A,
        body=_json(LicenseTypeBody, '{"license_type": "Perpetual", "usage_mode": "Production"}'),
    ),
    Route("POST", ONE + "/reservation/request", reservation_request, A),
    Route(
        "POST",
        ONE + "/reservation/install",
        reservation_install,
        A,
        body=_json(InstallBody, '{"code": "<specificPLR>...</specificPLR>"}'),
    ),
    Route("POST", ONE + "/reservation/return", reservation_return, A),
    Route("POST", ONE + "/reservation/cancel", reservation_cancel, A),
    Route("POST", ONE + "/agents", add_agents, A, body=_json(AgentsBody, '{"count": 1}')),
    Route("GET", ONE + "/consumption", get_consumption, A),
    Route("PUT", ONE + "/usage", put_usage, A, body=_json(UsageBody, '{"Premium Agent": 130}')),
    Route("POST", ONE + "/enable", enable, A),
    Route("POST", ONE + "/disable", disable, A),
    Route("POST", ONE + "/serial", serial, A),
    Route("GET", "/api/v1/banner", get_banner, A),
    Route("GET", "/api/v1/alerts", get_alerts, A),
    Route("GET", "/api/v1/transport", get_transport, A),
    Route(
        "PUT",
        "/api/v1/transport",
        put_transport,
        A,
        body=_json(
            TransportSettings,
            '{"mode": "Smart Transport", "connection": "Transport Gateway", '
            '"url": "https://ssm.example.com/SmartTransport"}',
        ),
    ),
    Route("GET", "/api/v1/trust", get_trust, A),
    Route("POST", "/api/v1/trust", post_trust, A, body=_json(TrustBody, TRUST_EXAMPLE)),
    Route("DELETE", "/api/v1/trust/{alias}", delete_trust, A),
    Route(
        "POST",
        "/api/v1/diagnose",
        post_diagnose,
        A,
        body=_json(DiagnoseBody, '{"url": "https://smartreceiver.cisco.com/licservice/license"}', empty=b"{}"),
    ),
    openapi.document_route(
        "/api/v1/openapi.json",
        A,
        openapi.Style(
            title="Smart Agent local API",
            description="The License Management page as JSON (loopback only): status, consumption, banner, "
            "alerts, and the actions on each product instance.",
        ),
    ),
    Route("GET", "/_lab/health", health, Plane.PROBE),
    Route("GET", "/_lab/events", events, Plane.LAB),
]


def create_api(agent: Agent, persist_clock: Persist) -> web.Application:
    """The local API, its lab plane, and the Smart License Management page at ``/``."""
    host, _port = agent.config.api_address
    # The local API listens on loopback only (agent.toml's api); its lab plane is guarded all the same.
    access = LabAccess(flag="a loopback 'api' address in agent.toml (the agent's lab plane is never exposed)")
    app = web.Application(
        middlewares=[request_context("agent.api"), lab_guard(access), *agent_web.middlewares(host)],
        client_max_size=64 * 1024,
    )
    app[AGENT] = agent
    agent_web.setup(app)
    routes = [*ROUTES, *clock_routes(agent.clock, persist_clock), *labapi.routes(agent)]
    install(app, [*routes, *agent_web.ROUTES, *pages.STATIC_ROUTES], limit=16384)
    return app
