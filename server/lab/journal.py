"""The request journal and fault injection: a middleware that sees every request.

Every request but the portal's pages and the lab plane's reads (the lab console polls them every
second) is journalled: method, path, instance, status, latency, TLS version, fault, and both
sides' headers and bodies with secrets masked (``server.lab.recording``). Device plane requests
— those whose declared route is of the device plane, never guessed from the path — are also
counted in the metrics and may be hit by an injected fault (``server.lab.faults``); admin plane
requests by a fault that names their path. ``GET /_lab/journal`` shows the last ones (filtered),
``GET /_lab/journal/count`` counts them, ``DELETE /_lab/journal`` empties it.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from collections.abc import Mapping
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from plumbing.web.body import BODY, read_body
from plumbing.web.middleware import ConnectionDropped, json_error, json_response
from plumbing.web.routes import Plane, Route, route_of
from server import keys
from server.lab import recording
from server.lab.faults import FAULTABLE, inject
from server.lab.state import LAB
from shared import callhome, envelope, faults, tokens
from shared.errors import SmartLicensingError

_KINDS = {
    "register": "registration",
    "report_usage": "report",
    "authorize": "authorization",
    "renew_registration": "registration_renewal",
    "deregister": "deregistration",
    "sync_request": "sync",
}
_TYPE = re.compile(rb'"type"\s*:\s*"([a-z_]+)"')


def _segment(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def peek(body: bytes, ctype: str) -> tuple[str | None, str | None, str]:
    """(piid, token id, message kind) of a device request, for the journal and fault targets.

    Nothing here is trusted or verified (the handler does that): a quick look at the JWS header
    and payload, or at the register request's token, inside a Call Home envelope too."""
    if ctype in callhome.ACCEPTED_TYPES:
        try:
            env = callhome.decode(body, "request")
        except SmartLicensingError:
            return None, None, "malformed"
        signed = env.encoding is callhome.Encoding.JWS
        return peek(env.payload.encode(), envelope.CONTENT_TYPE if signed else "application/json")
    if ctype == envelope.CONTENT_TYPE:
        try:
            head, payload, _ = body.decode("ascii").strip().split(".")
            kid = msgspec.json.decode(_segment(head)).get("kid")
            m = _TYPE.search(_segment(payload))
            return (kid if isinstance(kid, str) else None), None, _KINDS.get(m.group(1).decode() if m else "", "signed")
        except (msgspec.DecodeError, UnicodeDecodeError, AttributeError, ValueError, RecursionError):
            return None, None, "malformed"
    m = _TYPE.search(body)
    token_id = None
    try:
        raw = msgspec.json.decode(body)
        if isinstance(raw, dict) and isinstance(raw.get("token"), str):
            token_id = tokens.parse(raw["token"]).token_id
    except (msgspec.DecodeError, SmartLicensingError, RecursionError):
        pass
    return None, token_id, _KINDS.get(m.group(1).decode() if m else "", "unsigned")


def _is_device(route: Route | None) -> bool:
    return route is not None and route.plane is Plane.DEVICE


def middleware() -> Middleware:
    """Journal every request; inject faults into device-plane requests."""

    @web.middleware
    async def journal(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        if route is not None and route.plane is Plane.WEB:
            return await handler(request)  # the portal's pages (polled every second) are no lab traffic
        if route is not None and route.plane is Plane.LAB and request.method in ("GET", "HEAD"):
            return await handler(request)  # the lab's reads: what the console polls, no lab traffic either
        if route is not None and route.path == "/_lab/journal":
            return await handler(request)  # emptying the journal leaves it empty
        lab = request.app[LAB]
        clock = request.app[keys.CLOCK]
        at = clock.now().isoformat(timespec="seconds")  # when it came (a clock command moves it)
        started = time.perf_counter()
        piid = token_id = None
        kind = "lab"
        device = _is_device(route)
        if device and request.method == "POST":
            settings = request.app[keys.SETTINGS]
            try:
                body = await read_body(request, limit=settings.max_device_body)
            except SmartLicensingError:
                body = b""  # the handler reads the limit error itself
                request.pop(BODY, None)
            piid, token_id, kind = peek(body, request.content_type)
        faultable = route is not None and route.plane in FAULTABLE
        target = faults.Target(request.path, piid, token_id, kind if device else None, device=device)
        fault = lab.faults.match(target, clock.now()) if faultable else None
        status: int | str = 0
        response: web.StreamResponse | None = None
        try:
            if fault is not None and fault.spec.kind == "latency":
                lab.faults_injected.labels("latency").inc()
                await asyncio.sleep((fault.spec.latency_ms or 0) / 1000)  # transport time: real seconds
            elif fault is not None:
                lab.faults_injected.labels(fault.spec.kind).inc()
                response = inject(request, fault)
                if response is None:
                    status = fault.spec.kind  # dropped or reset: no answer
                    raise ConnectionDropped(f"{fault.spec.kind} (fault {fault.id})")
                status = response.status
                return response
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except SmartLicensingError as err:
            status, response = err.http_status, json_error(err)  # the answer request_context gives
            raise
        finally:
            if kind != "lab":
                lab.requests.labels(kind, str(status)).inc()
            ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
            lab.journal.append(
                {
                    "at": at,
                    "method": request.method,
                    "path": request.path,
                    "query": request.query_string,
                    "kind": kind,
                    "piid": piid or request.get(keys.PIID),
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                    "tls": ssl_object.version() if ssl_object is not None else None,
                    "fault": fault.id if fault is not None else None,
                    "request": _side(request.headers, request.get(BODY), request.content_type),
                    "response": _reply(response),
                }
            )

    return journal


def _side(headers: Mapping[str, str], body: bytes | None, ctype: str) -> recording.Side:
    return recording.Side.capture(headers, body, ctype)


def _reply(response: web.StreamResponse | None) -> recording.Side | None:
    if response is None:
        return None  # dropped, reset, or aiohttp's own HTTP error (its answer is made later)
    body = response.body if isinstance(response, web.Response) else None
    return _side(response.headers, body if isinstance(body, bytes) else None, response.content_type)


async def _matching(request: web.Request, f: recording.Filter) -> list[dict[str, Any]]:
    piids: list[str] = []
    if f.instance is not None:  # an instance id, or a name: the ids of the instances so named
        rows = await request.app[keys.STORE].read(lambda uow: uow.instances.page(include_removed=True))
        piids = [r.piid for r in rows if r.name == f.instance]
    return request.app[LAB].journal.find(recording.matcher(f, piids))


async def show(request: web.Request, f: recording.Filter) -> web.Response:
    """The last ``limit`` journalled requests matching the filter, oldest first."""
    return json_response((await _matching(request, f))[-f.limit :])


async def count(request: web.Request, f: recording.Filter) -> web.Response:
    """How many journalled requests match the filter (``limit`` does not apply)."""
    return json_response({"count": len(await _matching(request, f))})


async def clear(request: web.Request) -> web.Response:
    """Empty the journal."""
    return json_response({"removed": request.app[LAB].journal.clear()})
