"""The pure ledger, table-driven, without an SSM: what a report, an authorization, a release and a
move do to the books (seed "License Consumption Calculation", Scenarios 1 and 2)."""

from __future__ import annotations

import dataclasses

import pytest

from shared import ledger
from shared.catalog import LicenseKey
from shared.compliance import PoolState
from shared.messages import Usage, UsageReport
from shared.policy import DEFAULT_POLICY as P
from shared.states import AuthorizationStatus, EntitlementStatus, LicenseType, UsageMode

Q = 900
PREMIUM = LicenseKey("Premium Agent", LicenseType.FLEX, UsageMode.PRODUCTION)
DIALER = LicenseKey("Dialer Ports", LicenseType.FLEX, UsageMode.PRODUCTION)
PERPETUAL = LicenseKey("Premium Agent", LicenseType.PERPETUAL, UsageMode.PRODUCTION)


def pool(key: LicenseKey = PREMIUM, purchased: int = 100, **state: int | None) -> ledger.Pool:
    return ledger.Pool(key.tag, key.name, key.license_type, key.usage_mode, purchased, 0, PoolState(**state))  # type: ignore[arg-type]


def books(*pools: ledger.Pool, latest: dict[str, ledger.Line] | None = None, **kw: object) -> ledger.Books:
    fields: dict[str, object] = {
        "piid": "p-1",
        "name": "ucce-1",
        "va_name": "DEFAULT",
        "license_type": LicenseType.FLEX,
        "usage_mode": UsageMode.PRODUCTION,
        "ooc_since": None,
        "pools": {p.tag: p for p in (pools or (pool(),))},
        "latest": latest or {},
    }
    fields.update(kw)
    return ledger.Books(**fields)  # type: ignore[arg-type]


def rep(k: int, peak: int, key: LicenseKey = PREMIUM, rid: str | None = None) -> UsageReport:
    return UsageReport(
        report_id=rid or f"p-1:{k * Q}",
        interval_start=(k - 1) * Q,
        interval_end=k * Q,
        usage=[Usage(tag=key.tag, peak=peak)],
    )


def play(b: ledger.Books, peaks: list[int], start: int = 1) -> tuple[ledger.Books, list[ledger.Outcome]]:
    """One report per interval; the books carried from each outcome to the next."""
    outs = []
    for k, peak in enumerate(peaks, start=start):
        out = ledger.report(b, [rep(k, peak)], k * Q, P)
        outs.append(out)
        b = out.books
    return b, outs


def test_scenario_1_lock_then_purchase() -> None:
    """130 used of 100 for five intervals: Out of Compliance at the fifth, the pool locked, the usage
    reported stays 130 when the actual falls to 90; a purchase covering the lock frees it."""
    b, outs = play(books(), [130] * 5)
    fifth = outs[-1]
    assert [o.verdict.status for o in outs if o.verdict] == [AuthorizationStatus.AUTHORIZED] * 4 + [
        AuthorizationStatus.OUT_OF_COMPLIANCE
    ]
    assert fifth.locking == [(PREMIUM.tag, True)]
    assert [n.kind for n in fifth.notices] == [ledger.INSUFFICIENT_LICENSES]
    assert {n.kind for n in fifth.notes} == {"pool_out_of_compliance", "instance_out_of_compliance"}
    assert b.pools[PREMIUM.tag].state.ooc_since == 5 * Q
    assert b.latest[PREMIUM.tag].locked == 130

    b, (six,) = play(b, [90], start=6)
    line, state = b.latest[PREMIUM.tag], b.pools[PREMIUM.tag].state
    assert (line.peak, line.reported, state.in_use, state.actual) == (90, 130, 130, 90)
    assert six.grants[0].reported == 130 and six.grants[0].status is EntitlementStatus.OUT_OF_COMPLIANCE
    assert six.locking == [] and six.notices == []

    bought = dataclasses.replace(b.pools[PREMIUM.tag], purchased=130)
    b = dataclasses.replace(b, pools={PREMIUM.tag: bought})
    b, (seven,) = play(b, [90], start=7)
    assert seven.locking == [(PREMIUM.tag, False)]
    assert b.latest[PREMIUM.tag].locked is None
    assert b.pools[PREMIUM.tag].state.in_use == 90  # back to the actual usage
    assert seven.verdict is not None and seven.verdict.since is None
    assert [n.kind for n in seven.notes] == ["pool_in_compliance", "instance_in_compliance"]


@pytest.mark.parametrize(
    ("peaks", "ooc"),
    [
        ([130, 130, 80, 130, 130, 130, 130], False),  # Scenario 2: the reset, then 4 of 5
        ([130, 130, 80, 130, 130, 130, 130, 130], True),
        ([100] * 8, False),  # exactly the purchased quantity is compliant
        ([101] * 5, True),
    ],
)
def test_consecutive_intervals_table(peaks: list[int], ooc: bool) -> None:
    b, _ = play(books(), peaks)
    assert (b.pools[PREMIUM.tag].state.ooc_since is not None) is ooc
    assert (b.ooc_since is not None) is ooc


