"""Flex subscription terms, sans-IO: when a term ends, which alerts are due, what renewal and
expiry do (seed "Select License Type": Flex is "a recurring subscription ... renewed periodically,
for example 1, 3, or 5 years"; Perpetual "a permanent and one-time payment license").

- A purchase of Flex licenses may carry a term: ``1y``, ``3y``, ``5y`` (any whole number of
  years), a number of days (``400d``) or an end date. A Perpetual purchase never carries one, and
  a Flex purchase without a term (the lab's seeded pools, every purchase made before terms
  existed) stays in the pool, as before.
- Terms are counted in whole days, as Cisco's portal shows them: a term starting on day D for N
  years ends on the day before D's N-th anniversary (its *end date*, the last day it is valid)
  and its licenses leave the pool at midnight UTC after that day (its *end instant*). ``--ends``
  names the end date itself.
- "Licenses Expiring" is sent 90, 60 and 30 days before the end instant, each at most once per
  term; a clock that jumps past several of them at once sends the nearest only.
- At the end instant "Licenses Expired" is sent and the term's quantity leaves the pool (never
  below none); the SSM then re-judges the virtual account (``shared.rejudge``). Usage above the
  smaller pool puts it Out of Compliance by the usual rule (five consecutive intervals over).
- A renewal extends an active term from its current end (the alerts start over); an expired term
  is bought again, not renewed.

Pure: no IO, no clock (every instant is an argument).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from shared.errors import BadRequest, Conflict

DAY = 86400
#: Days before the end instant when "Licenses Expiring" is sent (Cisco SSM's notices).
ALERT_DAYS: tuple[int, ...] = (90, 60, 30)
EXPIRING = "Licenses Expiring"
EXPIRED = "Licenses Expired"
#: The longest term (in years) a purchase or renewal may carry.
MAX_YEARS = 10

_YEARS = re.compile(r"^([1-9][0-9]?)y$")
_DAYS = re.compile(r"^([1-9][0-9]{0,3})d$")
_TERM_FIX = "pass --term 1y, 3y or 5y (any whole years up to 10), a number of days like 400d, or --ends YYYY-MM-DD"


@dataclass(frozen=True, slots=True)
class Length:
    """How long a term runs: whole years, days, or up to an end date (exactly one)."""

    years: int = 0
    days: int = 0
    ends: date | None = None

    def __str__(self) -> str:
        if self.ends is not None:
            return f"until {self.ends.isoformat()}"
        return f"{self.years}y" if self.years else f"{self.days}d"


def parse_length(term: str | None = None, ends: str | None = None) -> Length | None:
    """``--term 3y`` / ``--term 400d`` / ``--ends 2029-01-31`` -> a Length (None: no term).

    Raises:
        BadRequest: ``invalid_term`` (both given, or neither form).
    """
    if term and ends:
        raise BadRequest("a term is given by --term or by --ends, not both", code="invalid_term", fix=_TERM_FIX)
    if ends:
        try:
            return Length(ends=date.fromisoformat(ends.strip()))
        except ValueError:
            raise BadRequest(f"{ends[:40]!r} is not a date", code="invalid_term", fix=_TERM_FIX) from None
    if not term:
        return None
    text = term.strip().lower()
    if m := _YEARS.match(text):
        years = int(m.group(1))
        if years <= MAX_YEARS:
            return Length(years=years)
    elif m := _DAYS.match(text):
        days = int(m.group(1))
        if days <= MAX_YEARS * 366:
            return Length(days=days)
    raise BadRequest(f"{term[:40]!r} is not a term", code="invalid_term", fix=_TERM_FIX)


def _midnight(d: date) -> int:
    return int(datetime(d.year, d.month, d.day, tzinfo=UTC).timestamp())


def _day(t: int) -> date:
    return datetime.fromtimestamp(t, UTC).date()


def _add_years(d: date, years: int) -> date:
    try:
        return d.replace(year=d.year + years)
    except ValueError:  # 29 February: the anniversary is 1 March
        return d.replace(year=d.year + years, month=3, day=1)


def end_of(start: int, length: Length) -> int:
    """The end instant of a term starting at ``start`` (midnight UTC after its end date).

    Raises:
        BadRequest: ``invalid_term`` for an end date before the start's day or too far.
    """
    first = _day(start)
    if length.ends is not None:
        if length.ends < first:
            raise BadRequest(
                f"the end date {length.ends.isoformat()} is before the start ({first.isoformat()})",
                code="invalid_term",
                fix="pass an end date from today on",
            )
        if length.ends > _add_years(first, MAX_YEARS):
            raise BadRequest(
                f"a term runs at most {MAX_YEARS} years", code="invalid_term", fix="pass an earlier end date"
            )
        return _midnight(length.ends + timedelta(days=1))
    if length.years:
        return _midnight(_add_years(first, length.years))
    return _midnight(first + timedelta(days=length.days))


def end_date(end: int) -> date:
    """The last day a term ending at instant ``end`` is valid (what the portal and the API show)."""
    return _day(end - 1)


@dataclass(frozen=True, slots=True)
class Term:
    """What the SSM keeps about one term (epoch seconds)."""

    starts_at: int
    ends_at: int
    #: The nearest alert already sent (90, 60, 30 days before), None for none since the term
    #: began or was renewed.
    alerted: int | None = None
    expired: bool = False


@dataclass(frozen=True, slots=True)
class Check:
    """What is due at an instant: the alert to send (days before the end), expiry, the next look."""

    alert: int | None
    expire: bool
    alerted: int | None
    next_check_at: int | None


def _next(term: Term, alerted: int | None, t: int) -> int | None:
    if term.expired:
        return None
    ahead = [term.ends_at - d * DAY for d in ALERT_DAYS if alerted is None or d < alerted]
    return min([x for x in ahead if x > t] + [term.ends_at])


def check(term: Term, t: int) -> Check:
    """What is due for ``term`` at instant ``t``: an expiring alert (the nearest one not sent yet
    whose instant has come), or expiry at the end instant (and never before)."""
    if term.expired:
        return Check(None, False, term.alerted, None)
    if t >= term.ends_at:
        return Check(None, True, term.alerted, None)
    due = [d for d in ALERT_DAYS if t >= term.ends_at - d * DAY and (term.alerted is None or d < term.alerted)]
    alert = min(due) if due else None
    alerted = alert if alert is not None else term.alerted
    return Check(alert, False, alerted, _next(term, alerted, t))


def next_check(term: Term, t: int) -> int | None:
    """The next instant ``check`` has something to say (after a purchase or a renewal at ``t``)."""
    return check(term, t).next_check_at


def renew(term: Term, length: Length, t: int) -> Term:
    """The term extended from its current end; its alerts start over.

    Raises:
        Conflict: ``term_expired`` for a term already ended (buy again instead).
        BadRequest: ``invalid_term`` for an end date not after the current one.
    """
    if term.expired or t >= term.ends_at:
        raise Conflict(
            f"the term ended on {end_date(term.ends_at).isoformat()}; its licenses left the pool",
            code="term_expired",
            fix="buy the licenses again with a term ('ssm-server license add --term 1y ...')",
        )
    if length.ends is not None:
        ends = _midnight(length.ends + timedelta(days=1))
        if ends <= term.ends_at:
            raise BadRequest(
                f"the term already runs until {end_date(term.ends_at).isoformat()}",
                code="invalid_term",
                fix="pass an end date after the current one",
            )
        if length.ends > _add_years(_day(t), MAX_YEARS):
            raise BadRequest(
                f"a term runs at most {MAX_YEARS} years from today", code="invalid_term", fix="pass an earlier date"
            )
        return Term(term.starts_at, ends)
    current_last = _day(term.ends_at)  # the end instant is a midnight: its day is the day after the end date
    extended = _add_years(current_last, length.years) if length.years else current_last + timedelta(days=length.days)
    return Term(term.starts_at, _midnight(extended))


def remaining(purchased: int, quantity: int) -> int:
    """The pool's purchased quantity once a term of ``quantity`` licenses left it."""
    return max(0, purchased - quantity)


def expiring_text(days: int, quantity: int, what: str, end: int) -> str:
    return (
        f"{quantity} {what} expire on {end_date(end).isoformat()} (in {days} days): they leave the pool at the end "
        "of that day unless the subscription is renewed"
    )


def expired_text(quantity: int, what: str, end: int, left: int) -> str:
    return (
        f"the subscription of {quantity} {what} ended on {end_date(end).isoformat()}: they left the pool "
        f"({left} purchased now); usage above it puts the pool Out of Compliance after five intervals"
    )
