"""The OpenAPI 3.0 document of a plane, built from its route table, served at ``GET /openapi.json``.

Every route of the plane is listed with what its declaration says: path parameters (an
alternative such as ``{version:v1|v2}`` becomes an enum), the query Struct's fields, the headers
it reads, the body Struct (msgspec writes its JSON Schema), the answer. The document is made from
the same declaration that decodes requests, so the two cannot drift.
``tests/server/test_openapi_fuzz.py`` runs schemathesis against it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import msgspec
from aiohttp import web

from plumbing.web.routes import TABLE, Plane, Route

_PARAM = re.compile(r"\{(\w+)(?::([^{}]+))?\}")

_ENVELOPE = {"type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"]}
_ERROR = {
    "type": "object",
    "properties": {
        "status": {"type": ["string"]},
        "statusMessage": {"type": "string"},
        "error": {"type": "string"},
        "fix": {"type": "string"},
    },
    "required": ["status", "statusMessage", "error"],
}
_OAUTH_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    "required": ["error", "error_description"],
}
_TOKEN = {
    "type": "object",
    "properties": {
        "access_token": {"type": "string"},
        "token_type": {"type": "string", "enum": ["Bearer"]},
        "expires_in": {"type": "integer"},
    },
    "required": ["access_token", "token_type", "expires_in"],
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    return {
        str(c): {
            "description": "refused: Cisco's error envelope with ssmlab's code and fix",
            **_json({"$ref": "#/components/schemas/Error"}),
        }
        for c in codes
    }


def template(path: str) -> str:
    """The OpenAPI path of a route path: ``{version:v1|v2}`` is written ``{version}``."""
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)


def _path_params(path: str) -> list[dict[str, Any]]:
    params = []
    for name, regex in _PARAM.findall(path):
        schema: dict[str, Any] = {"type": "string", "minLength": 1, "pattern": r"^[^/?#%]+$"}
        if regex and re.fullmatch(r"[\w|]+", regex):
            schema = {"type": "string", "enum": regex.split("|")}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return params


def _query_params(query: type) -> list[dict[str, Any]]:
    schema = msgspec.json.schema(query)
    if "$ref" in schema:
        schema = schema["$defs"][schema["$ref"].rsplit("/", 1)[-1]]
    required = set(schema.get("required", ()))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": {"type": prop.get("type", "string")}}
        for name, prop in schema.get("properties", {}).items()
    ]


def _operation(route: Route, n: int) -> dict[str, Any]:
    params = _path_params(route.path)
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
        ref = {"$ref": f"#/components/schemas/{route.body.type.__name__}"}
        op["requestBody"] = {"required": route.body.empty is None, **_json(ref)}
    if not route.auth:
        op["security"] = []
    if route.form is not None:
        op["responses"] = {
            "200": {"description": "an access token", **_json(_TOKEN)},
            "400": {"description": "malformed request", **_json(_OAUTH_ERROR)},
            "401": {"description": "unknown client or wrong secret", **_json(_OAUTH_ERROR)},
            "413": {"description": "body too large", **_json({"type": "object"})},
        }
    else:
        op["responses"] = {
            "200": {"description": "done (a batch reports each item)", **_json(route.answer or _ENVELOPE)},
            "401": {"description": "no, expired or foreign access token", **_json(_OAUTH_ERROR)},
            **_errors(400, 403, 404, 405, 409, 413, 415),
        }
    return op


def document(routes: Iterable[Route]) -> dict[str, Any]:
    """The OpenAPI document of ``routes``."""
    routes = list(routes)
    paths: dict[str, dict[str, Any]] = {}
    bodies = list({r.body.type for r in routes if r.body is not None})
    _, components = msgspec.json.schema_components(bodies, ref_template="#/components/schemas/{name}")
    for n, route in enumerate(routes):
        paths.setdefault(template(route.path), {})[route.method.lower()] = _operation(route, n)
    components["Error"] = _ERROR
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "ssmlab admin API",
            "version": "1.0",
            "description": "The emulated part of Cisco's Smart Accounts & Licensing API (legacy and "
            "Software APIs 1.0.2) and the OAuth2 token endpoints. COVERAGE.md lists the fields.",
        },
        "servers": [{"url": "/"}],
        "components": {
            "schemas": components,
            "securitySchemes": {
                "oauth2": {
                    "type": "oauth2",
                    "flows": {"clientCredentials": {"tokenUrl": "/oauth2/default/v1/token", "scopes": {}}},
                }
            },
        },
        "security": [{"oauth2": []}],
        "paths": paths,
    }


def admin_document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI document of the admin API ``app`` serves."""
    return document(r for r in app[TABLE].values() if r.plane is Plane.ADMIN and r.handler is not serve_document)


async def serve_document(request: web.Request) -> web.Response:
    """This OpenAPI document."""
    return web.json_response(admin_document(request.app))


ROUTES: list[Route] = [Route("GET", "/openapi.json", serve_document, Plane.ADMIN)]
