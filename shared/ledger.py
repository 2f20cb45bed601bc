"""The SSM's license ledger, sans-IO: what a report, an authorization, a release or a move does
to the books it touches.

The SSM loads the ``Books`` of one product instance (the pools of its virtual account, its
latest usage line of each license, the report ids already stored), calls one function here, and
writes the ``Outcome`` in the same transaction: load -> decide -> write. The pool rules are
``shared.compliance``'s (five consecutive over-usage intervals, locking, a purchase that covers
the lock); this module adds what follows from them for the instance and its virtual account:

- each report replaces the instance's latest peak of each license; the pool's in-use quantity
  (reported, possibly locked) and actual quantity (the peaks) follow incrementally;
- a pool entering Out of Compliance locks every instance's line at its peak, leaving it releases
  the locks (``Outcome.locking``: one statement for the whole pool) and its in-use quantity
  returns to the actual one;
- the instance's verdict: Out of Compliance when its virtual account holds none of its license
  type, or when a pool it reports a quantity of is Out of Compliance;
- the Table 5 status of each entitlement the instance asked about;
- a purchase (any new purchased quantity: a purchase, a transfer, an On-Prem synchronization) and
  every authorization renewal re-judge the virtual account: ``shared.rejudge``.

Pure: no IO, no clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from shared import compliance
from shared.catalog import license_by_tag
from shared.compliance import PoolState
from shared.messages import EntitlementGrant, UsageReport
from shared.policy import Policy
from shared.states import AuthorizationStatus, EntitlementStatus, LicenseType, UsageMode

if TYPE_CHECKING:
    from shared.rejudge import Rejudgement

INSUFFICIENT_LICENSES = "Insufficient Licenses"
ENFORCEMENT = "Licenses in Enforcement"


@dataclass(frozen=True, slots=True)
class Pool:
    """One license of a virtual account: what was purchased and reserved, and its compliance."""

    tag: str
    name: str
    license_type: LicenseType
    usage_mode: UsageMode
    purchased: int = 0
    reserved: int = 0
    state: PoolState = field(default_factory=PoolState)
    #: False for a license the virtual account does not hold yet (it is created with 0 purchased).
    exists: bool = True

    @property
    def for_usage(self) -> int:
        """The purchased quantity reported usage is judged against (reservations come first)."""
        return max(0, self.purchased - self.reserved)

    def describe(self, va_name: str) -> str:
        return f"{self.license_type} {self.usage_mode} {self.name} in virtual account {va_name}"

    def purchased_text(self) -> str:
        """``N purchased``, naming the reserved licenses that usage cannot count on."""
        if self.reserved:
            return f"{self.for_usage} purchased for usage ({self.reserved} more reserved)"
        return f"{self.purchased} purchased"


@dataclass(frozen=True, slots=True)
class Line:
    """An instance's latest reported usage of one license."""

    tag: str
    interval_end: int
    peak: int
    locked: int | None = None

    @property
    def reported(self) -> int:
        return compliance.reported(self.peak, self.locked)


@dataclass(frozen=True, slots=True)
class Books:
    """What one decision about one product instance needs."""

    piid: str
    name: str
    va_name: str
    license_type: LicenseType
    usage_mode: UsageMode
    #: The instance's persisted Out-of-Compliance start (its last verdict).
    ooc_since: int | None
    #: Every pool of the instance's virtual account, by entitlement tag.
    pools: Mapping[str, Pool]
    #: The instance's latest line of each license it reported.
    latest: Mapping[str, Line]
    #: Report ids already stored for this instance (a resent report is never counted twice).
    seen: frozenset[str] = frozenset()
    #: The instance's status on the SSM (a re-judgement changes only Authorized / Out of Compliance).
    status: AuthorizationStatus = AuthorizationStatus.AUTHORIZED

    @property
    def holds_type(self) -> bool:
        """Whether the virtual account holds any license of the instance's type and mode."""
        return any(
            p.license_type is self.license_type and p.usage_mode is self.usage_mode and p.purchased > 0
            for p in self.pools.values()
        )


