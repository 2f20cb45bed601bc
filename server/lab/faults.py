"""Injected faults on the device plane (``shared.faults``): what a hit request gets, and the
``/_lab/faults`` handlers that add, list and remove them."""

from __future__ import annotations

import socket
import struct

from aiohttp import web

from plumbing.web.middleware import json_response
from server import keys
from server.lab.state import LAB
from shared import faults
from shared.errors import BadRequest
from shared.logging import get_logger

log = get_logger("ssm.lab")


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
            "status": s.status,
            "message": f"fault {fault.id} injected by the lab: HTTP {s.status}",
            "fix": "remove it ('ssmlab fault clear') or wait for its ttl",
        },
        status=s.status,
        headers=headers,
    )


async def list_faults(request: web.Request) -> web.Response:
    """The active faults (expired ones are dropped first)."""
    lab = request.app[LAB]
    for gone in lab.faults.expire(request.app[keys.CLOCK].now()):
        log.info("fault_reverted", fault=gone.id)
    return json_response([f.view() for f in lab.faults.active()])


async def add_fault(request: web.Request, spec: faults.FaultSpec) -> web.Response:
    """Inject a fault into matching device-plane requests."""
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
