"""A virtual account re-judged outside any reported interval, sans-IO: a purchase (any new purchased
quantity: a purchase, a transfer between virtual accounts, an On-Prem synchronization) and every
authorization renewal.

Usage reports judge the pools they touch interval by interval (``shared.ledger``). An idle
instance sends no report, so a pool whose (locked) usage a purchase now covers would stay Out of
Compliance until Enforcement, waiting for a report that never comes. So a change of the purchased
quantity, and every authorization renewal, re-judges the whole account at once:

- each pool whose purchased quantity (less reservations) covers its in-use quantity leaves Out of
  Compliance: its locks are released and its in-use quantity returns to the actual usage
  (``shared.compliance.rejudge``; entering Out of Compliance still takes consecutive intervals);
- every instance of the account gets its verdict again (``shared.ledger.verdict``); the SSM
  stores it at once and the instance learns it at its next contact (an authorization renewal or
  a usage report).

The SSM loads the ``Account`` (``server.books.load_account``), calls one function here and writes
the ``Rejudgement`` in the same transaction. Pure: no IO, no clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from shared import compliance, ledger
from shared.catalog import license_by_tag
from shared.ledger import Books, Note, Pool, Verdict
from shared.states import AuthorizationStatus


@dataclass(frozen=True, slots=True)
class Account:
    """A virtual account's books: its pools and the books of the registered instances in it whose
    verdict may change (all of them for new quantities; those Out of Compliance for a renewal)."""

    va_name: str
    pools: Mapping[str, Pool]
    #: By piid; each instance's ``pools`` are the account's.
    members: Mapping[str, Books] = field(default_factory=dict)


@dataclass
class Rejudgement:
    """What a re-judgement of a virtual account writes."""

    account: Account
    #: Pools whose quantity or state changed (or that must be created: ``exists`` False), by tag.
    pools: dict[str, Pool] = field(default_factory=dict)
    #: Pools leaving Out of Compliance: every line of each is unlocked.
    unlocked: list[str] = field(default_factory=list)
    #: Instances whose verdict changed: piid -> (verdict, the status to store on the SSM).
    verdicts: dict[str, tuple[Verdict, AuthorizationStatus]] = field(default_factory=dict)
    notes: list[Note] = field(default_factory=list)

    def _set_pool(self, pool: Pool) -> None:
        self.pools[pool.tag] = pool
        self.account = dataclasses.replace(self.account, pools={**self.account.pools, pool.tag: pool})

    def books_of(self, books: Books) -> Books:
        """The books of an instance of the account, with its pools and locks as re-judged."""
        latest = {
            tag: dataclasses.replace(line, locked=None) if tag in self.unlocked else line
            for tag, line in books.latest.items()
        }
        return dataclasses.replace(books, pools=self.account.pools, latest=latest)


def stored_status(current: AuthorizationStatus, verdict: Verdict) -> AuthorizationStatus:
    """The instance's status on the SSM after a re-judgement: the verdict decides between Authorized
    and Out of Compliance; an expired (or never granted) authorization stays what it is."""
    if current in (AuthorizationStatus.AUTHORIZED, AuthorizationStatus.OUT_OF_COMPLIANCE):
        return verdict.status
    return current


def rejudge(account: Account, t: int, *, skip: str | None = None) -> Rejudgement:
    """Judge every pool of the account and every instance in it but ``skip`` (whose verdict its
    caller decides)."""
    out = Rejudgement(account)
    for pool in account.pools.values():
        state, change = compliance.rejudge(pool.state, pool.for_usage)
        if not change.left:
            continue
        out.unlocked.append(pool.tag)
        pool = dataclasses.replace(pool, state=dataclasses.replace(state, in_use=state.actual))
        out._set_pool(pool)
        out.notes.append(
            Note(
                "pool_in_compliance",
                f"{pool.describe(account.va_name)} is back In Compliance "
                f"({pool.state.in_use} in use, {pool.purchased_text()})",
            )
        )
    _judge_members(out, t, skip)
    return out


def verdicts(account: Account, t: int) -> Rejudgement:
    """Every instance of the account judged again against its pools as they are (an SSM On-Prem's
    pools after a synchronization brought the cloud's verdict on them: ``shared.onprempools``)."""
    out = Rejudgement(account)
    _judge_members(out, t, None)
    return out


def _judge_members(out: Rejudgement, t: int, skip: str | None) -> None:
    for piid, member in out.account.members.items():
        if piid == skip:
            continue
        judged = ledger.rejudge(out.books_of(member), t)
        assert judged.verdict is not None
        status = stored_status(member.status, judged.verdict)
        if judged.verdict.since != member.ooc_since or status is not member.status:
            out.verdicts[piid] = (judged.verdict, status)
            out.notes += judged.notes


def purchase(account: Account, quantities: Mapping[str, int], t: int) -> Rejudgement:
    """New purchased quantities of some licenses of the account (by tag), then ``rejudge``.

    Raises:
        ValueError: a tag the catalog does not know, or a negative quantity (the caller's bug).
    """
    pools = dict(account.pools)
    for tag, quantity in quantities.items():
        pool = pools.get(tag)
        if pool is None:
            key = license_by_tag(tag)
            if key is None:
                raise ValueError(f"no license with tag {tag!r}")
            pool = Pool(tag, key.name, key.license_type, key.usage_mode, exists=False)
        if quantity < 0:
            raise ValueError(f"a purchased quantity cannot be negative ({tag}: {quantity})")
        pools[tag] = dataclasses.replace(pool, purchased=quantity)
    out = rejudge(dataclasses.replace(account, pools=pools), t)
    for tag in quantities:
        out.pools.setdefault(tag, out.account.pools[tag])
    return out


def renewal(account: Account, books: Books, requests: Iterable[tuple[str, int]], t: int) -> ledger.Outcome:
    """An authorization renewal of the instance of ``books``: its account re-judged, then the
    instance's entitlements and verdict (``ledger.authorize``); the outcome carries both."""
    rejudged = rejudge(account, t, skip=books.piid)
    outcome = ledger.authorize(rejudged.books_of(books), requests, t)
    outcome.rejudged = rejudged
    return outcome
