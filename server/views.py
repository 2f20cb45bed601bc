"""The SSM's read views: license pools (purchased, in use, balance, status) and product instances
with their usage, for the CLI, the lab plane and the admin API. Read-only; no rule is applied here
(statuses are the persisted verdicts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from server.store import Store, UnitOfWork
from server.store.rows import Reservation
from shared import compliance
from shared.clock import utc
from shared.tokens import status as token_status


def _iso(t: int | None) -> str | None:
    return utc(t).isoformat() if t is not None else None


async def pools(store: Store, *, va_name: str | None = None, policy_intervals: int = 5) -> list[dict[str, Any]]:
    """Per virtual account and license: purchased, in use, balance (surplus or deficit), status."""

    def body(uow: UnitOfWork) -> list[dict[str, Any]]:
        vas = uow.accounts.all_virtual_accounts()
        out = []
        for lic in uow.pools.all():
            va = vas.get(lic.virtual_account_id)
            if va is None or (va_name and va.name != va_name):
                continue
            p = lic.pool
            if p.ooc_since is not None:
                status = "Out of Compliance"
            elif p.over_count:
                status = f"In Compliance (over usage {p.over_count} of {policy_intervals})"
            else:
                status = "In Compliance"
            out.append(
                {
                    "virtual_account": va.name,
                    "license": lic.name,
                    "license_type": str(lic.license_type),
                    "usage_mode": str(lic.usage_mode),
                    "tag": lic.tag,
                    "purchased": lic.quantity,
                    "in_use": p.in_use,
                    "reserved": lic.reserved,
                    "balance": compliance.balance(lic.for_usage, p.in_use),
                    "status": status,
                    "out_of_compliance_since": _iso(p.ooc_since),
                    "last_interval": _iso(p.last_interval),
                }
            )
        return out

    return await store.read(body)


async def instances(
    store: Store, *, include_removed: bool = False, limit: int | None = None, offset: int = 0
) -> list[dict[str, Any]]:
    """Product instances with last contact, status and latest usage per license (a page of them
    when ``limit`` is given)."""

    def body(uow: UnitOfWork) -> list[dict[str, Any]]:
        vas = uow.accounts.all_virtual_accounts()
        names: dict[tuple[int, str], str] = {}
        out = []
        for i in uow.instances.page(include_removed=include_removed, limit=limit, offset=offset):
            va = vas.get(i.virtual_account_id)
            usage = []
            for row in uow.usage.latest(i.piid):
                key = (row.virtual_account_id, row.tag)
                if key not in names:
                    lic = uow.pools.by_tag(row.virtual_account_id, row.tag)
                    names[key] = lic.name if lic else row.tag
                usage.append(
                    {
                        "license": names[key],
                        "actual": row.peak,
                        "reported": row.reported,
                        "interval_end": _iso(row.interval_end),
                    }
                )
            out.append(
                {
                    "piid": i.piid,
                    "name": i.name,
                    "product": i.product,
                    "serial_number": i.serial_number,
                    "virtual_account": va.name if va else "?",
                    "license_type": str(i.license_type),
                    "usage_mode": str(i.usage_mode),
                    "status": str(i.status),
                    "out_of_compliance_since": _iso(i.ooc_since),
                    "registered_at": _iso(i.registered_at),
                    "authorized_at": _iso(i.authorized_at),
                    "last_contact_at": _iso(i.last_contact_at),
                    "cert_expires_at": _iso(i.cert_expires_at),
                    "removed_at": _iso(i.removed_at),
                    "usage": usage,
                }
            )
        return out

    return await store.read(body)


async def tokens(store: Store, now: datetime, *, va_id: int | None = None) -> list[dict[str, Any]]:
    """Registration tokens (never their secret) with their status at ``now``."""

    def body(uow: UnitOfWork) -> list[dict[str, Any]]:
        vas = uow.accounts.all_virtual_accounts()
        return [
            {
                "token_id": t.token_id,
                "virtual_account": vas[t.virtual_account_id].name if t.virtual_account_id in vas else "?",
                "status": str(token_status(t, now)),
                "expires_at": t.expires_at.isoformat(),
                "uses": t.uses,
                "max_uses": t.max_uses,
                "export_controlled": t.export_controlled,
                "description": t.description,
            }
            for t in uow.tokens.of(va_id)
        ]

    return await store.read(body)


async def accounts(store: Store) -> list[dict[str, Any]]:
    """Smart Accounts with the names of their virtual accounts."""

    def body(uow: UnitOfWork) -> list[dict[str, Any]]:
        return [
            {
                "domain": a.domain,
                "name": a.name,
                "export_control_allowed": a.export_control_allowed,
                "virtual_accounts": [v.name for v in uow.accounts.virtual_accounts(a.id)],
            }
            for a in uow.accounts.all()
        ]

    return await store.read(body)


async def reservations(store: Store) -> list[tuple[Reservation, str]]:
    """Devices holding Specific License Reservations, each with its virtual account's name."""

    def body(uow: UnitOfWork) -> list[tuple[Reservation, str]]:
        vas = uow.accounts.all_virtual_accounts()
        return [
            (r, vas[r.virtual_account_id].name if r.virtual_account_id in vas else "?") for r in uow.reservations.of()
        ]

    return await store.read(body)
