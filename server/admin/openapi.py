"""The OpenAPI 3.0 document of the admin API, served at ``GET /openapi.json``.

Built by ``plumbing.web.openapi`` from the admin plane's route table, in the admin API's style:
Cisco's error envelope (``status``, ``statusMessage``) with ssmlab's ``error`` code and ``fix``,
OAuth2 client credentials, and the token endpoints' own shapes.
``tests/server/test_openapi_fuzz.py`` runs schemathesis against it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from plumbing.web import openapi
from plumbing.web.openapi import REF, Style, json_content
from plumbing.web.routes import Plane, Route
from server.admin import errors

_ENVELOPE = {"type": "object", "properties": {"status": {"type": "string"}}, "required": ["status"]}
_ERROR = {
    "type": "object",
    "properties": {
        "status": {"type": ["string"]},
        "statusMessage": {"type": "string"},
        "message": {"type": "string", "minLength": 1},
        "error": {"type": "string", "minLength": 1},
        "fix": {"type": "string", "minLength": 1},
    },
    "required": ["status", "statusMessage", "message", "error", "fix"],
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
#: Answered before the API's middleware, in ssmlab's shape (oversized requests).
_SSMLAB_ERROR = {"description": "refused before routing, with its code and fix", **json_content(openapi.ERROR)}


def _responses(route: Route) -> dict[str, Any]:
    out: dict[str, Any] = {"414": _SSMLAB_ERROR, "431": _SSMLAB_ERROR}
    declared = errors.of(route).statuses
    for status, family in (declared or {}).items():
        described = {"description": f"refused ({family.name}), with its code and fix"}
        out[str(status)] = described | json_content(family.schema)
    if route.form is not None:
        out |= {
            "200": {"description": "an access token", **json_content(_TOKEN)},
            "400": {"description": "malformed request", **json_content(_OAUTH_ERROR)},
            "401": {"description": "unknown client or wrong secret", **json_content(_OAUTH_ERROR)},
        }
    else:
        out["401"] = {"description": "no, expired or foreign access token", **json_content(_OAUTH_ERROR)}
    return out


def _refusals(route: Route) -> tuple[int, ...]:
    """The legacy API's refusals; an operation of Cisco's document lists its own (``_responses``)."""
    return openapi.REFUSALS if errors.of(route).statuses is None else ()


STYLE = Style(
    title="ssmlab admin API",
    description="The emulated part of Cisco's Smart Accounts & Licensing API (legacy and Software APIs 1.0.2) "
    "and the OAuth2 token endpoints. COVERAGE.md lists the fields.",
    error=_ERROR,
    answer=_ENVELOPE,
    success=(200,),
    responses=_responses,
    refusals=_refusals,
    security_schemes={
        "oauth2": {
            "type": "oauth2",
            "flows": {"clientCredentials": {"tokenUrl": "/oauth2/default/v1/token", "scopes": {}}},
        }
    },
    security=[{"oauth2": []}],
)


def document(routes: list[Route]) -> dict[str, Any]:
    """The admin API's document of ``routes``."""
    return openapi.document(routes, STYLE)


def admin_document(app: web.Application) -> dict[str, Any]:
    """The OpenAPI document of the admin API ``app`` serves."""
    return document(openapi.plane_routes(app, [Plane.ADMIN]))


ROUTES: list[Route] = [openapi.document_route("/openapi.json", Plane.ADMIN, STYLE)]

__all__ = ["REF", "ROUTES", "STYLE", "admin_document", "document"]
