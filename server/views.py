"""The SSM's read views: license pools (purchased, in use, balance, status) and product instances
with their usage, for the CLI, the lab plane and the admin API. Read-only; no rule is applied here
(statuses are the persisted verdicts)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from server.onprem.link import Link
from server.store import Store, UnitOfWork
from server.store.rows import BehindOnPrem, Reservation, VirtualAccount
from shared import compliance, sync
from shared.clock import utc
from shared.policy import Policy
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
    """Product instances with last contact, status and latest usage per license, then those of the
    SSM On-Prems registered here (``onprem``: which On-Prem they are behind); a page of them when
    ``limit`` is given."""

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
                    "onprem": None,
                }
            )
        # Then the product instances of the SSM On-Prems registered here, as their last
        # synchronization listed them (the page goes on across both).
        more = None if limit is None else limit - len(out)
        if more is None or more > 0:
            skip = max(0, offset - uow.instances.count(include_removed=include_removed))
            for b in uow.satellites.behind(include_removed=include_removed, limit=more, offset=skip):
                out.append(_behind(b, vas))
        return out

    return await store.read(body)


def _behind(b: BehindOnPrem, vas: Mapping[int, VirtualAccount]) -> dict[str, Any]:
    """A product instance of an SSM On-Prem: what its last synchronization said, and which On-Prem."""
    i = b.instance
    va = vas.get(b.virtual_account_id)
    return {
        "piid": i.piid,
        "name": i.name,
        "product": i.product,
        "serial_number": i.serial_number,
        "virtual_account": va.name if va else "?",
        "license_type": None,
        "usage_mode": None,
        "status": i.status,
        "out_of_compliance_since": None,
        "registered_at": None,
        "authorized_at": None,
        "last_contact_at": _iso(i.last_contact_at),
        "cert_expires_at": None,
        "removed_at": _iso(b.onprem_removed_at),
        "usage": [],
        "onprem": {"piid": i.satellite, "name": b.onprem_name, "virtual_account": i.virtual_account},
    }


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


async def onprems(store: Store, policy: Policy) -> list[dict[str, Any]]:
    """The SSM On-Prems registered to this cloud SSM (removed ones too): their last
    synchronization, its sequence, the deadline after which the cloud removes them, their product
    instances and the alerts raised."""

    def body(uow: UnitOfWork) -> list[dict[str, Any]]:
        vas = uow.accounts.all_virtual_accounts()
        out = []
        for i in uow.instances.of_product(sync.ONPREM_PRODUCT, include_removed=True):
            sat = uow.satellites.get(i.piid)
            va = vas.get(i.virtual_account_id)
            if i.removed_at is not None:
                status = f"removed ({i.removed_reason})"
            elif sat is None:
                status = "registered, never synchronized"
            else:
                status = "registered"
            out.append(
                {
                    "name": i.name,
                    "piid": i.piid,
                    "virtual_account": va.name if va else "?",
                    "registered_at": _iso(i.registered_at),
                    "sequence": sat.sequence if sat else 0,
                    "last_sync": _iso(sat.last_sync) if sat else None,
                    "deadline": _iso(sat.last_sync + int(policy.sync_deadline.total_seconds()))
                    if sat and i.removed_at is None
                    else None,
                    "instances": len(uow.satellites.inventory(i.piid)),
                    "status": status,
                    "removed_at": _iso(i.removed_at),
                    "alerts": sorted(sat.alerted) if sat else [],
                }
            )
        return out

    return await store.read(body)


def onprem_link(link: Link, sync_mode: str) -> dict[str, Any]:
    """An SSM On-Prem's link to the cloud: its name and account there, sequences, last
    synchronization, deadline and last failure."""
    return {
        "name": link.name,
        "cloud": link.cloud_url,
        "piid": link.piid,
        "account_domain": link.account_domain,
        "virtual_account": link.virtual_account,
        "mode": sync_mode,
        "sequence": link.sequence,
        "applied": link.applied,
        "last_sync": _iso(link.last_sync),
        "deadline": _iso(link.deadline),
        "last_error": link.last_error,
        "last_error_code": link.last_error_code,
        "last_error_at": _iso(link.last_error_at),
    }
