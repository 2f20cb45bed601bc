"""The SSM's read views: license pools (purchased, in use, balance, status) and product instances
with their usage, for the CLI, the lab plane and the admin API. Read-only; no rule is applied here
(statuses are the persisted verdicts)."""

from __future__ import annotations

from typing import Any

from server.queries import VirtualAccount
from server.store import Store
from shared import compliance
from shared.clock import utc


def _iso(t: int | None) -> str | None:
    return utc(t).isoformat() if t is not None else None


async def pools(store: Store, *, va_name: str | None = None, policy_intervals: int = 5) -> list[dict[str, Any]]:
    """Per virtual account and license: purchased, in use, balance (surplus or deficit), status."""
    out = []
    vas: dict[int, VirtualAccount | None] = {}
    for lic in await store.read.all_licenses():
        if lic.virtual_account_id not in vas:
            vas[lic.virtual_account_id] = await store.read.virtual_account(lic.virtual_account_id)
        va = vas[lic.virtual_account_id]
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


async def instances(
    store: Store, *, include_removed: bool = False, limit: int | None = None, offset: int = 0
) -> list[dict[str, Any]]:
    """Product instances with last contact, status and latest usage per license (a page of them
    when ``limit`` is given)."""
    out = []
    names: dict[str, str] = {}
    for i in await store.read.instances(include_removed=include_removed, limit=limit, offset=offset):
        va = await store.read.virtual_account(i.virtual_account_id)
        usage = []
        for row in await store.read.latest_usage(i.piid):
            if row.tag not in names:
                lic = await store.read.license_by_tag(row.virtual_account_id, row.tag)
                names[row.tag] = lic.name if lic else row.tag
            usage.append(
                {
                    "license": names[row.tag],
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
