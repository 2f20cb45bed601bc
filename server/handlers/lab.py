"""The lab plane of the SSM (emulator-only, under ``/_lab/``): health and events.
(The clock is served by ``plumbing.clockroutes``.)"""

from __future__ import annotations

from aiohttp import web

from plumbing.middleware import json_response
from server import keys
from shared.clock import utc

VERSION = "0.1.0"


async def health(request: web.Request) -> web.Response:
    settings = request.app[keys.SETTINGS]
    clock = request.app[keys.CLOCK]
    return json_response(
        {"status": "ok", "service": "ssm", "mode": settings.mode, "version": VERSION, "now": clock.now().isoformat()}
    )


async def events(request: web.Request) -> web.Response:
    try:
        limit = max(1, min(1000, int(request.query.get("limit", "100"))))
    except ValueError:
        limit = 100
    rows = await request.app[keys.STORE].read.events(limit=limit, piid=request.query.get("piid"))
    return json_response(
        [{"at": utc(e.at).isoformat(), "kind": e.kind, "piid": e.piid, "message": e.message} for e in rows]
    )
