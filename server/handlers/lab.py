"""The lab plane of the SSM (emulator-only, under ``/_lab/``): health and events.
(The clock is served by ``plumbing.clockroutes``.)"""

from __future__ import annotations

from aiohttp import web

from plumbing.middleware import json_response
from server import keys, onprem, views
from shared.clock import utc
from shared.errors import BadRequest

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
    piid = request.query.get("piid")
    rows = await request.app[keys.STORE].read(lambda uow: uow.events.recent(limit=limit, piid=piid))
    return json_response(
        [{"at": utc(e.at).isoformat(), "kind": e.kind, "piid": e.piid, "message": e.message} for e in rows]
    )


async def outbox(request: web.Request) -> web.Response:
    """The notifications the SSM would have e-mailed (alerts), oldest first."""
    try:
        limit = max(1, min(1000, int(request.query.get("limit", "100"))))
    except ValueError:
        limit = 100
    kind = request.query.get("kind")
    rows = await request.app[keys.STORE].read(lambda uow: uow.events.outbox(limit=limit, kind=kind))
    return json_response(
        [
            {
                "at": utc(n.at).isoformat(),
                "kind": n.kind,
                "severity": n.severity,
                "piid": n.piid,
                "subject": n.subject,
                "body": n.body,
            }
            for n in rows
        ]
    )


async def instances(request: web.Request) -> web.Response:
    """Product instances with their status, last contact and latest usage."""
    store = request.app[keys.STORE]
    try:
        limit = max(1, min(1000, int(request.query.get("limit", "100"))))
        offset = max(0, int(request.query.get("offset", "0")))
    except ValueError:
        raise BadRequest(
            "limit and offset are whole numbers", code="invalid_paging", fix="e.g. ?limit=100&offset=200"
        ) from None
    page = await views.instances(store, include_removed=request.query.get("removed") == "1", limit=limit, offset=offset)
    return json_response(
        {
            "total": await store.read(lambda uow: uow.instances.count()),
            "limit": limit,
            "offset": offset,
            "instances": page,
        }
    )


async def pools(request: web.Request) -> web.Response:
    """License pools: purchased, in use, balance, status (per virtual account)."""
    settings = request.app[keys.SETTINGS]
    return json_response(
        await views.pools(
            request.app[keys.STORE],
            va_name=request.query.get("va"),
            policy_intervals=settings.policy.ooc_consecutive_intervals,
        )
    )


async def remove_instance(request: web.Request) -> web.Response:
    """The SSM's "remove product instance" action."""
    inst = await request.app[keys.REGISTRY].remove_instance(request.match_info["piid"], by="the lab API")
    return json_response({"removed": inst.piid, "name": inst.name})


async def sync_status(request: web.Request) -> web.Response:
    """An On-Prem's link to the cloud: account, sequence numbers, last synchronization, deadline."""
    link = await onprem.require_link(request.app[keys.STORE])
    return json_response(
        {
            "cloud": link.cloud_url,
            "piid": link.piid,
            "account_domain": link.account_domain,
            "virtual_account": link.virtual_account,
            "mode": request.app[keys.SETTINGS].sync,
            "sequence": link.sequence,
            "applied": link.applied,
            "last_sync": utc(link.last_sync).isoformat() if link.last_sync else None,
            "deadline": utc(link.deadline).isoformat() if link.deadline else None,
            "last_error": link.last_error,
        }
    )


async def sync_now(request: web.Request) -> web.Response:
    """Synchronize with the cloud now (Connected mode's "Synchronize now")."""
    settings = request.app[keys.SETTINGS]
    clock = request.app[keys.CLOCK]
    result = await onprem.sync_now(request.app[keys.STORE], clock.now(), truststore=settings.certs / "truststore.pem")
    clock.poke(request.app[keys.SYNC_POKE])
    return json_response(
        {"sequence": result.sequence, "entitlements": result.entitlements, "deadline": result.deadline}
    )
