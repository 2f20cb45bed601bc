"""Every direct use of the store by ``ssm-server``'s verbs, in one place.

The verbs change state only through the services (``server.accounts``, ``server.onprem`` ...) and
read most listings through ``server.views``; the few listings no view serves are read here, as the
JSON rows ``--json`` prints (so the human table and the JSON never differ in content). When the
store's API changes, this module is what adapts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from server import views
from server.store import Store
from server.store.location import PgUrl
from server.timekeeping import load_clock
from shared.clock import SystemClock, utc

Row = dict[str, Any]


@asynccontextmanager
async def opened(db: Path | PgUrl) -> AsyncIterator[tuple[Store, datetime]]:
    """The store at ``db`` and the server's domain time now (its saved clock; the wall clock
    when the server never ran)."""
    store = await Store.open(db)
    try:
        clock = await load_clock(store) or SystemClock()
        yield store, clock.now()
    finally:
        await store.close()


async def notifications(store: Store, limit: int) -> list[Row]:
    return [
        {
            "at": utc(n.at).isoformat(),
            "kind": n.kind,
            "severity": n.severity,
            "piid": n.piid,
            "subject": n.subject,
            "body": n.body,
        }
        for n in await store.read(lambda uow: uow.events.outbox(limit=limit))
    ]


async def reservations(store: Store) -> list[tuple[Row, str]]:
    """Each reservation's row, and the licenses it holds as one line lists them (every entry,
    where the row's mapping keeps one per name)."""
    return [
        (
            {
                "device": f"{r.udi_pid}:{r.serial_number}",
                "virtual_account": va_name,
                "status": str(r.status),
                "licenses": {x.name: x.count for x in r.licenses},
                "reserved_at": utc(r.created_at).isoformat(),
            },
            ", ".join(f"{x.name}={x.count}" for x in r.licenses),
        )
        for r, va_name in await views.reservations(store)
    ]


async def events(store: Store, limit: int) -> list[Row]:
    return [
        {"at": utc(e.at).isoformat(), "kind": e.kind, "message": e.message}
        for e in await store.read(lambda uow: uow.events.recent(limit=limit))
    ]