@dataclass(frozen=True, slots=True)
class Notice:
    """A notification for the outbox (the e-mail the SSM would send)."""

    kind: str
    severity: str
    subject: str
    body: str
    piid: str | None = None


@dataclass(frozen=True, slots=True)
class Note:
    """An event for the SSM's event log."""

    kind: str
    message: str
    piid: str | None = None


@dataclass(frozen=True, slots=True)
class StoredLine:
    tag: str
    name: str
    peak: int
    #: The quantity counted for this interval (its peak, or the lock when higher: the License
    #: Consumption report's reported usage); None for an unknown tag or an interval judged already.
    reported: int | None = None
    #: Whether the pool was Out of Compliance once this interval was judged.
    ooc: bool | None = None


@dataclass(frozen=True, slots=True)
class ReportRow:
    """A usage report to store, as received (its lines with their catalog names)."""

    report_id: str
    interval_start: int
    interval_end: int
    lines: tuple[StoredLine, ...]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The instance's compliance: Out of Compliance since when (None: in compliance), and why."""

    since: int | None
    reason: str

    @property
    def status(self) -> AuthorizationStatus:
        return AuthorizationStatus.OUT_OF_COMPLIANCE if self.since is not None else AuthorizationStatus.AUTHORIZED


@dataclass
class Outcome:
    """What to write: every change a decision makes, in the order it was made."""

    books: Books
    accepted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    reports: list[ReportRow] = field(default_factory=list)
    #: Lines of the instance to insert or replace, by tag.
    lines: dict[str, Line] = field(default_factory=dict)
    #: Drop every line of the instance (released: deregistered, removed, moved).
    drop_lines: bool = False
    #: Pools whose state changed (or that must be created: ``exists`` False), by tag.
    pools: dict[str, Pool] = field(default_factory=dict)
    #: Pools entering (True: lock) or leaving (False: unlock) Out of Compliance, in order: every
    #: line of the pool is locked at its peak, or released.
    locking: list[tuple[str, bool]] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    verdict: Verdict | None = None
    grants: list[EntitlementGrant] = field(default_factory=list)
    #: The virtual account re-judged before this decision (an authorization renewal); written first.
    rejudged: Rejudgement | None = None
    #: (tag, interval end, in use) of each pool after each interval judged, when its in-use quantity
    #: moved: the pool's history (the portal's chart) keeps every interval of a batch of reports.
    samples: list[tuple[str, int, int]] = field(default_factory=list)

    def _sample(self, tag: str, at: int, in_use: int) -> None:
        last = next((x for x in reversed(self.samples) if x[0] == tag), None)
        if last is None or last[2] != in_use:
            self.samples.append((tag, at, in_use))

    def _set_pool(self, pool: Pool) -> None:
        self.pools[pool.tag] = pool
        self.books = dataclasses.replace(self.books, pools={**self.books.pools, pool.tag: pool})

    def _set_line(self, line: Line) -> None:
        self.lines[line.tag] = line
        self.books = dataclasses.replace(self.books, latest={**self.books.latest, line.tag: line})


# -- usage reports -------------------------------------------------------------------------------


def _pool_for(books: Books, tag: str) -> Pool | None:
    """The pool of ``tag`` (a new empty one for a catalog license the account lacks); None for an
    unknown tag (an Invalid Tag: answered, never counted)."""
    pool = books.pools.get(tag)
    if pool is not None:
        return pool
    key = license_by_tag(tag)
    if key is None:
        return None
    return Pool(tag, key.name, key.license_type, key.usage_mode, exists=False)


