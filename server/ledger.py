"""The SSM's license ledger: usage reports applied to pools, the verdict on each instance, and
usage released or carried when an instance leaves or moves.

The rules are in ``shared.compliance``; this module applies them inside the caller's write
transaction (a ``Queries`` on the writer), so a report and its consequences commit together.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from server.queries import Instance, Latest, License, SyncQueries
from server.store import Store
from shared import compliance
from shared.catalog import license_by_tag
from shared.clock import epoch, utc
from shared.errors import BadRequest, Conflict, NotFound
from shared.messages import EntitlementGrant, UsageReport
from shared.policy import Policy
from shared.states import AuthorizationStatus, EntitlementStatus

INSUFFICIENT_LICENSES = "Insufficient Licenses"
ENFORCEMENT = "Licenses in Enforcement"


@dataclass
class Books:
    """One instance's view of its virtual account's pools and its own latest usage, kept current
    while a transaction applies reports."""

    instance: Instance
    pools: dict[str, License]
    latest: dict[str, Latest]
    holds_type: bool
    changed: set[str] = field(default_factory=set)

    @classmethod
    def open(cls, tx: SyncQueries, instance: Instance, tags: list[str] | None = None) -> Books:
        """The instance's latest usage and the pools of those licenses and of ``tags``."""
        va = instance.virtual_account_id
        latest = {r.tag: r for r in tx.latest_usage(instance.piid)}
        needed = sorted(set(latest) | set(tags or ()))
        pools = {p.tag: p for p in tx.licenses_with_tags(va, needed)} if needed else {}
        return cls(instance, pools, latest, tx.holds_license_type(va, instance.license_type, instance.usage_mode))

    def close(self, tx: SyncQueries) -> None:
        """Persist every pool a report touched."""
        for tag in self.changed:
            tx.save_pool(self.pools[tag].id, self.pools[tag].pool)


def check_report(report: UsageReport, now: datetime, window: timedelta) -> None:
    """Refuse a report that cannot describe a closed interval.

    Raises:
        BadRequest: ``invalid_report`` naming the problem.
    """
    problem = None
    if report.interval_end <= report.interval_start:
        problem = "its interval ends before it starts"
    elif report.interval_end - report.interval_start > 86400:
        problem = "its interval is longer than a day"
    elif report.interval_end > epoch(now + window):
        problem = f"its interval ends in the future ({utc(report.interval_end).isoformat()})"
    elif len({u.tag for u in report.usage}) != len(report.usage):
        problem = "it names a license twice"
    if problem:
        raise BadRequest(
            f"usage report {report.report_id} is invalid: {problem}",
            code="invalid_report",
            fix="report each closed interval once, with each license once, oldest first",
        )


def apply_report(tx: SyncQueries, books: Books, report: UsageReport, now: datetime, policy: Policy) -> bool:
    """Store a report and count it: update the instance's latest usage, judge each pool it touches,
    lock or unlock pools entering or leaving Out of Compliance. False (nothing changed) when the
    report id was stored before: a resent report is never counted twice."""
    inst = books.instance
    va_id = inst.virtual_account_id
    lines = []
    for u in report.usage:
        key = license_by_tag(u.tag)
        lines.append({"tag": u.tag, "name": key.name if key else u.name, "peak": u.peak})
    if not tx.insert_report(
        report_id=report.report_id,
        piid=inst.piid,
        interval_start=report.interval_start,
        interval_end=report.interval_end,
        received_at=epoch(now),
        lines=json.dumps(lines),
    ):
        return False
    for u in report.usage:
        key = license_by_tag(u.tag)
        if key is None:
            continue  # an Invalid Tag: answered, never counted
        pool = books.pools.get(u.tag) or tx.ensure_pool(
            va_id=va_id, name=key.name, license_type=key.license_type, usage_mode=key.usage_mode, tag=u.tag
        )
        state = pool.pool
        prev = books.latest.get(u.tag)
        if prev is None or report.interval_end >= prev.interval_end:
            locked = None
            if state.ooc_since is not None:
                locked = max(prev.locked or 0, u.peak) if prev else u.peak
            row = Latest(inst.piid, u.tag, va_id, report.interval_end, u.peak, locked)
            state = dataclasses.replace(state, in_use=state.in_use + row.reported - (prev.reported if prev else 0))
            books.latest[u.tag] = row
            tx.save_latest(row)
        state, change = compliance.judge(state, report.interval_end, pool.for_usage, policy)
        if change.entered:
            tx.lock_pool(va_id, u.tag)
            pool_alert(tx, pool, state, now, policy, entered=True)
        if change.left:
            state = dataclasses.replace(state, in_use=tx.unlock_pool(va_id, u.tag))
            pool_alert(tx, pool, state, now, policy, entered=False)
        if change.entered or change.left:
            books.latest = {r.tag: r for r in tx.latest_usage(inst.piid)}
        books.pools[u.tag] = dataclasses.replace(pool, pool=state)
        books.changed.add(u.tag)
    return True


