"""Pool compliance, pure: five consecutive over-usage intervals, a compliant one resets the count,
several instances reporting one interval count it once, and a purchase that covers the lock
returns the pool to compliance."""

from __future__ import annotations

import dataclasses

import pytest

from shared import compliance
from shared.compliance import PoolState
from shared.policy import DEFAULT_POLICY as P

Q = 900


def run(usages: list[int], purchased: int = 100, policy=P) -> list[PoolState]:  # type: ignore[no-untyped-def]
    pool, states = PoolState(), []
    for k, used in enumerate(usages, start=1):
        pool = dataclasses.replace(pool, in_use=used)
        pool, _ = compliance.judge(pool, k * Q, purchased, policy)
        states.append(pool)
    return states


@pytest.mark.parametrize(
    ("usages", "ooc_at"),
    [
        ([130] * 5, 5),
        ([130] * 4, None),
        ([130, 130, 80, 130, 130, 130, 130], None),  # seed Scenario 2: the reset, then 4 of 5
        ([130, 130, 80, 130, 130, 130, 130, 130], 8),  # ...and the fifth
        ([100] * 10, None),  # exactly the purchased quantity is compliant
        ([101] * 5, 5),
    ],
)
def test_consecutive_over_usage_table(usages: list[int], ooc_at: int | None) -> None:
    """Out of Compliance at the fifth consecutive over-usage interval, never before."""
    states = run(usages)
    first = next((k for k, s in enumerate(states, start=1) if s.out_of_compliance), None)
    assert first == ooc_at
    if ooc_at:
        assert states[ooc_at - 1].ooc_since == ooc_at * Q


def test_the_count_after_a_reset_is_one_of_five() -> None:
    """Scenario 2: two overages, compliance (count 0), the next overage counts 1."""
    states = run([130, 130, 80, 130])
    assert [s.over_count for s in states] == [1, 2, 0, 1]


def test_the_policy_may_say_four() -> None:
    """The seed also says four: the threshold is the policy's."""
    four = dataclasses.replace(P, ooc_consecutive_intervals=4)
    assert run([130] * 4, policy=four)[-1].out_of_compliance


def test_one_interval_reported_by_two_instances_counts_once() -> None:
    """Two reports of the same interval (two CVPs) count it once; an over verdict from the second
    report of an interval still counts."""
    pool = PoolState()
    for k in range(1, 5):
        for _ in range(2):
            pool, _ = compliance.judge(dataclasses.replace(pool, in_use=120), k * Q, 100, P)
    assert pool.over_count == 4
    pool, _ = compliance.judge(dataclasses.replace(pool, in_use=90), 5 * Q, 100, P)  # first CVP of interval 5
    assert pool.over_count == 0
    pool, change = compliance.judge(dataclasses.replace(pool, in_use=120), 5 * Q, 100, P)  # second: over after all
    assert pool.over_count == 5 and change.entered and pool.ooc_since == 5 * Q


def test_late_reports_of_a_judged_interval_do_not_count() -> None:
    """A report of an interval older than the newest judged one changes nothing."""
    pool = run([130, 130])[-1]
    again, change = compliance.judge(dataclasses.replace(pool, in_use=130), Q, 100, P)
    assert again.over_count == 2 and change == compliance.Change()


def test_leaving_out_of_compliance_needs_the_lock_covered() -> None:
    """Out of Compliance the pool stays so while the (locked) in-use exceeds the purchase; the first
    report after a purchase covering it leaves, with the count reset."""
    pool = run([130] * 5)[-1]
    pool, change = compliance.judge(dataclasses.replace(pool, in_use=130), 6 * Q, 120, P)
    assert pool.out_of_compliance and not change.left
    pool, change = compliance.judge(pool, 7 * Q, 130, P)
    assert not pool.out_of_compliance and change.left and pool.over_count == 0


def test_balance() -> None:
    """The SSM's balance column shows surplus and deficit."""
    assert compliance.balance(100, 80) == "+20 surplus"
    assert compliance.balance(100, 130) == "-30 deficit"
