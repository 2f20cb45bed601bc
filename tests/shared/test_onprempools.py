"""An On-Prem's pools take the cloud's verdict on the shared pool (``shared.onprempools.share``),
and its own ledger judges its instances against them (``ledger.rejudge``, ``ledger.report``)."""

from __future__ import annotations

import dataclasses

import pytest

from shared import ledger
from shared.catalog import LicenseKey
from shared.compliance import PoolState
from shared.messages import Usage, UsageReport
from shared.onprempools import CloudPool, LocalUsage, share
from shared.policy import DEFAULT_POLICY as P
from shared.states import AuthorizationStatus, LicenseType, UsageMode

PREMIUM = LicenseKey("Premium Agent", LicenseType.FLEX, UsageMode.PRODUCTION)
DIALER = LicenseKey("Dialer Ports", LicenseType.FLEX, UsageMode.PRODUCTION)
DAY = 86400


def pool(key: LicenseKey = PREMIUM, purchased: int = 100, **state: int | None) -> ledger.Pool:
    return ledger.Pool(key.tag, key.name, key.license_type, key.usage_mode, purchased, 0, PoolState(**state))  # type: ignore[arg-type]


def cloud(key: LicenseKey = PREMIUM, purchased: int = 100, in_use: int = 0, mine: int = 0, since: int | None = None):  # type: ignore[no-untyped-def]
    return CloudPool(key.tag, key.name, key.license_type, key.usage_mode, purchased, in_use, mine, since)


@pytest.mark.parametrize(
    ("before", "down", "local", "purchased", "in_use", "since", "locking"),
    [
        # the cloud's direct instances use 90 of 100, this On-Prem 30 (as synchronized): shared pool over
        (pool(in_use=30, actual=30), cloud(in_use=120, mine=30, since=5 * DAY), (30, 30), 100, 120, 5 * DAY, [True]),
        # the On-Prem's usage moved since the request (40 now): counted with the others' 90
        (pool(in_use=40, actual=40), cloud(in_use=120, mine=30, since=5 * DAY), (40, 40), 100, 130, 5 * DAY, [True]),
        # the On-Prem found it first (day 3): the earlier date stands
        (
            pool(in_use=130, ooc_since=3 * DAY),
            cloud(in_use=130, mine=30, since=5 * DAY),
            (30, 30),
            100,
            130,
            3 * DAY,
            [],
        ),
        # the cloud is back In Compliance after a purchase: locks released, in use is the actual usage
        (
            pool(in_use=130, actual=120, ooc_since=3 * DAY),
            cloud(purchased=150, in_use=120, mine=30),
            (40, 30),
            150,
            120,
            None,
            [False],
        ),
        # the cloud has not judged it yet but the shared pool is still over locally: it stays
        (pool(in_use=130, ooc_since=3 * DAY), cloud(in_use=100, mine=10), (40, 40), 100, 130, 3 * DAY, []),
        # nothing over anywhere
        (pool(in_use=10, actual=10), cloud(in_use=50, mine=10), (10, 10), 100, 50, None, []),
        # a pool the cloud no longer lists holds nothing there
        (pool(in_use=0), None, (0, 0), 0, 0, None, []),
    ],
)
def test_the_onprem_pool_becomes_the_shared_pool(
    before: ledger.Pool,
    down: CloudPool | None,
    local: tuple[int, int],
    purchased: int,
    in_use: int,
    since: int | None,
    locking: list[bool],
) -> None:
    out = share({before.tag: before}, {before.tag: LocalUsage(*local)}, [down] if down else [], "DEFAULT")
    after = out.pools[before.tag]
    assert (after.purchased, after.state.in_use, after.state.ooc_since) == (purchased, in_use, since)
    assert [lock for _, lock in out.locking] == locking
    assert len(out.notes) == len(locking)


def test_a_license_only_the_cloud_holds_gets_a_pool() -> None:
    out = share({}, {}, [cloud(DIALER, purchased=50, in_use=20)], "DEFAULT")
    assert not out.pools[DIALER.tag].exists and out.pools[DIALER.tag].purchased == 50
    assert out.pools[DIALER.tag].state.in_use == 20


def test_the_onprem_instance_is_judged_against_the_shared_pool() -> None:
    """Out of Compliance at once (rejudge), and at its next report it stays so while the shared
    pool is over: its own 30 are within the 100 purchased, the cloud's others use 90."""
    shared = share({PREMIUM.tag: pool(in_use=30, actual=30)}, {PREMIUM.tag: LocalUsage(30, 30)},
                   [cloud(in_use=120, mine=30, since=5 * DAY)], "DEFAULT").pools  # fmt: skip
    line = ledger.Line(PREMIUM.tag, 4 * DAY, 30, 30)
    books = ledger.Books("p-1", "ucce-1", "DEFAULT", LicenseType.FLEX, UsageMode.PRODUCTION, None, shared,
                         {PREMIUM.tag: line})  # fmt: skip
    judged = ledger.rejudge(books, 6 * DAY)
    assert judged.verdict is not None and judged.verdict.since == 5 * DAY
    assert judged.verdict.status is AuthorizationStatus.OUT_OF_COMPLIANCE
    assert [n.kind for n in judged.notes] == ["instance_out_of_compliance"]
    later = dataclasses.replace(books, ooc_since=5 * DAY)
    report = UsageReport(report_id="r", interval_start=6 * DAY, interval_end=6 * DAY + 900,
                         usage=[Usage(tag=PREMIUM.tag, peak=20)])  # fmt: skip
    out = ledger.report(later, [report], 6 * DAY + 900, P)
    assert out.verdict is not None and out.verdict.since == 5 * DAY  # locked at 30: still 120 of 100
    assert ledger.rejudge(dataclasses.replace(books, pools={PREMIUM.tag: pool()}), 6 * DAY).verdict == ledger.Verdict(
        None, ""
    )