def purchased(pool: License) -> str:
    """``N purchased``, naming the reserved licenses that usage cannot count on."""
    if pool.reserved:
        return f"{pool.for_usage} purchased for usage ({pool.reserved} more reserved)"
    return f"{pool.quantity} purchased"


def pool_alert(
    tx: SyncQueries, pool: License, state: compliance.PoolState, now: datetime, policy: Policy, *, entered: bool
) -> None:
    va = tx.virtual_account(pool.virtual_account_id)
    where = f"{pool.license_type} {pool.usage_mode} {pool.name} in virtual account {va.name if va else '?'}"
    if entered:
        body = (
            f"{where}: {state.in_use} in use, {purchased(pool)}, for "
            f"{policy.ooc_consecutive_intervals} consecutive reporting intervals. Every product instance "
            "consuming it is Out of Compliance; usage is locked at its highest until licenses are purchased; "
            f"in {policy.ooc_grace.days} days it enters Enforcement."
        )
        tx.notify(
            at=now,
            kind=INSUFFICIENT_LICENSES,
            severity="critical",
            va_id=pool.virtual_account_id,
            subject=f"{INSUFFICIENT_LICENSES}: {pool.name}",
            body=body,
        )
        message = f"{where} is Out of Compliance ({state.in_use} in use, {purchased(pool)})"
        tx.add_event(at=now, kind="pool_out_of_compliance", va_id=pool.virtual_account_id, message=message)
    else:
        message = f"{where} is back In Compliance ({state.in_use} in use, {purchased(pool)})"
        tx.add_event(at=now, kind="pool_in_compliance", va_id=pool.virtual_account_id, message=message)


def license_type_reason(instance: Instance, holds_type: bool) -> str:
    """Why the instance is Out of Compliance by its license type, or '' (seed "Select License Type":
    a license type the virtual account holds none of)."""
    if holds_type:
        return ""
    return (
        f"the virtual account holds no {instance.license_type} {instance.usage_mode} licenses; "
        "select the license type you purchased (deregister, change it, register) or buy licenses"
    )


def verdict(books: Books, t: int) -> tuple[int | None, str]:
    """When the instance went Out of Compliance (or None) and why: a license type its virtual
    account holds none of, or a pool it draws from that is Out of Compliance."""
    inst = books.instance
    since: list[int] = []
    reasons: list[str] = []
    type_reason = license_type_reason(inst, books.holds_type)
    if type_reason:
        since.append(inst.ooc_since or t)
        reasons.append(type_reason)
    for tag, row in books.latest.items():
        pool = books.pools.get(tag)
        if pool is not None and pool.pool.ooc_since is not None and row.reported > 0:
            since.append(pool.pool.ooc_since)
            reasons.append(
                f"{pool.name}: {pool.pool.in_use} in use in the virtual account, {purchased(pool)} "
                f"({compliance.balance(pool.for_usage, pool.pool.in_use)})"
            )
    return (min(since) if since else None), "; ".join(reasons)


