"""What the lab plane shows of the SSM: health, the event log, the outbox, product instances and
pools; the "remove product instance" action; an On-Prem's link to the cloud and "synchronize now".
(The clock is served by ``plumbing.web.clock``.)"""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from plumbing.web.middleware import json_response
from server import keys, onprem, views
from server.lab.state import VERSION
from shared.clock import utc

Limit = Annotated[int, msgspec.Meta(ge=1, le=1000)]


class EventsQuery(msgspec.Struct, frozen=True):
    limit: Limit = 100
    piid: str | None = None


class OutboxQuery(msgspec.Struct, frozen=True):
    limit: Limit = 100
    kind: str | None = None


class InstancesQuery(msgspec.Struct, frozen=True):
    limit: Limit = 100
    offset: Annotated[int, msgspec.Meta(ge=0, le=2**31)] = 0
    removed: Annotated[int, msgspec.Meta(ge=0, le=1)] = 0


class PoolsQuery(msgspec.Struct, frozen=True):
    va: str | None = None


async def health(request: web.Request) -> web.Response:
    """Liveness: mode, version and the domain time."""
    settings = request.app[keys.SETTINGS]
    clock = request.app[keys.CLOCK]
    return json_response(
        {"status": "ok", "service": "ssm", "mode": settings.mode, "version": VERSION, "now": clock.now().isoformat()}
    )


async def events(request: web.Request, q: EventsQuery) -> web.Response:
    """The SSM's event log, oldest first."""
    rows = await request.app[keys.STORE].read(lambda uow: uow.events.recent(limit=q.limit, piid=q.piid))
    return json_response(
        [
            {
                "at": utc(e.at).isoformat(),
                "kind": e.kind,
                "piid": e.piid,
                "message": e.message,
                "recorded_ns": e.recorded_ns,
            }
            for e in rows
        ]
    )


async def outbox(request: web.Request, q: OutboxQuery) -> web.Response:
    """The notifications the SSM would have e-mailed (alerts), oldest first."""
    rows = await request.app[keys.STORE].read(lambda uow: uow.events.outbox(limit=q.limit, kind=q.kind))
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


async def instances(request: web.Request, q: InstancesQuery) -> web.Response:
    """Product instances with their status, last contact and latest usage (on a cloud SSM, then
    those behind each SSM On-Prem registered to it, marked ``onprem``)."""
    store = request.app[keys.STORE]
    page = await views.instances(store, include_removed=bool(q.removed), limit=q.limit, offset=q.offset)
    total = await store.read(lambda uow: uow.instances.count() + uow.satellites.count_behind())
    return json_response({"total": total, "limit": q.limit, "offset": q.offset, "instances": page})


async def pools(request: web.Request, q: PoolsQuery) -> web.Response:
    """License pools: purchased, in use, balance, status (per virtual account)."""
    settings = request.app[keys.SETTINGS]
    return json_response(
        await views.pools(
            request.app[keys.STORE], va_name=q.va, policy_intervals=settings.policy.ooc_consecutive_intervals
        )
    )


async def remove_instance(request: web.Request) -> web.Response:
    """The SSM's "remove product instance" action."""
    inst = await request.app[keys.REGISTRY].remove_instance(request.match_info["piid"], by="the lab API")
    return json_response({"removed": inst.piid, "name": inst.name})


async def sync_status(request: web.Request) -> web.Response:
    """An On-Prem's link to the cloud: account, sequence numbers, last synchronization, deadline."""
    link = await onprem.require_link(request.app[keys.STORE])
    return json_response(views.onprem_link(link, request.app[keys.SETTINGS].sync))


async def sync_now(request: web.Request) -> web.Response:
    """Synchronize with the cloud now (Connected mode's "Synchronize now")."""
    settings = request.app[keys.SETTINGS]
    clock = request.app[keys.CLOCK]
    result = await onprem.sync_now(request.app[keys.STORE], clock.now(), truststore=settings.certs / "truststore.pem")
    clock.poke(request.app[keys.SYNC_POKE])
    return json_response(
        {"sequence": result.sequence, "entitlements": result.entitlements, "deadline": result.deadline}
    )
