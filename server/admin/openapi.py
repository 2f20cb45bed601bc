"""The OpenAPI 3.0 document of the emulated admin API, served at ``GET /openapi.json``.

It is built from the router itself (every admin route is listed, none is forgotten) and from the
request body types (msgspec writes their JSON Schema), so it cannot drift from what is served.
Answers are described as what every operation promises: a JSON object with a ``status`` on
success, Cisco's error envelope on refusal. ``tests/server/test_openapi_fuzz.py`` runs
schemathesis against it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec
from aiohttp import web

from server.admin import common, legacy, oauth, swapi
from server.admin.routing import API_PREFIXES, OPEN_PATHS

#: The request body type of each operation that takes one.
BODIES: dict[Callable[..., Any], type] = {
    legacy.licenses: common.ListBody,
    legacy.devices: common.ListBody,
    legacy.tokens_create: common.TokenBody,
    legacy.licenses_transfer: common.TransferBody,
    legacy.reserve: common.ReserveBody,
    legacy.update: common.UpdateBody,
    legacy.confirm: common.ConfirmBody,
    legacy.remove_devices: common.RemoveBody,
    swapi.virtual_account_create: swapi.VaBody,
    swapi.device_usage: common.ListBody,
    swapi.device_transfer: common.DeviceTransferBody,
    swapi.device_remove_v1: common.DeviceRemoveV1,
    swapi.token_create: common.TokenBody,
    swapi.token_revoke: common.RevokeBody,
    swapi.get_summary: swapi.SummaryBody,
    swapi.get_alerts: swapi.AlertBody,
}
#: Query parameters of the operations that read some (all optional unless marked).
QUERIES: dict[Callable[..., Any], list[tuple[str, str, bool]]] = {
    legacy.accounts_search_v1: [
        ("domain", "string", False),
        ("name", "string", False),
        ("limit", "integer", False),
        ("offset", "integer", False),
    ],
    swapi.device_search: [("instanceName", "string", False), ("limit", "integer", False), ("offset", "integer", False)],
    swapi.virtual_account_default: [("smartAccountDomain", "string", False)],
}
#: Operations that name their virtual account in the query (v2 "accounts/{domain}/..." paths).
VA_QUERY = "virtualAccountName"
HEADERS: dict[Callable[..., Any], list[str]] = {
    swapi.get_summary: ["X-CSW-SMART-ACCOUNT-ID", "X-CSW-VIRTUAL-ACCOUNT-ID"],
}

#: Answers that are not Cisco's status envelope.
OK_SCHEMAS: dict[Callable[..., Any], dict[str, Any]] = {
    swapi.virtual_account_default: {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "accountId": {"type": "integer"},
            "accountName": {"type": "string"},
            "accountDomain": {"type": "string"},
            "default": {"type": "boolean"},
        },
        "required": ["id", "name", "accountId", "accountDomain", "default"],
    },
}

_PARAM = re.compile(r"\{(\w+)\}")

_ENVELOPE = {
    "type": "object",
    "properties": {"status": {"type": "string"}},
    "required": ["status"],
}
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


def document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI document of every admin API route of ``app``."""
    paths: dict[str, dict[str, Any]] = {}
    bodies = list({t for t in BODIES.values()})
    _, components = msgspec.json.schema_components(bodies, ref_template="#/components/schemas/{name}")
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        template = info.get("formatter") or info.get("path")
        if not isinstance(template, str) or route.method == "HEAD":
            continue
        if not (template.startswith(API_PREFIXES) or template in OPEN_PATHS):
            continue
        handler = route.handler
        params: list[dict[str, Any]] = []
        regex = info.get("pattern")
        for name in _PARAM.findall(template):
            schema: dict[str, Any] = {"type": "string", "minLength": 1, "pattern": r"^[^/?#%]+$"}
            choice = re.search(rf"\(\?P<{name}>([\w|]+)\)", regex.pattern) if regex is not None else None
            if choice:
                schema = {"type": "string", "enum": choice.group(1).split("|")}
            params.append({"name": name, "in": "path", "required": True, "schema": schema})
        if re.search(r"/licensing/v[23]/accounts/\{domain\}/", template):
            params.append({"name": VA_QUERY, "in": "query", "required": True, "schema": {"type": "string"}})
        for name, kind, required in QUERIES.get(handler, []):
            params.append({"name": name, "in": "query", "required": required, "schema": {"type": kind}})
        for name in HEADERS.get(handler, []):
            params.append(
                {
                    "name": name,
                    "in": "header",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[0-9]{1,9}$"},
                }
            )
        op: dict[str, Any] = {
            "operationId": f"{route.method.lower()}-{handler.__name__}-{len(paths)}",
            "summary": (handler.__doc__ or handler.__name__).strip().splitlines()[0],
            "parameters": params,
        }
        if handler is oauth.token:
            op["security"] = []
            op["requestBody"] = {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "grant_type": {"type": "string", "enum": ["client_credentials"]},
                                "client_id": {"type": "string"},
                                "client_secret": {"type": "string"},
                            },
                            "required": ["grant_type", "client_id", "client_secret"],
                        }
                    }
                },
            }
            op["responses"] = {
                "200": {"description": "an access token", **_json(_TOKEN)},
                "400": {"description": "malformed request", **_json(_OAUTH_ERROR)},
                "401": {"description": "unknown client or wrong secret", **_json(_OAUTH_ERROR)},
                "413": {"description": "body too large", **_json({"type": "object"})},
            }
        else:
            body = BODIES.get(handler)
            if body is not None:
                op["requestBody"] = {"required": False, **_json({"$ref": f"#/components/schemas/{body.__name__}"})}
            op["responses"] = {
                "200": {"description": "done (a batch reports each item)", **_json(OK_SCHEMAS.get(handler, _ENVELOPE))},
                "401": {"description": "no, expired or foreign access token", **_json(_OAUTH_ERROR)},
                **_errors(400, 403, 404, 405, 409, 413, 415),
            }
        paths.setdefault(template, {})[route.method.lower()] = op
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


async def serve_document(request: web.Request) -> web.Response:
    return web.json_response(document(request.app))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/openapi.json", serve_document)