def set_verdict(
    tx: SyncQueries, inst: Instance, since: int | None, reason: str, now: datetime, *, contact: bool = False
) -> None:
    """Persist the instance's verdict (and, with ``contact``, that it just reported)."""
    status = AuthorizationStatus.OUT_OF_COMPLIANCE if since is not None else AuthorizationStatus.AUTHORIZED
    if contact:
        tx.reported(inst.piid, now, status=status, ooc_since=since)
    else:
        tx.set_instance_compliance(inst.piid, status=status, ooc_since=since)
    if since is not None and inst.ooc_since is None:
        tx.add_event(
            at=now,
            kind="instance_out_of_compliance",
            va_id=inst.virtual_account_id,
            piid=inst.piid,
            message=f"{inst.name} is Out of Compliance: {reason}",
        )
    if since is None and inst.ooc_since is not None:
        tx.add_event(
            at=now,
            kind="instance_in_compliance",
            va_id=inst.virtual_account_id,
            piid=inst.piid,
            message=f"{inst.name} is back In Compliance",
        )


def grants(books: Books, requests: list[tuple[str, str, int]]) -> list[EntitlementGrant]:
    """Table 5 status of each (tag, name, actual count) for this instance."""
    out = []
    for tag, name, actual in requests:
        known = license_by_tag(tag)
        row = books.latest.get(tag)
        counted = row.reported if row else actual
        pool = books.pools.get(tag)
        if known is None:
            status = EntitlementStatus.INVALID_TAG
        elif actual == 0 and counted == 0:
            status = EntitlementStatus.NO_LICENSE_IN_USE
        elif pool is None or pool.for_usage == 0 or pool.pool.ooc_since is not None:
            status = EntitlementStatus.OUT_OF_COMPLIANCE
        else:
            status = EntitlementStatus.IN_COMPLIANCE
        out.append(
            EntitlementGrant(
                tag=tag, name=known.name if known else name, status=status, requested=actual, reported=counted
            )
        )
    return out


def release(tx: SyncQueries, piid: str) -> list[Latest]:
    """Return an instance's usage to its pools (deregistered, removed, moved); the rows released."""
    rows = tx.latest_usage(piid)
    for row in rows:
        pool = tx.license_by_tag(row.virtual_account_id, row.tag)
        if pool is not None:
            tx.save_pool(pool.id, dataclasses.replace(pool.pool, in_use=max(0, pool.pool.in_use - row.reported)))
    tx.delete_latest(piid)
    return rows


def carry(tx: SyncQueries, rows: list[Latest], *, piid: str, va_id: int) -> None:
    """A reregistered instance brings its latest usage to its (possibly new) virtual account."""
    for row in rows:
        key = license_by_tag(row.tag)
        if key is None:
            continue
        pool = tx.ensure_pool(
            va_id=va_id, name=key.name, license_type=key.license_type, usage_mode=key.usage_mode, tag=row.tag
        )
        tx.save_pool(pool.id, dataclasses.replace(pool.pool, in_use=pool.pool.in_use + row.peak))
        tx.save_latest(Latest(piid, row.tag, va_id, row.interval_end, row.peak, None))


async def remove_instance(store: Store, piid: str, now: datetime, *, by: str) -> Instance:
    """The admin's "remove product instance": its licenses are released; it must register again.

    Raises:
        NotFound: ``instance_not_found``.
        Conflict: ``instance_already_removed``.
    """

    def body(tx: SyncQueries) -> Instance:
        instance = tx.instance(piid)
        if instance is None:
            raise NotFound(
                f"no product instance {piid!r}",
                code="instance_not_found",
                fix="list instances with 'ssm-server instance list'",
            )
        if instance.removed_at is not None:
            raise Conflict(f"product instance {piid} was already removed", code="instance_already_removed")
        tx.mark_removed(piid, now, "removed")
        release(tx, piid)
        tx.add_event(
            at=now,
            kind="instance_removed",
            va_id=instance.virtual_account_id,
            piid=piid,
            message=f"{instance.name} removed by {by}; its licenses returned to the virtual account",
        )
        return instance

    instance = await store.run(body)
    return instance
