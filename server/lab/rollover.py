"""CA rollover on the lab plane (``server.rollover``):

GET  /_lab/pki/rollover            the plan: phase (none, overlap, done), generation, cutover instant
POST /_lab/pki/rollover            {"overlap": "30d"}: make the next PKI, distribute its root; the
                                   cutover comes that much domain time later
POST /_lab/pki/rollover/cutover    cut over now
GET  /_lab/pki/next-ca.pem         the next root, to give agents during the overlap
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from plumbing.web import serve
from plumbing.web.middleware import json_response
from server import keys
from shared import pki
from shared.durations import parse_duration
from shared.errors import BadRequest, NotFound


class StartBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    overlap: Annotated[str, msgspec.Meta(max_length=32)] = "30d"


async def cut_over(app: web.Application, *, keep: object = None) -> None:
    """Serve, sign and issue with the next PKI from now on; connections open now are closed, so
    every client's next request meets the new chain."""
    new = await app[keys.ROLLOVER].cutover(app[keys.STORE], app[keys.CLOCK].now())
    app[keys.TLS].rotate(new)
    app[keys.REGISTRY].rotate(new)
    app[serve.SERVER].close_connections(keep=keep)


def schedule(app: web.Application) -> None:
    """Cut over at the planned instant (domain time), if a rollover is in its overlap."""
    app[keys.ROLLOVER].schedule(app[keys.CLOCK], lambda: cut_over(app))


async def show(request: web.Request) -> web.Response:
    return json_response(request.app[keys.ROLLOVER].view())


async def start(request: web.Request, body: StartBody) -> web.Response:
    """Start a rollover: the next PKI made and its root distributed; the cutover after ``overlap``."""
    try:
        overlap = parse_duration(body.overlap)
    except ValueError as exc:
        raise BadRequest(f"overlap: {exc}", code="invalid_duration", fix='send {"overlap": "30d"}') from None
    app = request.app
    await app[keys.ROLLOVER].start(app[keys.STORE], app[keys.REGISTRY].pki, app[keys.CLOCK], overlap)
    schedule(app)
    return json_response(app[keys.ROLLOVER].view())


async def cutover(request: web.Request) -> web.Response:
    """Cut over now (before the planned instant)."""
    rollover = request.app[keys.ROLLOVER]
    rollover.cancel()
    await cut_over(request.app, keep=request.protocol)
    return json_response(rollover.view())


async def next_ca(request: web.Request) -> web.Response:
    root = request.app[keys.ROLLOVER].next_root()
    if root is None:
        raise NotFound(
            "no CA rollover is in its overlap: there is no next root",
            code="no_rollover",
            fix="start one: ssmlab pki rollover --overlap 30d (the current root is at /_lab/tls/ca.pem)",
        )
    return web.Response(body=pki.cert_pem(root), content_type="application/x-pem-file")
