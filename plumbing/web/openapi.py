"""The OpenAPI 3.0 document of any plane, built from its route table.

Every route is listed with what its declaration says: path parameters (the route's ``params``
Struct, or an alternative such as ``{version:v1|v2}`` as an enum), the query Struct's fields with
their bounds, the headers it reads, the body Struct (msgspec writes its JSON Schema, bounds and
patterns of ``shared.limits`` included), the answer and its media type, and the refusals. The
document is made from the same declaration that decodes requests, so the two cannot drift; the
test suite fuzzes each document with schemathesis.

A plane chooses its error shape (``Style``): ssmlab's ``{"error", "status", "message", "fix"}``
(lab plane, agent API) or Cisco's envelope (the admin API, ``server.admin.openapi``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

from plumbing.web.routes import TABLE, Plane, Route

_PARAM = re.compile(r"\{(\w+)(?::([^{}]+))?\}")
REF = "#/components/schemas/{name}"

#: ssmlab's error body: every refusal has a code, a message and a fix.
ERROR: dict[str, Any] = {
    "type": "object",
    "properties": {
        "error": {"type": "string", "minLength": 1},
        "status": {"type": "integer"},
        "message": {"type": "string"},
        "fix": {"type": "string", "minLength": 1},
        "detail": {"type": "object"},
    },
    "required": ["error", "status", "message", "fix"],
}
#: The refusals any route may answer (bad input, media type, sizes, the lab guard).
REFUSALS = (400, 401, 403, 404, 405, 409, 413, 414, 415, 431)


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


@dataclass(frozen=True)
class Style:
    """How a plane's document describes its operations."""

    title: str
    description: str
    #: the error body's schema (a component named ``Error``)
    error: dict[str, Any] = field(default_factory=lambda: ERROR)
    #: the schema of a success answer when the route declares none
    answer: dict[str, Any] = field(default_factory=dict)
    #: the statuses of success a route may answer
    success: tuple[int, ...] = (200, 201)
    #: extra responses of every operation (e.g. the admin API's 401 in OAuth2's shape)
    responses: Callable[[Route], dict[str, Any]] = lambda _route: {}
    #: the refusal statuses an operation answers in the plane's error shape
    refusals: Callable[[Route], Iterable[int]] = lambda _route: REFUSALS
    #: components.securitySchemes and the document's default security
    security_schemes: dict[str, Any] = field(default_factory=dict)
    security: list[dict[str, list[str]]] = field(default_factory=list)


def template(path: str) -> str:
    """The OpenAPI path of a route path: ``{version:v1|v2}`` is written ``{version}``."""
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)


def _struct_schema(type_: type) -> tuple[dict[str, Any], dict[str, Any]]:
    """A Struct's JSON schema (its properties inlined) and its definitions."""
    schema = msgspec.json.schema(type_)
    defs = schema.get("$defs", {})
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    return schema, defs


def _inline(prop: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A property's schema with a reference to an enum (or a nullable one) resolved in place."""
    if "$ref" in prop:
        return _inline(defs[prop["$ref"].rsplit("/", 1)[-1]], defs)
    if "anyOf" in prop:
        options = [_inline(p, defs) for p in prop["anyOf"] if p.get("type") != "null"]
        if len(options) == 1:
            return options[0]
    return {k: v for k, v in prop.items() if k not in ("title", "description", "default")}


def _path_params(route: Route) -> list[dict[str, Any]]:
    declared: dict[str, dict[str, Any]] = {}
    if route.params is not None:
        schema, defs = _struct_schema(route.params)
        declared = {name: _inline(p, defs) for name, p in schema.get("properties", {}).items()}
    params = []
    for name, regex in _PARAM.findall(route.path):
        schema = {"type": "string", "minLength": 1, "maxLength": 256, "pattern": r"^[^/?#%]+$"}
        if regex and re.fullmatch(r"[\w|]+", regex):
            schema = {"type": "string", "enum": regex.split("|")}
        params.append({"name": name, "in": "path", "required": True, "schema": declared.get(name, schema)})
    return params


def _query_params(query: type) -> list[dict[str, Any]]:
    schema, defs = _struct_schema(query)
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": _inline(prop, defs)}
        for name, prop in schema.get("properties", {}).items()
    ]