def test_the_pool_is_shared_by_the_instances_of_the_account() -> None:
    """Another instance's 80 in the pool: this one's 30 puts the pool over 100."""
    shared = pool(in_use=80, actual=80)
    out = ledger.report(books(shared), [rep(1, 30)], Q, P)
    assert out.books.pools[PREMIUM.tag].state.in_use == 110
    assert out.books.pools[PREMIUM.tag].state.over_count == 1


def test_a_resent_report_is_never_counted_twice() -> None:
    b = books(seen=frozenset({f"p-1:{Q}"}))
    out = ledger.report(b, [rep(1, 130)], Q, P)
    assert out.duplicates == [f"p-1:{Q}"] and out.accepted == []
    assert out.reports == [] and out.lines == {} and out.pools == {}


def test_an_older_interval_changes_nothing_of_the_latest_line() -> None:
    latest = {PREMIUM.tag: ledger.Line(PREMIUM.tag, 5 * Q, 40)}
    out = ledger.report(books(pool(in_use=40, actual=40, last_interval=5 * Q), latest=latest), [rep(3, 99)], 5 * Q, P)
    assert out.books.latest[PREMIUM.tag].peak == 40
    assert out.books.pools[PREMIUM.tag].state.in_use == 40
    assert out.accepted == [f"p-1:{3 * Q}"]  # stored as received, all the same


def test_an_unknown_tag_is_stored_answered_and_never_counted() -> None:
    report = UsageReport(
        report_id="p-1:900", interval_start=0, interval_end=Q, usage=[Usage(tag="regid.bogus", peak=5, name="Bogus")]
    )
    out = ledger.report(books(), [report], Q, P)
    assert out.reports[0].lines[0].name == "Bogus"
    assert out.pools == {} and out.lines == {}
    assert out.grants[0].status is EntitlementStatus.INVALID_TAG


def test_a_license_the_account_lacks_is_a_new_pool_with_nothing_purchased() -> None:
    out = ledger.report(books(), [rep(1, 3, DIALER)], Q, P)
    created = out.pools[DIALER.tag]
    assert not created.exists and created.purchased == 0 and created.state.in_use == 3
    assert out.grants[0].status is EntitlementStatus.OUT_OF_COMPLIANCE


def test_a_license_type_the_account_holds_none_of_is_out_of_compliance() -> None:
    """Seed "Select License Type": the wrong type puts the instance Out of Compliance."""
    b = books(pool(PERPETUAL), license_type=LicenseType.FLEX)
    out = ledger.authorize(b, [(PREMIUM.tag, 0)], 7 * Q)
    assert out.verdict is not None and out.verdict.since == 7 * Q
    assert "holds no Flex Production licenses" in out.verdict.reason
    assert [n.kind for n in out.notes] == ["instance_out_of_compliance"]


def test_authorization_keeps_the_first_out_of_compliance_instant() -> None:
    b = books(pool(PERPETUAL), license_type=LicenseType.FLEX, ooc_since=3 * Q)
    out = ledger.authorize(b, [], 9 * Q)
    assert out.verdict is not None and out.verdict.since == 3 * Q
    assert out.notes == []  # no change, no event


def test_release_gives_the_reported_usage_back() -> None:
    latest = {PREMIUM.tag: ledger.Line(PREMIUM.tag, 5 * Q, 90, locked=130)}
    b = books(pool(in_use=200, actual=160, ooc_since=Q), latest=latest)
    out = ledger.release(b)
    state = out.pools[PREMIUM.tag].state
    assert (state.in_use, state.actual) == (70, 70)
    assert out.drop_lines and out.books.latest == {}


def test_carry_counts_the_peaks_again_unlocked() -> None:
    lines = [ledger.Line(PREMIUM.tag, 5 * Q, 90, locked=130), ledger.Line("regid.bogus", 5 * Q, 4)]
    out = ledger.carry(lines, books(pool(in_use=10, actual=10)))
    assert out.pools[PREMIUM.tag].state.in_use == 100
    assert out.lines == {PREMIUM.tag: ledger.Line(PREMIUM.tag, 5 * Q, 90, None)}


def test_reservations_come_before_usage() -> None:
    """50 of 100 reserved: 60 in use is over what usage may count on."""
    reserved = dataclasses.replace(pool(), reserved=50)
    out = ledger.report(books(reserved), [rep(1, 60)], Q, P)
    assert out.books.pools[PREMIUM.tag].state.interval_over
    assert "50 purchased for usage (50 more reserved)" in reserved.purchased_text()
