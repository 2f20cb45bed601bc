"""Flex subscription terms on the SSM: a purchase with a term, its alerts and its expiry on the
domain clock, renewal (the rules: ``shared.terms``).

A term is a lot of a pool (``uow.terms``). The SSM's watch (``server.watch``) wakes at each
term's next instant (``next_check_at``): 90, 60 and 30 days before the end it sends "Licenses
Expiring", at the end "Licenses Expired" and the lot leaves the pool, the virtual account being
re-judged as after any change of the purchased quantity (``shared.rejudge.purchase``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from server import books
from server.store import Store, UnitOfWork
from server.store.rows import License, LicenseTerm
from shared import rejudge, terms
from shared.clock import epoch, utc
from shared.errors import BadRequest, NotFound
from shared.states import LicenseType


def check_length(license_type: LicenseType, length: terms.Length | None) -> None:
    """Only Flex licenses are bought with a term.

    Raises:
        BadRequest: ``term_on_perpetual``.
    """
    if length is not None and license_type is not LicenseType.FLEX:
        raise BadRequest(
            f"{license_type} licenses never expire: they are bought without a term",
            code="term_on_perpetual",
            fix="leave out --term/--ends, or buy Flex licenses (--type Flex)",
        )


def start_term(uow: UnitOfWork, pool: License, quantity: int, t: int, length: terms.Length) -> LicenseTerm:
    """A purchase of ``quantity`` licenses of ``pool`` at ``t`` with a term: its lot, stored."""
    ends = terms.end_of(t, length)
    sub = uow.terms.add(
        license_id=pool.id,
        quantity=quantity,
        starts_at=t,
        ends_at=ends,
        next_check_at=terms.next_check(terms.Term(t, ends), t),
    )
    found = uow.terms.by_subscription(sub)
    assert found is not None
    uow.events.add(
        at=t,
        kind="term_started",
        va_id=pool.virtual_account_id,
        message=f"subscription {sub}: {quantity} {_what(pool)} until {terms.end_date(ends).isoformat()}",
    )
    return found


def _what(pool: License) -> str:
    return f"{pool.license_type} {pool.usage_mode} {pool.name}"


def _find(uow: UnitOfWork, subscription_id: str) -> tuple[LicenseTerm, License]:
    term = uow.terms.by_subscription(subscription_id)
    pool = uow.pools.get(term.license_id) if term is not None else None
    if term is None or pool is None:
        raise NotFound(
            f"no subscription {subscription_id!r}",
            code="subscription_not_found",
            fix="list the subscriptions with 'ssm-server license terms'",
        )
    return term, pool


async def renew(store: Store, subscription_id: str, length: terms.Length, now: datetime) -> LicenseTerm:
    """Extend a term from its current end (its pending expiry and alerts start over).

    Raises:
        NotFound: ``subscription_not_found``.
        Conflict: ``term_expired`` (``shared.terms.renew``).
        BadRequest: ``invalid_term``.
    """
    t = epoch(now)

    def body(uow: UnitOfWork) -> LicenseTerm:
        term, pool = _find(uow, subscription_id)
        renewed = terms.renew(term.term, length, t)
        uow.terms.renew(term.id, ends_at=renewed.ends_at, at=t, next_check_at=terms.next_check(renewed, t))
        uow.events.add(
            at=t,
            kind="term_renewed",
            va_id=pool.virtual_account_id,
            message=f"subscription {subscription_id} renewed ({length}): {term.quantity} {_what(pool)} until "
            f"{terms.end_date(renewed.ends_at).isoformat()}",
        )
        found = uow.terms.by_subscription(subscription_id)
        assert found is not None
        return found

    return await store.write(body)


def run_due(uow: UnitOfWork, t: int) -> int:
    """The watch at ``t``: every term whose instant came, alerted or expired. Returns alerts sent."""
    sent = 0
    for row in uow.terms.due(t):
        pool = uow.pools.get(row.license_id)
        if pool is None:  # (its account was reset)
            uow.terms.expire(row.id, t)
            continue
        c = terms.check(row.term, t)
        if c.alert is not None:
            sent += 1
            text = terms.expiring_text(c.alert, row.quantity, _what(pool), row.ends_at)
            _notify(uow, pool, t, terms.EXPIRING, "warning", row, text)
        if c.expire:
            sent += 1
            _expire(uow, pool, row, t)
        else:
            uow.terms.set_checked(row.id, alerted=c.alerted, next_check_at=c.next_check_at)
    return sent


def _notify(uow: UnitOfWork, pool: License, t: int, kind: str, severity: str, row: LicenseTerm, text: str) -> None:
    va = uow.accounts.virtual_account(pool.virtual_account_id)
    where = f"virtual account {va.name if va else '?'}"
    uow.events.notify(
        at=t,
        kind=kind,
        severity=severity,
        va_id=pool.virtual_account_id,
        subject=f"{kind}: {pool.name} ({row.subscription_id})",
        body=f"Subscription {row.subscription_id} in {where}: {text}.",
    )
    uow.events.add(at=t, kind="alert", va_id=pool.virtual_account_id, message=f"{kind}: {row.subscription_id}")


def _expire(uow: UnitOfWork, pool: License, row: LicenseTerm, t: int) -> None:
    """The lot leaves the pool at its end instant; the account is re-judged at once."""
    va_id = pool.virtual_account_id
    loaded = books.load_account(uow, va_id)
    held = loaded.pools[pool.tag].purchased if pool.tag in loaded.pools else 0
    left = terms.remaining(held, row.quantity)
    outcome = rejudge.purchase(loaded, {pool.tag: left}, t)
    books.write_rejudgement(uow, outcome, va_id=va_id, at=t)
    uow.terms.expire(row.id, t)
    text = terms.expired_text(row.quantity, _what(pool), row.ends_at, left)
    _notify(uow, pool, t, terms.EXPIRED, "critical", row, text)


def term_view(row: LicenseTerm, pool: License, va_name: str, t: int) -> dict[str, object]:
    """A term as the CLI and the lab plane show it."""
    if row.expired_at is not None:
        status = "Expired"
    else:
        left = (row.ends_at - t) // terms.DAY
        status = f"Active ({left} days left)" if left <= max(terms.ALERT_DAYS) else "Active"
    return {
        "subscription_id": row.subscription_id,
        "virtual_account": va_name,
        "license": pool.name,
        "license_type": str(pool.license_type),
        "usage_mode": str(pool.usage_mode),
        "quantity": row.quantity,
        "start_date": utc(row.starts_at).date().isoformat(),
        "end_date": terms.end_date(row.ends_at).isoformat(),
        "status": status,
    }


@dataclass(frozen=True, slots=True)
class Detail:
    """One line of a pool's license details: a term, or the licenses bought without one."""

    quantity: int
    starts_at: int
    #: the end instant; None for licenses bought without a term
    ends_at: int | None
    subscription_id: str


def details(pool: License, lots: list[LicenseTerm], since: int, t: int) -> list[Detail]:
    """The pool's quantity as the admin API details it: each active term (never more than the
    pool holds), then what was bought without a term (``since``: its first purchase)."""
    out: list[Detail] = []
    left = pool.quantity
    for lot in lots:
        if lot.expired_at is not None or lot.ends_at <= t or left <= 0:
            continue
        n = min(lot.quantity, left)
        left -= n
        out.append(Detail(n, lot.starts_at, lot.ends_at, lot.subscription_id))
    if left > 0 or not out:
        out.insert(0, Detail(left, since, None, f"Sub{pool.id:06d}"))
    return out