def _apply_report(out: Outcome, report: UsageReport, t: int, policy: Policy) -> None:
    stored = []
    for u in report.usage:
        key = license_by_tag(u.tag)
        stored.append(StoredLine(u.tag, key.name if key else u.name, u.peak))
    for i, u in enumerate(report.usage):
        pool = _pool_for(out.books, u.tag)
        if pool is None:
            continue
        state = pool.state
        prev = out.books.latest.get(u.tag)
        if prev is None or report.interval_end >= prev.interval_end:
            locked = None
            if state.ooc_since is not None:
                locked = max(prev.locked or 0, u.peak) if prev else u.peak
            line = Line(u.tag, report.interval_end, u.peak, locked)
            state = dataclasses.replace(
                state,
                in_use=state.in_use + line.reported - (prev.reported if prev else 0),
                actual=state.actual + line.peak - (prev.peak if prev else 0),
            )
            out._set_line(line)
        state, change = compliance.judge(state, report.interval_end, pool.for_usage, policy)
        if change.entered:
            out.locking.append((u.tag, True))
            own = out.books.latest.get(u.tag)
            if own is not None:
                out._set_line(dataclasses.replace(own, locked=max(own.peak, own.locked or 0)))
        if change.left:
            out.locking.append((u.tag, False))
            state = dataclasses.replace(state, in_use=state.actual)
            own = out.books.latest.get(u.tag)
            if own is not None and own.locked is not None:
                out._set_line(dataclasses.replace(own, locked=None))
        pool = dataclasses.replace(pool, state=state)
        out._set_pool(pool)
        out._sample(u.tag, report.interval_end, state.in_use)
        if change.entered or change.left:
            _pool_alert(out, pool, policy, entered=change.entered)
        own = out.books.latest.get(u.tag)
        counted = own.reported if own is not None and own.interval_end == report.interval_end else None
        was = stored[i]
        stored[i] = StoredLine(was.tag, was.name, was.peak, counted, state.ooc_since is not None)
    out.reports.append(ReportRow(report.report_id, report.interval_start, report.interval_end, tuple(stored)))


def _pool_alert(out: Outcome, pool: Pool, policy: Policy, *, entered: bool) -> None:
    where = pool.describe(out.books.va_name)
    state = pool.state
    if entered:
        out.notices.append(
            Notice(
                kind=INSUFFICIENT_LICENSES,
                severity="critical",
                subject=f"{INSUFFICIENT_LICENSES}: {pool.name}",
                body=f"{where}: {state.in_use} in use, {pool.purchased_text()}, for "
                f"{policy.ooc_consecutive_intervals} consecutive reporting intervals. Every product instance "
                "consuming it is Out of Compliance; usage is locked at its highest until licenses are purchased; "
                f"in {policy.ooc_grace.days} days it enters Enforcement.",
            )
        )
        out.notes.append(
            Note(
                "pool_out_of_compliance",
                f"{where} is Out of Compliance ({state.in_use} in use, {pool.purchased_text()})",
            )
        )
    else:
        out.notes.append(
            Note(
                "pool_in_compliance",
                f"{where} is back In Compliance ({state.in_use} in use, {pool.purchased_text()})",
            )
        )


def apply(books: Books, reports: Sequence[UsageReport], t: int, policy: Policy) -> Outcome:
    """Apply closed intervals to the pools, oldest first, each report id once."""
    out = Outcome(books)
    for r in reports:
        if r.report_id in out.books.seen:
            out.duplicates.append(r.report_id)
            continue
        _apply_report(out, r, t, policy)
        out.books = dataclasses.replace(out.books, seen=out.books.seen | {r.report_id})
        out.accepted.append(r.report_id)
    return out


def report(books: Books, reports: Sequence[UsageReport], t: int, policy: Policy) -> Outcome:
    """A product instance's usage report: ``apply``, then judge the instance and answer the status
    of each license of its newest accepted report (or of its latest lines)."""
    out = apply(books, reports, t, policy)
    _judge_instance(out, t)
    newest = next((r for r in reversed(reports) if r.report_id in out.accepted), None)
    if newest is not None:
        last = [(u.tag, u.name, u.peak) for u in newest.usage]
    else:
        last = [(line.tag, "", line.peak) for line in out.books.latest.values()]
    out.grants = grants(out.books, last)
    return out


# -- the instance's verdict and its entitlements ----------------------------------------------------


def license_type_reason(books: Books) -> str:
    """Why the instance is Out of Compliance by its license type, or '' (seed "Select License Type":
    a license type its virtual account holds none of)."""
    if books.holds_type:
        return ""
    return (
        f"the virtual account holds no {books.license_type} {books.usage_mode} licenses; "
        "select the license type you purchased (deregister, change it, register) or buy licenses"
    )


