"""Planes as route tables: every route declared once, with its plane and what it reads.

A plane module lists its routes (``Route``): method, path, handler, plane, and the types of its
body, query and path parameters. ``install`` registers the routes of the planes a process serves;
the path parameters, the body and the query are checked and decoded before the handler is called
(``plumbing.web.body.decode_body``, the one decoder; msgspec's bounds of ``shared.limits``), so a
handler receives typed values and never sees malformed or out-of-range input. What the table says about a
request is found from the matched route (``route_of``), never from its path: which listener
serves it, whether the journal and faults see it, whether it needs a bearer token, and what the
OpenAPI document says of it.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

from plumbing.web.body import FORM, JSON, decode_body
from shared.errors import BadRequest

Handler = Callable[..., Awaitable[web.StreamResponse]]

#: The lab plane's bodies: JSON, also when sent as ``curl -d`` sends it (a form type).
LAB_TYPES = (JSON, FORM)


class Plane(StrEnum):
    #: product instances (and On-Prems) to the SSM: Smart Transport and Smart Call Home
    DEVICE = "device"
    #: people and scripts to the SSM: Cisco's REST API and its OAuth2 token endpoints
    ADMIN = "admin"
    #: emulator-only controls under /_lab (and /metrics)
    LAB = "lab"
    #: the web pages
    WEB = "web"
    #: the Smart Agent's local API (the License Management page as JSON)
    AGENT = "agent"
    #: liveness, answered on every listener
    PROBE = "probe"


@dataclass(frozen=True, slots=True)
class Body:
    """How a route reads its body."""

    type: type
    #: bytes accepted (None: the application's limit)
    limit: int | None = None
    #: accepted media types (None: any, e.g. ``curl -d`` sends a form type to the lab plane)
    types: tuple[str, ...] | None = (JSON,)
    #: an empty body reads as this (``b"{}"`` when every field is optional)
    empty: bytes | None = None
    #: False: accept what lenient clients send ("365" for 365)
    strict: bool = True
    malformed: str = "malformed_json"
    invalid: str = "invalid_body"
    fix: str = "send one JSON object of the documented shape"


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    plane: Plane
    body: Body | None = None
    #: a msgspec Struct of the query parameters (all optional unless the Struct says otherwise)
    query: type | None = None
    #: a msgspec Struct the path parameters must fit (checked; the handler reads ``match_info``)
    params: type | None = None
    #: the admin API: a bearer access token is required
    auth: bool = False
    #: request headers the operation reads (OpenAPI)
    headers: tuple[str, ...] = ()
    summary: str = ""
    #: the success answer's JSON schema, when it is not the plane's usual one (OpenAPI)
    answer: dict[str, Any] | None = field(default=None, hash=False)
    #: the success answer's media type (OpenAPI)
    media: str = "application/json"
    #: a form body the handler reads itself, described for OpenAPI (a token request)
    form: dict[str, Any] | None = field(default=None, hash=False)

    def describe(self) -> str:
        return (self.summary or (self.handler.__doc__ or self.handler.__name__)).strip().splitlines()[0]


#: Every route an application serves, by the aiohttp route it was registered as.
TABLE = web.AppKey("route_table", dict[AbstractRoute, Route])
#: The body limit of the routes that do not say.
MAX_BODY = 1024 * 1024


def route_of(request: web.Request) -> Route | None:
    """The declared route a request matched (None: no route, e.g. an unknown path)."""
    table = request.app.get(TABLE)
    if table is None:
        return None
    return table.get(request.match_info.route)


def _query(request: web.Request, type_: type) -> object:
    try:
        return msgspec.convert(dict(request.query), type_, strict=False)
    except msgspec.ValidationError as exc:
        raise BadRequest(
            f"invalid query parameter: {exc}",
            code="invalid_query",
            fix="see the plane's openapi.json for the parameters",
        ) from None


def _params(request: web.Request, type_: type) -> None:
    try:
        msgspec.convert(dict(request.match_info), type_, strict=False)
    except msgspec.ValidationError as exc:
        raise BadRequest(
            f"invalid path parameter: {exc}",
            code="invalid_path_parameter",
            fix="see the plane's openapi.json for the values each path segment accepts",
        ) from None


def _bind(route: Route, limit: int) -> Handler:
    """The handler aiohttp calls: decode what the route declares, then call the declared handler."""
    body, query, params = route.body, route.query, route.params
    if body is None and query is None and params is None:
        return route.handler

    @functools.wraps(route.handler)
    async def handle(request: web.Request) -> web.StreamResponse:
        if params is not None:
            _params(request, params)
        args: list[object] = []
        if body is not None:
            args.append(
                await decode_body(
                    request,
                    body.type,
                    limit=body.limit or limit,
                    types=body.types,
                    empty=body.empty,
                    strict=body.strict,
                    malformed=body.malformed,
                    invalid=body.invalid,
                    fix=body.fix,
                )
            )
        if query is not None:
            args.append(_query(request, query))
        return await route.handler(request, *args)

    return handle


def install(
    app: web.Application, routes: Iterable[Route], planes: Iterable[Plane] | None = None, *, limit: int = MAX_BODY
) -> list[Route]:
    """Register the routes of ``planes`` (all when None); the routes registered. ``limit`` is the
    body limit of the routes that do not declare one."""
    wanted = set(planes) if planes is not None else set(Plane)
    if TABLE not in app:
        app[TABLE] = {}
    table = app[TABLE]
    served = []
    for route in routes:
        if route.plane not in wanted:
            continue
        registered = app.router.add_route(route.method, route.path, _bind(route, limit))
        table[registered] = route
        served.append(route)
    return served
