"""The License Consumption report of the SSM (``shared.licenseconsumption``): the stored usage
reports of a period, read once and shaped as rows, CSV or chart series. Used by the CLI
(``ssm-server report consumption``), the admin API and the portal."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from server.accounts import find_account, find_va
from server.store import Store, UnitOfWork
from shared import licenseconsumption as lc
from shared.clock import epoch
from shared.errors import BadRequest

#: The most stored reports one report reads (about a year of two instances' 15-minute intervals).
MAX_REPORTS = 100_000
#: The period when none is given: the last 7 days.
DEFAULT_DAYS = 7
#: The longest period one report covers.
MAX_DAYS = 366


@dataclass(frozen=True, slots=True)
class Period:
    start: int
    end: int

    @property
    def label(self) -> str:
        return f"{lc.iso(self.start)} to {lc.iso(self.end)}"


def _instant(text: str, what: str) -> int:
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return epoch(datetime(d.year, d.month, d.day, tzinfo=UTC))
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"{what} {text[:40]!r} is not a date",
            code="invalid_period",
            fix="pass dates as YYYY-MM-DD (midnight UTC) or ISO 8601 instants like 2026-01-05T09:00:00Z",
        ) from None
    return epoch(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def period(start: str | None, end: str | None, now: datetime) -> Period:
    """``--from`` / ``--to`` (dates or instants; default: the last 7 days up to now).

    Raises:
        BadRequest: ``invalid_period``.
    """
    stop = _instant(end, "to") if end else epoch(now)
    first = _instant(start, "from") if start else stop - DEFAULT_DAYS * 86400
    if first >= stop:
        raise BadRequest(
            f"the period starts ({lc.iso(first)}) at or after its end ({lc.iso(stop)})",
            code="invalid_period",
            fix="give a start before the end (--from before --to; from before to in the admin API)",
        )
    if stop - first > MAX_DAYS * 86400:
        raise BadRequest(
            f"a report covers at most {MAX_DAYS} days, not {(stop - first) // 86400}",
            code="invalid_period",
            fix="choose a shorter period (several reports for a longer one)",
        )
    return Period(first, stop)


async def report(store: Store, p: Period, *, account: str | None = None, va: str | None = None) -> list[lc.Row]:
    """The report's rows over ``p`` for one virtual account (``va``) or all of the account's.

    Raises:
        NotFound: an unknown account or virtual account.
        BadRequest: ``report_too_large``.
    """

    def body(uow: UnitOfWork) -> list[lc.Row]:
        acct = find_account(uow, account)
        names = {v.id: v.name for v in uow.accounts.virtual_accounts(acct.id)}
        va_id = find_va(uow, acct, va).id if va else None
        found = uow.usage.between(p.start, p.end, va_id, limit=MAX_REPORTS + 1)
        if len(found) > MAX_REPORTS:
            raise BadRequest(
                f"the period holds more than {MAX_REPORTS} usage reports",
                code="report_too_large",
                fix="choose a shorter period or one virtual account",
            )
        intervals = [
            lc.Interval(r.piid, name, names[va_id_of], r.interval_start, r.interval_end, json.loads(r.lines))
            for r, name, va_id_of in found
            if va_id_of in names
        ]
        return lc.rows(intervals, start=p.start, end=p.end)

    return await store.read(body)


def last(days: int, now: datetime) -> Period:
    """The last ``days`` days up to ``now`` (the portal's period choice)."""
    return Period(epoch(now - timedelta(days=days)), epoch(now))
