"""The Alerts of a Smart Account, read from the SSM's outbox (the notifications it would e-mail).

Each notification becomes a row of CSSM's Alerts table: Severity (Major for the SSM's critical
notices, Minor for its warnings), Message, Source, Action Due. The due date is the deadline the
notice announces, from the persisted instants and the policy: Enforcement of an Out-of-Compliance
pool, expiry of a silent instance's authorization and the Enforcement after it, an On-Prem's
synchronization deadline, the end of a Flex subscription term. An alert whose cause is gone
(licenses purchased, the instance or the On-Prem back in contact, the term renewed) is Resolved
and leaves the counts. Read-only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from server.store import UnitOfWork
from server.store.rows import Account, Instance, License, Notification
from shared import ledger, sync, terms, watch
from shared.policy import Policy

MAJOR = "Major"
MINOR = "Minor"
_SEVERITY = {"critical": MAJOR}
#: A term's alerts name its subscription last: "Licenses Expiring: Premium Agent (Sub000001-1)".
_SUBSCRIPTION = re.compile(r"\((Sub[0-9]+-[0-9]+)\)$")
#: How many of the latest notifications the page reads.
LIMIT = 500


@dataclass(frozen=True, slots=True)
class AlertRow:
    severity: str
    kind: str
    subject: str
    body: str
    va: str
    instance: str
    raised: int
    #: the deadline the alert announces (None: none, or resolved), and whether it has passed
    due: int | None
    overdue: bool
    resolved: bool


def _seconds(policy: Policy, *names: str) -> int:
    return sum(int(getattr(policy, n).total_seconds()) for n in names)


class _Reads:
    """What the alerts read, once per page (many notifications name the same pools)."""

    def __init__(self, uow: UnitOfWork) -> None:
        self.uow = uow
        self._pools: dict[int, list[License]] = {}
        self._instances: dict[str, Instance | None] = {}

    def pools(self, va_id: int) -> list[License]:
        if va_id not in self._pools:
            self._pools[va_id] = self.uow.pools.of(va_id)
        return self._pools[va_id]

    def instance(self, piid: str | None) -> Instance | None:
        if piid is None:
            return None
        if piid not in self._instances:
            self._instances[piid] = self.uow.instances.get(piid)
        return self._instances[piid]


def _pool_alert(reads: _Reads, n: Notification, policy: Policy) -> tuple[int | None, bool]:
    """An Out-of-Compliance pool (Insufficient Licenses, Enforcement): due at Enforcement."""
    name = n.subject.split(": ", 1)[-1]
    ooc = [
        p.pool.ooc_since
        for p in reads.pools(n.virtual_account_id or 0)
        if p.name == name and p.pool.ooc_since is not None and p.pool.ooc_since <= n.at
    ]
    if not ooc:
        return None, True
    return min(ooc) + _seconds(policy, "ooc_grace"), False


def _instance_alert(inst: Instance | None, n: Notification, policy: Policy) -> tuple[int | None, bool]:
    """A silent instance: due when its authorization expires, then when Enforcement starts."""
    if inst is None or inst.removed_at is not None or inst.last_contact_at > n.at:
        return None, True
    if n.kind == watch.FAILED_TO_RENEW:
        return inst.last_contact_at + _seconds(policy, "auth_expiry"), False
    return inst.last_contact_at + _seconds(policy, "auth_expiry", "auth_overage"), False


def _sync_alert(uow: UnitOfWork, n: Notification, policy: Policy) -> tuple[int | None, bool]:
    """An On-Prem's synchronization: due at its 90-day deadline."""
    sat = uow.satellites.get(n.piid) if n.piid else None
    if n.kind == sync.SYNC_REMOVED:
        return None, False
    if sat is None or sat.last_sync > n.at:
        return None, True
    return sat.last_sync + _seconds(policy, "sync_deadline"), False


def _term_alert(uow: UnitOfWork, n: Notification) -> tuple[int | None, bool]:
    """A Flex subscription term: Licenses Expiring is due at its end and resolved by a renewal
    (or superseded by Licenses Expired, which stays open)."""
    found = _SUBSCRIPTION.search(n.subject)
    term = uow.terms.by_subscription(found.group(1)) if found else None
    if n.kind == terms.EXPIRED:
        return None, False
    if term is None or term.expired_at is not None or (term.renewed_at or 0) >= n.at:
        return None, True
    return term.ends_at, False


def _due(reads: _Reads, n: Notification, inst: Instance | None, policy: Policy) -> tuple[int | None, bool]:
    if n.kind in (ledger.INSUFFICIENT_LICENSES, ledger.ENFORCEMENT):
        return _pool_alert(reads, n, policy)
    if n.kind in (watch.FAILED_TO_RENEW, watch.FAILED_TO_CONNECT):
        return _instance_alert(inst, n, policy)
    if n.kind in (sync.SYNC_OVERDUE, sync.SYNC_DEADLINE, sync.SYNC_REMOVED):
        return _sync_alert(reads.uow, n, policy)
    if n.kind in (terms.EXPIRING, terms.EXPIRED):
        return _term_alert(reads.uow, n)
    return None, False


def alerts(uow: UnitOfWork, account: Account, policy: Policy, now: int) -> list[AlertRow]:
    """The account's alerts: open ones first, Major before Minor, the earliest due first."""
    vas = {v.id: v for v in uow.accounts.virtual_accounts(account.id)}
    reads = _Reads(uow)
    rows = []
    for n in uow.events.outbox(limit=LIMIT):
        va = vas.get(n.virtual_account_id or 0)
        if va is None:
            continue
        inst = reads.instance(n.piid)
        due, resolved = _due(reads, n, inst, policy)
        rows.append(
            AlertRow(
                severity=_SEVERITY.get(n.severity, MINOR),
                kind=n.kind,
                subject=n.subject,
                body=n.body,
                va=va.name,
                instance=inst.name if inst else "",
                raised=n.at,
                due=due,
                overdue=due is not None and due <= now,
                resolved=resolved,
            )
        )
    rows.sort(key=lambda r: (r.resolved, r.severity != MAJOR, r.due is None, r.due or 0, -r.raised))
    return rows


def counts(rows: list[AlertRow], va: str | None = None) -> tuple[int, int]:
    """Open (Major, Minor) alerts (of one virtual account)."""
    live = [r for r in rows if not r.resolved and (va is None or r.va == va)]
    return sum(r.severity == MAJOR for r in live), sum(r.severity != MAJOR for r in live)
