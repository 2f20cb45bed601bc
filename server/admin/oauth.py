"""The OAuth2 token endpoints: ``POST /as/token.oauth2`` (cloudsso), ``POST
/oauth2/default/v1/token`` (id.cisco.com) and On-Prem's ``POST /backend/oauth/token``.

The client credentials come as a form body (Cisco's cloud), a JSON body (On-Prem tools), query
parameters (older scripts) or an HTTP Basic header; every refusal is OAuth2's JSON error.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import parse_qsl

from aiohttp import web

from plumbing.web.body import read_body
from plumbing.web.routes import Plane, Route
from server import keys
from shared import oauth, wire
from shared.errors import BadRequest

#: A token request is a few hundred bytes.
MAX_BODY = 16 * 1024


def _basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(header[6:].strip(), validate=True).decode().partition(":")
    except (binascii.Error, ValueError):  # not base64, not ASCII, not UTF-8
        raise oauth.OAuthError(
            "the Basic authorization header is not base64 of client_id:client_secret",
            code="invalid_request",
            fix="send the credentials as form fields instead",
            status=400,
        ) from None
    return user, password


def _fields(raw: bytes, content_type: str) -> dict[str, str]:
    if not raw.strip():
        return {}
    try:
        if content_type == "application/json":
            data = wire.decode(raw, dict[str, str | int | float | bool | None], what="token request")
            return {k: str(v) for k, v in data.items() if isinstance(v, str | int)}
        return dict(parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=True))
    except (UnicodeDecodeError, ValueError, BadRequest) as exc:
        raise oauth.OAuthError(
            f"the token request body cannot be read: {exc}",
            code="invalid_request",
            fix="send application/x-www-form-urlencoded: grant_type=client_credentials&client_id=...&client_secret=...",
            status=400,
        ) from None


async def token(request: web.Request) -> web.Response:
    """An access token for an API client (OAuth2 client credentials)."""
    fields = dict(request.query)
    raw = await read_body(request, limit=MAX_BODY)
    fields.update(_fields(raw, request.content_type))
    creds = oauth.parse_request(fields, _basic(request.headers.get("Authorization")))
    app = request.app
    issued = await app[keys.AUTHORITY].token(app[keys.STORE], creds, app[keys.CLOCK].now())
    return web.json_response(issued.body(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


#: The token request as Cisco's clients send it (it is read by ``token`` itself: form, JSON, query
#: or Basic).
FORM: dict[str, object] = {
    "type": "object",
    "properties": {
        "grant_type": {"type": "string", "enum": ["client_credentials"]},
        "client_id": {"type": "string"},
        "client_secret": {"type": "string"},
    },
    "required": ["grant_type", "client_id", "client_secret"],
}
PATHS = ("/as/token.oauth2", "/oauth2/default/v1/token", "/backend/oauth/token")
ROUTES: list[Route] = [Route("POST", path, token, Plane.ADMIN, form=FORM) for path in PATHS]
