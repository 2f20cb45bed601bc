"""The lab guard: the lab plane (and the web pages' state-changing forms) answers the operator's
machine only.

These routes are unauthenticated by design — a lab is driven from the machine it runs on, by
``ssmlab`` and the command lines — and they can create tokens and licences, move the clock or
reset everything. So a request to them from a peer that is not loopback is refused 403
``lab_not_exposed``, unless the process was started with ``--lab-exposed``: then every such
request, from anywhere, must carry the lab token printed at start (``Authorization: Bearer``),
else 401 ``lab_token_required``. Liveness (``Plane.PROBE``) and the other planes are not guarded
here: the device plane authenticates every request by its signature, the admin API by OAuth2.
"""

from __future__ import annotations

import hmac
import ipaddress
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from plumbing.web.routes import Plane, Route, route_of
from shared.errors import Forbidden, Unauthorized

_READS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class LabAccess:
    """How a process's lab plane may be reached: loopback only (``token`` None), or from anywhere
    with the token."""

    token: str | None = None
    #: how the operator exposes it (named in the refusal's fix)
    flag: str = "--lab-exposed"


def guarded(route: Route) -> bool:
    """The lab plane, and the web pages' state-changing forms."""
    return route.plane is Plane.LAB or (route.plane is Plane.WEB and route.method not in _READS)


def is_loopback(remote: str | None) -> bool:
    """Whether a peer address is this machine (no address: a Unix socket, local too)."""
    if not remote:
        return True
    try:
        addr = ipaddress.ip_address(remote.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


def _bearer(request: web.Request) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def lab_guard(access: LabAccess) -> Middleware:
    """The middleware refusing lab-plane requests as the module doc says."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        if route is None or not guarded(route):
            return await handler(request)
        if access.token is not None:
            if not hmac.compare_digest(_bearer(request).encode(), access.token.encode()):
                raise Unauthorized(
                    f"{request.path} is exposed beyond loopback: it needs the lab token",
                    code="lab_token_required",
                    fix="send 'Authorization: Bearer TOKEN' with the token printed at start (also in lab.token "
                    "beside the process's data; the command lines on that machine read it)",
                )
        elif not is_loopback(request.remote):
            raise Forbidden(
                f"{request.path} answers loopback only, not {request.remote}",
                code="lab_not_exposed",
                fix=f"call it on the machine it runs on, or restart the process with {access.flag} and send the "
                "lab token it prints",
            )
        return await handler(request)

    return guard
