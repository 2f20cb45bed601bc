"""The TLS drill switch of the lab plane.

GET  /_lab/tls           the current mode, what it serves, and every mode with one line each
POST /_lab/tls           {"mode": "expired"}: serve that mode from the next handshake on
GET  /_lab/tls/ca.pem    the CA certificate an agent imports to trust the current mode's chain

The mode is saved in the store before it is served and acknowledged, and restored at start.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from plumbing.web import serve
from plumbing.web.middleware import json_response
from server import keys
from server.store import Store
from server.tls import TlsSwitch
from server.tlsdrills import DESCRIPTIONS, DrillMode
from shared import pki
from shared.errors import BadRequest
from shared.logging import get_logger

log = get_logger("ssm.tls")

SETTING = "tls_mode"


class ModeBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    mode: Annotated[str, msgspec.Meta(max_length=64)]


def parse_mode(text: str) -> DrillMode:
    try:
        return DrillMode(text)
    except ValueError:
        raise BadRequest(
            f"unknown TLS drill mode {text!r}",
            code="tls_mode_unknown",
            fix=f"use one of: {', '.join(DrillMode)} (GET /_lab/tls describes each)",
        ) from None


def view(switch: TlsSwitch) -> dict[str, object]:
    drill = switch.drill
    return {
        "mode": drill.mode,
        "description": DESCRIPTIONS[drill.mode],
        "served": [
            {
                "subject": c.subject.rfc4514_string(),
                "issuer": c.issuer.rfc4514_string(),
                "not_after": c.not_valid_after_utc.isoformat(),
                "fingerprint": pki.fingerprint(c),
            }
            for c in (drill.leaf.cert, *drill.sent)
        ],
        "ca": {
            "subject": drill.offered.subject.rfc4514_string(),
            "fingerprint": pki.fingerprint(drill.offered),
            "pem": pki.cert_pem(drill.offered).decode(),
        },
        "modes": [{"mode": m, "description": DESCRIPTIONS[m], "current": m is drill.mode} for m in DrillMode],
    }


async def restore(store: Store, switch: TlsSwitch) -> None:
    """Serve the mode saved by a previous run (a drill survives a restart)."""
    saved = await store.read(lambda uow: uow.settings.get(SETTING))
    if saved and saved != switch.mode:
        try:
            switch.serve(switch.prepare(parse_mode(saved)))
        except BadRequest:
            log.warning("tls_mode_unknown", saved=saved)


async def get_tls(request: web.Request) -> web.Response:
    """The mode served, its chain, and every mode with one line each."""
    return json_response(view(request.app[keys.TLS]))


async def set_tls(request: web.Request, body: ModeBody) -> web.Response:
    """Serve a drill mode from the next handshake on (saved before it is served)."""
    mode = parse_mode(body.mode)
    switch = request.app[keys.TLS]
    drill = switch.prepare(mode)
    await request.app[keys.STORE].write(lambda uow: uow.settings.set(SETTING, str(mode)))
    switch.serve(drill)
    # Kept-alive connections were set up with the old certificate: close them, so that the very
    # next request of every client makes a new handshake with the new one.
    closed = request.app[serve.SERVER].close_connections(keep=request.protocol)
    log.info("tls_mode", mode=str(mode), connections_closed=closed)
    return json_response(view(switch))


async def ca_pem(request: web.Request) -> web.Response:
    """The CA certificate an agent imports to trust the current mode's chain."""
    offered = request.app[keys.TLS].drill.offered
    return web.Response(body=pki.cert_pem(offered), content_type="application/x-pem-file")
