"""``GET /metrics`` (Prometheus text: reports, registrations, pools, instance states, failures)
and ``GET /_lab/info`` (version, mode, clock, PKI fingerprints, policy)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from plumbing.web.middleware import json_response
from server import keys
from server.lab.state import LAB, VERSION
from server.store import UnitOfWork
from server.store.location import redacted
from server.store.rows import License, VirtualAccount
from shared import clockctl

Counts = list[tuple[str, int]]


async def metrics(request: web.Request) -> web.Response:
    """Prometheus metrics of the SSM."""
    lab = request.app[LAB]

    def read(uow: UnitOfWork) -> tuple[dict[int, VirtualAccount], list[License], Counts, Counts]:
        return (
            uow.accounts.all_virtual_accounts(),
            uow.pools.all(),
            uow.instances.count_by_status(),
            uow.events.notification_counts(),
        )

    vas, pools, statuses, kinds = await request.app[keys.STORE].read(read)
    lab.pool_in_use.clear()
    lab.pool_purchased.clear()
    lab.pool_ooc.clear()
    for p in pools:
        va = vas.get(p.virtual_account_id)
        labels = (va.name if va else "?", p.name, str(p.license_type), str(p.usage_mode))
        lab.pool_in_use.labels(*labels).set(p.pool.in_use)
        lab.pool_purchased.labels(*labels).set(p.quantity)
        lab.pool_ooc.labels(*labels).set(1 if p.pool.ooc_since is not None else 0)
    lab.instances.clear()
    for status, count in statuses:
        lab.instances.labels(status).set(count)
    lab.notifications.clear()
    for kind, count in kinds:
        lab.notifications.labels(kind).set(count)
    return web.Response(body=generate_latest(lab.registry), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def info(request: web.Request) -> web.Response:
    """Version, mode, listeners, clock, PKI fingerprints, policy."""
    settings = request.app[keys.SETTINGS]
    registry = request.app[keys.REGISTRY]
    return json_response(
        {
            "service": "ssm",
            "version": VERSION,
            "mode": settings.mode,
            "sync": settings.sync,
            "listeners": {"device": request.app[keys.LISTENERS].device, "admin": request.app[keys.LISTENERS].admin},
            "db": redacted(settings.db_path),
            "clock": clockctl.view(request.app[keys.CLOCK]),
            "pki": registry.pki.fingerprints(),
            "policy": settings.policy.describe(),
            "faults": len(request.app[LAB].faults.active()),
            "instances": await request.app[keys.STORE].read(lambda uow: uow.instances.count()),
        }
    )
