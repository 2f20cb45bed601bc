"""Paths as Cisco's clients send them, and errors as Cisco's API answers them.

Real scripts send ``//services/api/...`` (mcssmapi) and ``/services/api/services/api/...`` (the
Postman collections of Cisco's samples). ``Tolerant`` is a resource the router tries last: when
a path is not matched as sent, it resolves the normalized path instead, so every emulated
operation answers under both spellings without a redirect (some clients refuse redirects).

``api_middleware`` guards the operations whose declared route needs a bearer token, and turns
every refusal of the API into the error schema and status the operation declares
(``server.admin.errors``: Cisco's for the Software APIs, the envelope ``{"status": "ERROR",
"statusMessage": ...}`` for the legacy API), with ssmlab's ``error`` code, ``fix`` and ``message``;
the API always answers JSON, even for a path under its prefixes that names no operation (clients
call ``.json()`` on every answer).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from aiohttp.web_urldispatcher import AbstractResource, ResourceRoute, UrlDispatcher
from yarl import URL

from plumbing.web.routes import route_of
from server import keys
from server.admin import errors
from shared.errors import SmartLicensingError
from shared.oauth import OAuthError

#: Where the admin API lives (legacy Smart Accounts & Licensing, Software APIs, On-Prem backend).
LEGACY = "/services/api/smart-accounts-and-licensing"
SOFTWARE = "/v1/software/apis"
BACKEND = "/backend/api"
API_PREFIXES = (LEGACY + "/", SOFTWARE + "/", BACKEND + "/")

_SLASHES = re.compile(r"/{2,}")
_DOUBLED = "/services/api/services/api/"


def normalize(path: str) -> str:
    """``//`` merged and a doubled ``/services/api`` prefix removed."""
    if "//" not in path and _DOUBLED not in path:
        return path  # nearly every request: no regex on the device plane's path
    p = _SLASHES.sub("/", path)
    while _DOUBLED in p:
        p = p.replace(_DOUBLED, "/services/api/")
    return p


def is_api(path: str) -> bool:
    """A path under the API's prefixes (for the shape of the answer to a path no route declares)."""
    return normalize(path).startswith(API_PREFIXES)


class Tolerant(AbstractResource):
    """Resolve a request whose path is not normalized as if it were."""

    def __init__(self, router: UrlDispatcher) -> None:
        super().__init__(name=None)
        self._router = router

    @property
    def canonical(self) -> str:
        return "/"

    def url_for(self, **kwargs: str) -> URL:
        raise NotImplementedError("the tolerant resource builds no URLs")

    def add_prefix(self, prefix: str) -> None:
        pass

    def get_info(self) -> dict[str, object]:  # type: ignore[override]
        return {"tolerant": True}

    def raw_match(self, path: str) -> bool:
        return False

    async def resolve(self, request: web.Request):  # type: ignore[no-untyped-def]
        path = request.rel_url.path_safe
        fixed = normalize(path)
        if fixed == path or not fixed.startswith(API_PREFIXES):
            return None, set()  # only the admin API's paths are read leniently
        clone = request.clone(rel_url=request.rel_url.with_path(fixed))
        match = await self._router.resolve(clone)
        if match.http_exception is not None:
            allowed: set[str] = getattr(match.http_exception, "allowed_methods", set())
            return None, set(allowed)
        return match, {match.route.method}

    def __len__(self) -> int:
        return 0

    def __iter__(self) -> Iterator[ResourceRoute]:
        return iter(())


def install(app: web.Application) -> None:
    app.router.register_resource(Tolerant(app.router))


def http_error(exc: web.HTTPException) -> SmartLicensingError:
    """An HTTP refusal of aiohttp's as an error with a code and a fix."""
    err = SmartLicensingError(
        exc.reason, code="body_too_large" if exc.status == 413 else "http_error", fix="send a smaller, valid request"
    )
    err.http_status = exc.status
    return err


def api_middleware() -> Middleware:
    """Bearer tokens and Cisco's error envelope on the API prefixes (see the module doc)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        if route is None and not is_api(request.path):
            return await handler(request)
        if route is not None and not route.auth:
            return await handler(request)
        try:
            authority = request.app[keys.AUTHORITY]
            store = request.app[keys.STORE]
            client_id = authority.check(request.headers.get("Authorization"), request.app[keys.CLOCK].now())
            client = await store.read(lambda uow: uow.api_clients.get(client_id))
            if client is None or client.revoked_at is not None:
                raise OAuthError(
                    "the access token's API client was revoked",
                    code="invalid_token",
                    fix="create a new API client ('ssm-server api-client create')",
                )
            request[keys.API_CLIENT] = client_id
            return await handler(request)
        except OAuthError:
            raise
        except SmartLicensingError as err:
            return errors.of(route).answer(err)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            if route is not None:  # refused by aiohttp while reading the request (a body too large)
                return errors.of(route).answer(http_error(exc))
            message = f"no API operation at {request.method} {request.path}" if exc.status in (404, 405) else exc.reason
            body = {
                "status": "ERROR",
                "statusMessage": message,
                "message": message,
                "error": "not_found"
                if exc.status == 404
                else "method_not_allowed"
                if exc.status == 405
                else "http_error",
                "fix": "COVERAGE.md lists every emulated operation; GET /openapi.json describes them",
            }
            return web.json_response(body, status=exc.status)

    return middleware
