"""An SSM On-Prem's license pools, shared with the cloud, sans-IO: what a synchronization's answer
does to them.

The cloud counts an On-Prem's usage in its virtual account's pools beside every other consumer
(product instances registered to the cloud, other On-Prems) and judges those pools; its answer
carries each pool's purchased and in-use quantities, this On-Prem's part of the in-use one and
the Out-of-Compliance date. ``share`` turns that verdict into the state of the On-Prem's own pools,
so the On-Prem's own ledger (``shared.ledger``) keeps judging its instances, now against the
shared pool: ``ledger.rejudge`` at once, ``ledger.report`` at their next reports.

Pure: no IO, no clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from shared.ledger import Note, Pool
from shared.states import LicenseType, UsageMode


@dataclass(frozen=True, slots=True)
class CloudPool:
    """One pool of the cloud virtual account an SSM On-Prem is bound to, as a synchronization
    brings it down: the cloud's verdict on the pool every consumer of that account shares."""

    tag: str
    name: str
    license_type: LicenseType
    usage_mode: UsageMode
    purchased: int
    #: In use at the cloud: every consumer's reported (possibly locked) quantity ...
    in_use: int
    #: ... of which this On-Prem's (its synchronized usage, as the cloud counts it).
    onprem_in_use: int = 0
    ooc_since: int | None = None


@dataclass(frozen=True, slots=True)
class LocalUsage:
    """What an On-Prem's own product instances use of one license now (the sums of their lines)."""

    reported: int = 0
    actual: int = 0


@dataclass
class Shared:
    """What a synchronization does to an On-Prem's pools (of one virtual account)."""

    #: Every pool with its new purchased quantity and state (``exists`` False: to be created).
    pools: dict[str, Pool] = field(default_factory=dict)
    #: Pools entering (True: lock) or leaving (False: unlock) Out of Compliance, as in ``Outcome``.
    locking: list[tuple[str, bool]] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


def share(
    pools: Mapping[str, Pool], local: Mapping[str, LocalUsage], cloud: Iterable[CloudPool], va_name: str
) -> Shared:
    """An SSM On-Prem takes the cloud's verdict on the pools it shares with every other consumer of
    the cloud's virtual account (product instances registered to the cloud, other On-Prems).

    Each pool of the On-Prem's virtual account becomes the shared pool, so that the On-Prem's own
    ledger judges its instances against it (``ledger.rejudge`` now, ``compliance.judge`` at
    their next reports) and stays the one source of each instance's verdict:

    - purchased: the cloud's quantity (0 for a pool the cloud no longer lists: it holds none);
    - in use: the others' usage (the cloud's in-use quantity less this On-Prem's part of it) plus
      what this On-Prem's instances use now; so the next local interval is judged as the cloud
      would judge the shared pool;
    - Out of Compliance since the cloud's date (the earlier of the two when the On-Prem found it
      first); since the On-Prem's own date while the shared pool is still over; else In
      Compliance. Entering locks the On-Prem's lines at their peaks, leaving releases them and the
      in-use quantity returns to the actual one, as a report's judgement does.
    """
    out = Shared()
    down = {c.tag: c for c in cloud}
    for tag in sorted({*pools, *down}):
        c = down.get(tag)
        current = pools.get(tag)
        if current is None:
            assert c is not None
            current = Pool(tag, c.name, c.license_type, c.usage_mode, exists=False)
        pool = dataclasses.replace(current, purchased=c.purchased if c else 0)
        mine = local.get(tag, LocalUsage())
        others = max(0, c.in_use - c.onprem_in_use) if c else 0
        was = pool.state.ooc_since
        state = dataclasses.replace(pool.state, in_use=others + mine.reported, actual=others + mine.actual)
        if c is not None and c.ooc_since is not None:
            since: int | None = c.ooc_since if was is None else min(was, c.ooc_since)
        elif was is not None and state.in_use > pool.for_usage:
            since = was
        else:
            since = None
        state = dataclasses.replace(state, ooc_since=since)
        where = pool.describe(va_name)
        if was is None and since is not None:
            out.locking.append((tag, True))
            out.notes.append(
                Note(
                    "pool_out_of_compliance",
                    f"{where} is Out of Compliance, as the cloud judged the shared pool ({state.in_use} in use "
                    f"across the cloud's virtual account, {pool.purchased_text()})",
                )
            )
        elif was is not None and since is None:
            out.locking.append((tag, False))
            state = dataclasses.replace(state, in_use=state.actual, interval_over=False, count_before=0)
            out.notes.append(
                Note(
                    "pool_in_compliance",
                    f"{where} is back In Compliance, as the cloud judged the shared pool ({state.in_use} in use, "
                    f"{pool.purchased_text()})",
                )
            )
        out.pools[tag] = dataclasses.replace(pool, state=state)
    return out
