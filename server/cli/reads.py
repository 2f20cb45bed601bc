"""Every direct use of the store by ``ssm-server``'s verbs, in one place.

The verbs change state only through the services (``server.accounts``, ``server.onprem`` ...); the
listings they print read the store here, as the JSON rows ``--json`` prints (so the human table
and the JSON never differ in content). When the store's API changes, this module is what adapts.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from server.store import Store
from server.timekeeping import load_clock
from shared.clock import SystemClock, utc

Row = dict[str, Any]


@asynccontextmanager
async def opened(db: Path) -> AsyncIterator[tuple[Store, datetime]]:
    """The store at ``db`` and the server's domain time now (its saved clock; the wall clock
    when the server never ran)."""
    store = await Store.open(db)
    try:
        clock = await load_clock(store) or SystemClock()
        yield store, clock.now()
    finally:
        await store.close()


async def _va_name(store: Store, va_id: int) -> str:
    va = await store.read.virtual_account(va_id)
    return va.name if va else "?"


async def tokens(store: Store, now: datetime, va_id: int | None) -> list[Row]:
    rows = []
    for t in await store.read.tokens(va_id):
        state = (
            "revoked"
            if t.revoked_at
            else "expired"
            if t.expires_at <= now
            else "used up"
            if t.max_uses is not None and t.uses >= t.max_uses
            else "active"
        )
        rows.append(
            {
                "token_id": t.token_id,
                "virtual_account": await _va_name(store, t.virtual_account_id),
                "status": state,
                "expires_at": t.expires_at.isoformat(),
                "uses": t.uses,
                "max_uses": t.max_uses,
                "export_controlled": t.export_controlled,
                "description": t.description,
            }
        )
    return rows


async def accounts(store: Store) -> list[Row]:
    return [
        {
            "domain": a.domain,
            "name": a.name,
            "export_control_allowed": a.export_control_allowed,
            "virtual_accounts": [v.name for v in await store.read.virtual_accounts(a.id)],
        }
        for a in await store.read.accounts()
    ]


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
        for n in await store.read.notifications(limit=limit)
    ]


async def reservations(store: Store) -> list[tuple[Row, str]]:
    """Each reservation's row, and the licenses it holds as one line lists them (every entry,
    where the row's mapping keeps one per name)."""
    return [
        (
            {
                "device": f"{r.udi_pid}:{r.serial_number}",
                "virtual_account": await _va_name(store, r.virtual_account_id),
                "status": r.status,
                "licenses": {x.name: x.count for x in r.licenses},
                "reserved_at": utc(r.created_at).isoformat(),
            },
            ", ".join(f"{x.name}={x.count}" for x in r.licenses),
        )
        for r in await store.read.reservations()
    ]


async def events(store: Store, limit: int) -> list[Row]:
    return [
        {"at": utc(e.at).isoformat(), "kind": e.kind, "message": e.message}
        for e in await store.read.events(limit=limit)
    ]
