"""One canonical log line per request, and every error answered as JSON.

The error body is ``{"error": code, "status": ..., "message": ..., "fix": ...}``:
``SmartLicensingError`` keeps its code and status; aiohttp's own HTTP errors (unknown path,
wrong method, body too large) get a code and a fix; anything else is a bug, logged with its
traceback and answered 500 ``internal_error`` without details.
"""

from __future__ import annotations

import time
import uuid

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from shared.errors import SmartLicensingError
from shared.logging import get_logger

_HTTP_CODES: dict[int, tuple[str, str]] = {
    400: ("bad_request", "check the request"),
    404: ("not_found", "check the URL path; README lists the endpoints"),
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
    code, fix = _HTTP_CODES.get(exc.status, ("http_error", ""))
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

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        structlog.contextvars.clear_contextvars()
        request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:16]
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        error_code: str | None = None
        ended: str | None = None  # how a request ended that got no answer
        try:
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
        log.info(
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
