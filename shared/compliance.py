"""License pool compliance, sans-IO: the seed's "License Consumption Calculation".

A pool is one license (one entitlement tag) in one virtual account: every product instance of
that virtual account consuming the license draws from it. Instances report the peak in-use count
of each 15-minute interval; the pool's in-use quantity is the sum of each instance's latest
reported quantity.

- An interval in which the in-use quantity exceeds the purchased quantity is an over-usage
  interval. ``policy.ooc_consecutive_intervals`` (5) consecutive ones put the pool, and every
  instance consuming it, Out of Compliance. A compliant interval resets the count (seed Scenario 2:
  two overages, then compliance: still In Compliance; the next overage counts 1 of 5).
- Out of Compliance, each instance's reported quantity is locked at the highest usage seen since
  it began (seed Scenario 1: 130 of 100 purchased stays 130 when actual usage falls). The pool
  returns to In Compliance at the first report after the purchased quantity covers the locked
  usage; locks are then released.
- A purchase (or any change of the purchased quantity) and every authorization renewal re-judge
  the pool at once (``rejudge``): an idle instance sends no report, so waiting for the next one
  would leave a pool the purchase covers Out of Compliance until Enforcement. A re-judgement
  only ever leaves Out of Compliance; entering it takes consecutive reported intervals.
- 90 days Out of Compliance: Enforcement (``lifecycle`` derives it from ``ooc_since``).

Several instances report for the same interval at slightly different times; an interval's
verdict is over-usage if any report of it found the pool over, counted once.

Pure: no IO, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from shared.policy import Policy


@dataclass(frozen=True, slots=True)
class PoolState:
    """What the SSM keeps about one pool between reports."""

    #: Reported usage of every instance in the pool (each one's peak, or its lock when higher).
    in_use: int = 0
    #: Actual usage: the sum of the instances' peaks. When the locks are released (back In
    #: Compliance) the pool's in-use quantity returns to this.
    actual: int = 0
    last_interval: int | None = None  # end instant of the newest interval judged
    interval_over: bool = False  # that interval's verdict so far
    count_before: int = 0  # consecutive over-usage intervals before it
    ooc_since: int | None = None

    @property
    def over_count(self) -> int:
        """Consecutive over-usage intervals ending with the newest (0 when it was compliant)."""
        return self.count_before + 1 if self.interval_over else 0

    @property
    def out_of_compliance(self) -> bool:
        return self.ooc_since is not None


@dataclass(frozen=True, slots=True)
class Change:
    """What a judgement changed: entered or left Out of Compliance (None: neither)."""

    entered: bool = False
    left: bool = False


def reported(peak: int, locked: int | None) -> int:
    """The quantity an instance reports for a license: its peak, or its lock when higher."""
    return peak if locked is None else max(peak, locked)


def judge(pool: PoolState, interval_end: int, purchased: int, policy: Policy) -> tuple[PoolState, Change]:
    """Judge the pool for the interval ending at ``interval_end``, given its in-use quantity.

    Reports of an interval older than the newest judged one change the quantities but are not
    counted again (that interval was judged already).
    """
    over = pool.in_use > purchased
    if pool.ooc_since is not None:
        if not over and (pool.last_interval is None or interval_end >= pool.last_interval):
            # The purchase (or lower locked usage) covers the pool: back In Compliance.
            return (
                replace(pool, ooc_since=None, last_interval=interval_end, interval_over=False, count_before=0),
                Change(left=True),
            )
        return replace(pool, last_interval=max(interval_end, pool.last_interval or interval_end)), Change()
    if pool.last_interval is None or interval_end > pool.last_interval:
        # count_before keeps the chain so far: a later report of this same interval may still
        # find it over (another instance's usage), and then the chain continues.
        pool = replace(pool, last_interval=interval_end, count_before=pool.over_count, interval_over=over)
    elif interval_end == pool.last_interval and over and not pool.interval_over:
        pool = replace(pool, interval_over=True)
    else:
        return pool, Change()
    if pool.over_count >= policy.ooc_consecutive_intervals:
        return replace(pool, ooc_since=interval_end), Change(entered=True)
    return pool, Change()


def rejudge(pool: PoolState, purchased: int) -> tuple[PoolState, Change]:
    """Judge the pool outside any interval (a purchase, an authorization renewal): back In
    Compliance when the purchased quantity covers its (locked) in-use quantity; nothing else."""
    if pool.ooc_since is None or pool.in_use > purchased:
        return pool, Change()
    return replace(pool, ooc_since=None, interval_over=False, count_before=0), Change(left=True)


def balance(purchased: int, in_use: int) -> str:
    """The SSM's balance column: ``+20 surplus`` or ``-30 deficit``."""
    diff = purchased - in_use
    return f"+{diff} surplus" if diff >= 0 else f"{diff} deficit"