def verdict(books: Books, t: int) -> Verdict:
    """When the instance went Out of Compliance (or None) and why."""
    since: list[int] = []
    reasons: list[str] = []
    type_reason = license_type_reason(books)
    if type_reason:
        since.append(books.ooc_since or t)
        reasons.append(type_reason)
    for tag, line in books.latest.items():
        pool = books.pools.get(tag)
        if pool is not None and pool.state.ooc_since is not None and line.reported > 0:
            since.append(pool.state.ooc_since)
            reasons.append(
                f"{pool.name}: {pool.state.in_use} in use in the virtual account, {pool.purchased_text()} "
                f"({compliance.balance(pool.for_usage, pool.state.in_use)})"
            )
    return Verdict(min(since) if since else None, "; ".join(reasons))


def _judge_instance(out: Outcome, t: int) -> None:
    books = out.books
    v = verdict(books, t)
    out.verdict = v
    if v.since is not None and books.ooc_since is None:
        out.notes.append(
            Note("instance_out_of_compliance", f"{books.name} is Out of Compliance: {v.reason}", books.piid)
        )
    if v.since is None and books.ooc_since is not None:
        out.notes.append(Note("instance_in_compliance", f"{books.name} is back In Compliance", books.piid))
    out.books = dataclasses.replace(books, ooc_since=v.since)


def grants(books: Books, requests: Iterable[tuple[str, str, int]]) -> list[EntitlementGrant]:
    """Table 5 status of each (tag, name, actual count) for this instance."""
    out = []
    for tag, name, actual in requests:
        known = license_by_tag(tag)
        line = books.latest.get(tag)
        counted = line.reported if line else actual
        pool = books.pools.get(tag)
        if known is None:
            status = EntitlementStatus.INVALID_TAG
        elif actual == 0 and counted == 0:
            status = EntitlementStatus.NO_LICENSE_IN_USE
        elif pool is None or pool.for_usage == 0 or pool.state.ooc_since is not None:
            status = EntitlementStatus.OUT_OF_COMPLIANCE
        else:
            status = EntitlementStatus.IN_COMPLIANCE
        out.append(
            EntitlementGrant(
                tag=tag, name=known.name if known else name, status=status, requested=actual, reported=counted
            )
        )
    return out


def authorize(books: Books, requests: Iterable[tuple[str, int]], t: int) -> Outcome:
    """An authorization request: each entitlement's status and the instance's verdict (an
    authorization renewal re-judges the virtual account first: ``shared.rejudge.renewal``)."""
    out = Outcome(books)
    out.grants = grants(books, [(tag, "", count) for tag, count in requests])
    _judge_instance(out, t)
    return out


# -- instances leaving or moving -------------------------------------------------------------------


def release(books: Books) -> Outcome:
    """The instance's usage returns to its pools (deregistered, removed, moved); its lines go."""
    out = Outcome(books)
    for line in books.latest.values():
        pool = books.pools.get(line.tag)
        if pool is not None:
            state = dataclasses.replace(
                pool.state,
                in_use=max(0, pool.state.in_use - line.reported),
                actual=max(0, pool.state.actual - line.peak),
            )
            out._set_pool(dataclasses.replace(pool, state=state))
    out.drop_lines = True
    out.books = dataclasses.replace(out.books, latest={})
    return out


def carry(lines: Iterable[Line], books: Books) -> Outcome:
    """A reregistered or transferred instance brings its latest usage to its (possibly new)
    virtual account, unlocked."""
    out = Outcome(books)
    for line in lines:
        pool = _pool_for(out.books, line.tag)
        if pool is None:
            continue
        state = dataclasses.replace(
            pool.state, in_use=pool.state.in_use + line.peak, actual=pool.state.actual + line.peak
        )
        out._set_pool(dataclasses.replace(pool, state=state))
        out._set_line(Line(line.tag, line.interval_end, line.peak, None))
    return out


def rejudge(books: Books, t: int) -> Outcome:
    """Judge an instance again without a report of its own, after its pools changed under it (an
    On-Prem's synchronization brought the cloud's verdict): its verdict, with an event when it
    changed."""
    out = Outcome(books)
    _judge_instance(out, t)
    return out
