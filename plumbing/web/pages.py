"""Web pages for every process: server-rendered templates, a pinned htmx, one stylesheet, and the
guards every page needs.

- ``setup(app, templates)``: Jinja2 through aiohttp-jinja2, autoescaping on (a virtual account
  called ``<script>`` renders as text), the package's templates first and the shared ones
  (``base.html``, ``macros.html``) after; the filters ``when`` (a domain instant), ``ago``.
- ``STATIC_ROUTES``: ``GET /static/{name}`` for htmx (2.0, 0BSD licence beside it) and
  ``ssmlab.css``, from this package: no CDN, no Node build step.
- ``guard(hosts)``: a middleware for routes of the web plane: the ``Host`` header must name this
  listener (a DNS-rebinding page cannot drive it), and a state-changing request must come from the
  same origin and carry the page's CSRF token (``X-CSRF-Token`` header, sent by htmx, or a
  ``_csrf`` form field). Refusals are small HTML pages with the code and the fix.
- Live pages poll fragment routes (``hx-trigger="every 1s"``) that answer ``204`` while nothing
  changed (``fragment``): htmx swaps nothing on a 204, so a page costs almost nothing when idle.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from markupsafe import escape

from plumbing.web.routes import Plane, Route, route_of

HERE = Path(__file__).parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
#: The per-app CSRF token, written into every page.
CSRF = web.AppKey("csrf_token", str)
_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".txt": "text/plain", ".svg": "image/svg+xml"}
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


def _when(value: datetime | str | None) -> str:
    """An instant as the pages show it (domain time, UTC, to the minute)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            instant = datetime.fromisoformat(value)
        except ValueError:
            return value
    else:
        instant = value
    return instant.strftime("%Y-%m-%d %H:%M UTC")


def setup(app: web.Application, templates: Path, *, globals_: Mapping[str, Any] | None = None) -> None:
    """Templates for ``app``: ``templates`` (the package's own) before the shared ones."""
    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.ChoiceLoader([jinja2.FileSystemLoader(templates), jinja2.FileSystemLoader(TEMPLATES)]),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.globals.update(globals_ or {})
    app[CSRF] = secrets.token_urlsafe(32)
    app.on_response_prepare.append(_headers)


async def _headers(request: web.Request, response: web.StreamResponse) -> None:
    """Pages are never framed nor sniffed; scripts only from this origin."""
    if response.content_type == "text/html":
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
            "script-src 'self'; frame-ancestors 'none'",
        )


def render(template: str, request: web.Request, context: Mapping[str, Any], *, status: int = 200) -> web.Response:
    """A page or a fragment, with the CSRF token and the request in its context."""
    ctx = {"csrf": request.app[CSRF], "request": request, **context}
    return aiohttp_jinja2.render_template(template, request, ctx, status=status)


def fragment(template: str, request: web.Request, context: Mapping[str, Any]) -> web.Response:
    """A live fragment: 204 while its rendering is the one the page already shows (its ETag)."""
    response = render(template, request, context)
    body = response.body if isinstance(response.body, bytes) else b""
    tag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
    if request.headers.get("If-None-Match") == tag or request.headers.get("X-Shown") == tag:
        return web.Response(status=204, headers={"ETag": tag})
    response.headers["ETag"] = tag
    response.headers["Cache-Control"] = "no-cache"
    return response


async def static(request: web.Request) -> web.StreamResponse:
    """htmx and the stylesheet, from this package."""
    name = request.match_info["name"]
    path = STATIC / name
    if "/" in name or name.startswith(".") or path.suffix not in _STATIC_TYPES or not path.is_file():
        raise web.HTTPNotFound()
    return web.FileResponse(path, headers={"Content-Type": _STATIC_TYPES[path.suffix], "Cache-Control": "max-age=300"})


STATIC_ROUTES: list[Route] = [Route("GET", "/static/{name}", static, Plane.WEB)]


def _refused(status: int, code: str, message: str, fix: str) -> web.Response:
    page = (
        "<!doctype html><html lang=en><meta charset=utf-8><title>Refused</title>"
        f"<h1>{status} {code}</h1><p>{escape(message)}</p>"
        f"<p><strong>Fix:</strong> {escape(fix)}</p></html>"
    )
    return web.Response(text=page, status=status, content_type="text/html")


def _host(value: str) -> str:
    """The host part of a Host header or an origin's netloc (IPv6 brackets kept)."""
    if value.startswith("["):
        return value[: value.find("]") + 1].lower()
    return value.rsplit(":", 1)[0].lower() if value.count(":") == 1 else value.lower()


def guard(hosts: Iterable[str]) -> Middleware:
    """Refuse page requests whose Host is not one of ``hosts`` (the listener's names: loopback
    names, the bound address, names the operator gave), and state-changing ones without the same
    origin and the CSRF token."""
    allowed = {h.lower() for h in hosts} | {"localhost", "127.0.0.1", "[::1]"}

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        if route is None or route.plane is not Plane.WEB:
            return await handler(request)
        host = _host(request.headers.get("Host", ""))
        if host not in allowed:
            return _refused(
                421,
                "host_not_served",
                f"this listener does not serve the host name {host or '(none)'!r}",
                "open the page by the address the process printed at start (e.g. https://127.0.0.1:8443/)",
            )
        if request.method not in _SAFE:
            origin = request.headers.get("Origin") or request.headers.get("Referer") or ""
            if origin and _host(urlsplit(origin).netloc) not in allowed:
                return _refused(403, "cross_origin", "the form was sent from another site", "use the page itself")
            token = request.headers.get("X-CSRF-Token", "")
            if not token and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                token = str((await request.post()).get("_csrf", ""))
            if not hmac.compare_digest(token.encode(), request.app[CSRF].encode()):
                return _refused(
                    403, "csrf_token_missing", "the request does not carry this page's form token", "reload the page"
                )
        return await handler(request)

    return middleware
