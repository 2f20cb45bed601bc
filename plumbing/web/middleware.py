"""One canonical log line per request, and every error answered as JSON.

The error body is ``{"error": code, "status": ..., "message": ..., "fix": ...}``:
``SmartLicensingError`` keeps its code and status; aiohttp's own HTTP errors (unknown path,
wrong method, body too large) get a code and a fix; anything else is a bug, logged with its
traceback and answered 500 ``internal_error`` without details.

Oversized requests: a request target longer than ``MAX_TARGET`` is refused 414 ``uri_too_long``,
a header longer than ``MAX_HEADER`` or more than ``MAX_HEADERS`` headers 431
``headers_too_large``, as JSON. aiohttp 3.14 answers a request its parser refuses itself, as
text, before any middleware runs (aio-libs/aiohttp#3287, changed on its master branch); so the
servers run aiohttp's parser with limits above these (``PARSER_LIMITS``, the runner's documented
handler arguments), and every request up to them reaches this middleware.
"""

from __future__ import annotations

import itertools
import secrets
import time

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from shared.errors import SmartLicensingError
from shared.logging import get_logger

#: The longest request target (path and query), the longest header, the most headers accepted.
MAX_TARGET = 8190
MAX_HEADER = 8190
MAX_HEADERS = 100
#: aiohttp's own parser limits (``web.AppRunner`` handler arguments), above the ones above.
PARSER_LIMITS: dict[str, int] = {"max_line_size": 65536, "max_field_size": 65536, "max_headers": 256}


class RequestTooLarge(SmartLicensingError):
    """A request line or header past the limits (414 or 431)."""

    def __init__(self, status: int, message: str, *, code: str, fix: str) -> None:
        super().__init__(message, code=code, fix=fix)
        self.http_status = status


def check_size(request: web.Request) -> None:
    """Refuse a request whose target or headers exceed the limits.

    Raises:
        RequestTooLarge: 414 ``uri_too_long``, 431 ``headers_too_large``.
    """
    target = len(request.raw_path)
    if target > MAX_TARGET:
        raise RequestTooLarge(
            414,
            f"the request target has {target} characters; at most {MAX_TARGET} are accepted",
            code="uri_too_long",
            fix="send a shorter path and query (the endpoints need a few hundred characters at most)",
        )
    if len(request.raw_headers) > MAX_HEADERS:
        raise RequestTooLarge(
            431,
            f"the request has {len(request.raw_headers)} headers; at most {MAX_HEADERS} are accepted",
            code="headers_too_large",
            fix="send fewer headers",
        )
    for name, value in request.raw_headers:
        if len(name) + len(value) > MAX_HEADER:
            raise RequestTooLarge(
                431,
                f"header {name[:40].decode('latin-1')!r} has {len(value)} bytes; at most {MAX_HEADER} are accepted",
                code="headers_too_large",
                fix="send a shorter header",
            )


_HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "check the request"),
    404: ("not_found", "check the URL path; docs/commands.md lists the endpoints"),
    405: ("method_not_allowed", "use the HTTP method the endpoint documents"),
    413: ("body_too_large", "send a smaller body"),
    415: ("unsupported_media_type", "send the documented Content-Type"),
}


class ConnectionDropped(Exception):
    """Raised by a handler that closed the connection on purpose (a lab fault dropped or reset it):
    nothing was answered and nothing can be. The request is logged as ended that way, never as a
    failure of the server."""

    def __init__(self, how: str) -> None:
        super().__init__(how)
        self.how = how


def json_error(err: SmartLicensingError) -> web.Response:
    return web.json_response(err.to_dict(), status=err.http_status)


def _http_error(exc: web.HTTPException, request: web.Request) -> web.Response:
    code, fix = _HTTP_CODES.get(exc.status, ("http_error", "check the request against the endpoint's documentation"))
    message = exc.reason
    headers = None
    if exc.status == 404:
        message = f"no endpoint at {request.method} {request.path}"
    elif exc.status == 405:
        message = f"{request.method} is not allowed on {request.path}"
        headers = {"Allow": exc.headers.get("Allow", "")}
    elif exc.status == 413:
        message = "the request body is too large"
    body: dict[str, object] = {"error": code, "status": exc.status, "message": message}
    if fix:
        body["fix"] = fix
    return web.json_response(body, status=exc.status, headers=headers)


def request_context(logger_name: str) -> Middleware:
    """A middleware binding a request id, timing the request, logging it, mapping errors."""
    log = get_logger(logger_name)
    # Unique per process start without a syscall per request: a random prefix, then a counter.
    prefix = secrets.token_hex(4)
    request_ids = (f"{prefix}{n:08x}" for n in itertools.count(1))

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        structlog.contextvars.clear_contextvars()
        request_id = request.headers.get("X-Request-Id") or next(request_ids)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        error_code: str | None = None
        ended: str | None = None  # how a request ended that got no answer
        try:
            check_size(request)
            response = await handler(request)
        except ConnectionDropped as dropped:
            ended = dropped.how
            response = web.Response(status=499)  # never sent: the connection is gone
        except SmartLicensingError as err:
            error_code = err.code
            response = json_error(err)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            response = _http_error(exc, request)
            error_code = str(response.status)
        except Exception:
            log.exception("request_failed", method=request.method, path=request.path)
            response = web.json_response(
                {
                    "error": "internal_error",
                    "status": 500,
                    "message": "the request failed inside the server (a bug; see its log)",
                },
                status=500,
            )
            error_code = "internal_error"
        response.headers["X-Request-Id"] = request_id
        # A page polling a live fragment that has not changed (204, every second) is no news.
        emit = log.debug if response.status == 204 and request.method == "GET" else log.info
        emit(
            "request",
            method=request.method,
            path=request.path,
            status=ended or response.status,
            ms=round((time.perf_counter() - started) * 1000, 2),
            error=error_code,
        )
        return response

    return middleware


def json_response(obj: object, status: int = 200) -> web.Response:
    """Encode with msgspec (structs, enums, datetimes) as application/json."""
    import msgspec

    return web.Response(body=msgspec.json.encode(obj), status=status, content_type="application/json")
