"""Injected faults (``shared.faults``): what a hit request gets, and the ``/_lab/faults`` handlers
that add, list and remove them.

A fault's path is checked against the SSM's route table when it is added: it must lead to a
device or admin endpoint (a fault there fires; the journal decides by the matched route's plane),
never only to the lab plane, which faults never touch; ``piid``, ``token_id`` and ``message`` pick
device requests, so they need a path that leads to one."""

from __future__ import annotations

import socket
import struct

from aiohttp import web

from plumbing.web.middleware import json_response
from plumbing.web.routes import TABLE, Plane
from server import keys
from server.lab.state import LAB
from shared import faults
from shared.errors import BadRequest
from shared.logging import get_logger

log = get_logger("ssm.lab")

#: The planes a fault may hit (the journal's middleware asks the same of each request's route).
FAULTABLE = frozenset({Plane.DEVICE, Plane.ADMIN})


def inject(request: web.Request, fault: faults.Fault) -> web.StreamResponse | None:
    """The fault's answer, or None after dropping or resetting the connection."""
    s = fault.spec
    transport = request.transport
    if s.kind in ("drop", "reset"):
        if transport is not None:
            if s.kind == "reset":
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                transport.abort()
            else:
                transport.close()
        return None
    headers = {"Retry-After": str(s.retry_after)} if s.retry_after is not None else None
    return web.json_response(
        {
            "error": "injected_fault",
            "status": fault.status,
            "message": f"fault {fault.id} injected by the lab: HTTP {fault.status}",
            "fix": "remove it ('ssmlab fault clear') or wait for its ttl",
        },
        status=fault.status,
        headers=headers,
    )


def _reaches(template: str, prefix: str) -> bool:
    """Whether a request path starting with ``prefix`` can match the route ``template``
    (``/a/{id}/b``: a variable segment matches anything; the prefix's last segment may be partial)."""
    want, have = prefix.split("/"), template.split("/")
    if len(want) > len(have):
        return False
    for i, part in enumerate(want):
        segment = have[i]
        if segment.startswith("{"):
            continue
        if not (segment.startswith(part) if i == len(want) - 1 else segment == part):
            return False
    return True


def check_path(request: web.Request, spec: faults.FaultSpec) -> None:
    """Refuse a fault whose path leads to no endpoint it can hit (see the module docstring).

    Raises:
        BadRequest: ``invalid_fault`` naming the plane the path is on, or that it is on none.
    """
    if spec.path is None:
        return
    planes = {route.plane for route in request.app[TABLE].values() if _reaches(route.path, spec.path)}
    hit = planes & FAULTABLE
    examples = "a device path (/licservice/license) or an admin API path (/as/token.oauth2)"
    if not planes:
        raise BadRequest(
            f"no endpoint of this SSM is at or under {spec.path!r}: the fault would never fire",
            code="invalid_fault",
            fix=f"give {examples}; GET /openapi.json lists the admin API",
        )
    if not hit:
        raise BadRequest(
            f"{spec.path!r} is on the {', '.join(sorted(planes))} plane, which faults never touch (the lab must "
            "stay drivable)",
            code="invalid_fault",
            fix=f"give {examples}",
        )
    if (spec.piid is not None or spec.token_id is not None or spec.message is not None) and Plane.DEVICE not in hit:
        raise BadRequest(
            f"piid, token_id and message pick device requests, and {spec.path!r} leads to none",
            code="invalid_fault",
            fix="drop them, or give a device path (/licservice/license)",
        )


async def list_faults(request: web.Request) -> web.Response:
    """The active faults (expired ones are dropped first)."""
    lab = request.app[LAB]
    for gone in lab.faults.expire(request.app[keys.CLOCK].now()):
        log.info("fault_reverted", fault=gone.id)
    return json_response([f.view() for f in lab.faults.active()])


async def add_fault(request: web.Request, spec: faults.FaultSpec) -> web.Response:
    """Inject a fault into matching device-plane requests (or admin ones, under its path)."""
    check_path(request, spec)
    fault = request.app[LAB].faults.add(spec, request.app[keys.CLOCK].now())
    log.info("fault_added", fault=fault.id, kind=spec.kind)
    return json_response(fault.view(), status=201)


async def delete_fault(request: web.Request) -> web.Response:
    """Remove one fault."""
    try:
        fault_id = int(request.match_info["id"])
    except ValueError:
        raise BadRequest(
            "a fault id is a number", code="invalid_fault", fix="use an id from GET /_lab/faults"
        ) from None
    return json_response(request.app[LAB].faults.remove(fault_id).view())


async def clear_faults(request: web.Request) -> web.Response:
    """Remove every fault."""
    return json_response({"removed": len(request.app[LAB].faults.clear())})
