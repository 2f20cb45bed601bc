"""Flex subscription terms: end instants, 90/60/30-day alerts once each, expiry exactly at the end,
renewal."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from shared import terms
from shared.errors import BadRequest, Conflict
from shared.terms import DAY, Length, Term

START = int(datetime(2026, 1, 5, 9, 30, tzinfo=UTC).timestamp())


def _at(y: int, m: int, d: int) -> int:
    return int(datetime(y, m, d, tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("term", "ends", "expected"),
    [
        ("1y", None, Length(years=1)),
        ("3y", None, Length(years=3)),
        ("5Y", None, Length(years=5)),
        ("400d", None, Length(days=400)),
        (None, "2029-01-31", Length(ends=date(2029, 1, 31))),
        (None, None, None),
    ],
)
def test_parse_length(term: str | None, ends: str | None, expected: Length | None) -> None:
    assert terms.parse_length(term, ends) == expected


@pytest.mark.parametrize(
    ("term", "ends"), [("3", None), ("0y", None), ("11y", None), ("3m", None), ("1y", "2029-01-01"), (None, "soon")]
)
def test_parse_length_refuses(term: str | None, ends: str | None) -> None:
    with pytest.raises(BadRequest) as err:
        terms.parse_length(term, ends)
    assert err.value.code == "invalid_term" and err.value.fix


def test_end_instants_are_midnights_after_the_end_date() -> None:
    three = terms.end_of(START, Length(years=3))
    assert three == _at(2029, 1, 5) and terms.end_date(three) == date(2029, 1, 4)
    assert terms.end_of(START, Length(days=400)) == _at(2026, 1, 5) + 400 * DAY
    assert terms.end_of(START, Length(ends=date(2029, 1, 31))) == _at(2029, 2, 1)
    # 29 February: the anniversary is 1 March
    assert terms.end_of(_at(2028, 2, 29), Length(years=1)) == _at(2029, 3, 1)
    with pytest.raises(BadRequest):
        terms.end_of(START, Length(ends=date(2025, 12, 31)))


def test_expiry_exactly_at_the_end_instant_not_before() -> None:
    term = Term(START, _at(2029, 1, 5), alerted=30)
    before = terms.check(term, term.ends_at - 1)
    assert not before.expire and before.next_check_at == term.ends_at
    at = terms.check(term, term.ends_at)
    assert at.expire and at.next_check_at is None
    assert not terms.check(Term(START, term.ends_at, expired=True), term.ends_at + DAY).expire


def test_alerts_90_60_30_each_once() -> None:
    end = _at(2029, 1, 5)
    term = Term(START, end)
    assert terms.next_check(term, START) == end - 90 * DAY
    sent = []
    t = START
    while True:
        c = terms.check(term, t)
        if c.alert is not None:
            sent.append((c.alert, (end - t) // DAY))
        if c.expire or c.next_check_at is None:
            break
        term = Term(term.starts_at, term.ends_at, c.alerted)
        assert terms.check(term, t).alert is None  # asked again at the same instant: nothing new
        t = c.next_check_at
    assert sent == [(90, 90), (60, 60), (30, 30)]
    assert t == end


def test_a_jump_past_several_alerts_sends_the_nearest_only() -> None:
    end = _at(2029, 1, 5)
    c = terms.check(Term(START, end), end - 45 * DAY)
    assert c.alert == 60 and c.alerted == 60 and c.next_check_at == end - 30 * DAY
    # a jump past the end: expiry, no expiring alert
    c = terms.check(Term(START, end), end + 400 * DAY)
    assert c.expire and c.alert is None


def test_renewal_extends_from_the_current_end_and_alerts_start_over() -> None:
    end = _at(2027, 1, 5)
    term = Term(START, end, alerted=30)
    renewed = terms.renew(term, Length(years=1), end - 10 * DAY)
    assert renewed.ends_at == _at(2028, 1, 5) and renewed.alerted is None and renewed.starts_at == START
    # the pending expiry is gone: the next look is the new term's 90-day alert
    assert not terms.check(renewed, end).expire
    assert terms.next_check(renewed, end - 10 * DAY) == renewed.ends_at - 90 * DAY
    assert terms.renew(term, Length(days=30), end - DAY).ends_at == end + 30 * DAY
    assert terms.renew(term, Length(ends=date(2027, 6, 30)), end - DAY).ends_at == _at(2027, 7, 1)
    with pytest.raises(BadRequest):
        terms.renew(term, Length(ends=date(2027, 1, 4)), end - DAY)


def test_an_ended_term_is_not_renewed() -> None:
    end = _at(2027, 1, 5)
    for term, t in ((Term(START, end), end), (Term(START, end, expired=True), end + DAY)):
        with pytest.raises(Conflict) as err:
            terms.renew(term, Length(years=1), t)
        assert err.value.code == "term_expired"


def test_remaining_never_below_none() -> None:
    assert terms.remaining(150, 50) == 100
    assert terms.remaining(30, 50) == 0