def _operation(route: Route, n: int, style: Style) -> dict[str, Any]:
    params = _path_params(route)
    if route.query is not None:
        params += _query_params(route.query)
    params += [
        {"name": h, "in": "header", "required": True, "schema": {"type": "string", "pattern": "^[0-9]{1,9}$"}}
        for h in route.headers
    ]
    op: dict[str, Any] = {
        "operationId": f"{route.method.lower()}-{route.handler.__name__}-{n}",
        "summary": route.describe(),
        "parameters": params,
    }
    if route.form is not None:
        op["requestBody"] = {"required": True, "content": {"application/x-www-form-urlencoded": {"schema": route.form}}}
    elif route.body is not None:
        ref = {"$ref": REF.format(name=route.body.type.__name__)}
        types = route.body.types or ("application/json",)
        op["requestBody"] = {
            "required": route.body.empty is None,
            "content": {t: {"schema": ref} for t in types if t == "application/json"} or json_content(ref)["content"],
        }
    if route.media == "application/json":
        answer = json_content(route.answer if route.answer is not None else style.answer)
    else:
        answer = {"content": {route.media: {"schema": {"type": "string"}}}}
    op["responses"] = {
        **{str(s): {"description": "done", **answer} for s in style.success},
        **{
            str(c): {
                "description": "refused, with its code and fix",
                **json_content({"$ref": REF.format(name="Error")}),
            }
            for c in style.refusals(route)
        },
        **style.responses(route),
    }
    return op


def document(routes: Iterable[Route], style: Style) -> dict[str, Any]:
    """The OpenAPI document of ``routes``."""
    routes = list(routes)
    paths: dict[str, dict[str, Any]] = {}
    bodies = list({r.body.type for r in routes if r.body is not None and r.form is None})
    _, components = msgspec.json.schema_components(bodies, ref_template=REF)
    for n, route in enumerate(routes):
        op = _operation(route, n, style)
        if not route.auth and style.security:
            op["security"] = []
        paths.setdefault(template(route.path), {})[route.method.lower()] = op
    components["Error"] = style.error
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": style.title, "version": "1.0", "description": style.description},
        "servers": [{"url": "/"}],
        "components": {"schemas": components},
        "paths": paths,
    }
    if style.security_schemes:
        doc["components"]["securitySchemes"] = style.security_schemes
        doc["security"] = style.security
    return doc


def plane_routes(app: web.Application, planes: Iterable[Plane]) -> list[Route]:
    """The routes of ``planes`` an application serves (its documents excepted)."""
    wanted = set(planes)
    return [r for r in app[TABLE].values() if r.plane in wanted and not getattr(r.handler, "openapi_document", False)]


def document_route(path: str, plane: Plane, style: Style, *, documents: Iterable[Plane] | None = None) -> Route:
    """A route serving the document of ``documents`` (default: ``plane``) at ``path``."""
    covered = tuple(documents or (plane,))

    async def serve_document(request: web.Request) -> web.Response:
        """This OpenAPI document."""
        return web.json_response(document(plane_routes(request.app, covered), style))

    serve_document.openapi_document = True  # type: ignore[attr-defined]
    return Route("GET", path, serve_document, plane)


#: The lab plane of either process, at ``GET /_lab/openapi.json``.
LAB_STYLE = Style(
    title="ssmlab lab plane",
    description="Emulator-only controls under /_lab (and /metrics): clock, reset, snapshots, faults, "
    "journal, TLS drills. Loopback only unless the process runs with --lab-exposed (then "
    "'Authorization: Bearer LAB_TOKEN').",
)
