"""The request journal and fault injection: a middleware that sees every request.

Every request but the portal's pages is journalled (method, path, instance, status, latency, TLS
version, fault). Device plane requests — those whose declared route is of the device plane, never
guessed from the path — are also counted in the metrics and may be hit by an injected fault
(``server.lab.faults``); admin plane requests by a fault that names their path. ``GET /_lab/journal``
shows the last ones.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time

import msgspec
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from plumbing.web.body import BODY, read_body
from plumbing.web.middleware import ConnectionDropped, json_response
from plumbing.web.routes import Plane, Route, route_of
from server import keys
from server.lab.faults import FAULTABLE, inject
from server.lab.state import JOURNAL_SIZE, LAB
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
        lab = request.app[LAB]
        clock = request.app[keys.CLOCK]
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
            status = err.http_status
            raise
        finally:
            if kind != "lab":
                lab.requests.labels(kind, str(status)).inc()
            ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
            lab.journal.append(
                {
                    "at": clock.now().isoformat(timespec="seconds"),
                    "method": request.method,
                    "path": request.path,
                    "kind": kind,
                    "piid": piid or request.get(keys.PIID),
                    "status": status,
                    "ms": round((time.perf_counter() - started) * 1000, 2),
                    "tls": ssl_object.version() if ssl_object is not None else None,
                    "fault": fault.id if fault is not None else None,
                }
            )

    return journal


async def show(request: web.Request) -> web.Response:
    """The last requests (``?limit=N``)."""
    try:
        limit = max(1, min(JOURNAL_SIZE, int(request.query.get("limit", "100"))))
    except ValueError:
        limit = 100
    return json_response(list(request.app[LAB].journal)[-limit:])
