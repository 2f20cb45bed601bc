"""The SSM's watch: the alerts that fall due with time alone, at their instants (domain time).

- silent instances: "Product Instance Failed to Renew" and "Failed to Connect" (``shared.watch``);
- pools Out of Compliance for the grace period: "Licenses in Enforcement";
- SSM On-Prem synchronization deadlines (``server.satellite``);
- Flex subscription terms: expiring alerts and expiry (``server.subscriptions``).

``next_due`` says when the scheduler must wake; ``run`` raises what is due and reschedules.

An ``ssm-server`` admin verb writes to the database itself, running SSM or not; when it changed
something it also sets ``OUTSIDE_CHANGE``, which a running SSM reads every second of real time
(``outside_changes``) to look again at once: a term bought with ``license add --term`` is alerted
and expires at its own instants, as one bought through the portal is.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from datetime import datetime

from server import books, satellite, subscriptions
from server.context import Context
from server.store import UnitOfWork
from server.store.rows import Instance, License
from shared import ledger, watch
from shared.clock import epoch

#: The settings key an admin verb sets after writing (a fresh value each time).
OUTSIDE_CHANGE = "changed_outside"
#: How often (real seconds) a running SSM looks for it.
OUTSIDE_POLL = 1.0


async def outside_changes(ctx: Context, poke: Callable[[], None]) -> None:
    """Call ``poke`` whenever an admin verb of another process has written to the database."""
    seen = await ctx.store.read(lambda uow: uow.settings.get(OUTSIDE_CHANGE))
    while True:
        await asyncio.sleep(OUTSIDE_POLL)  # real time: the verb ran in real time
        now = await ctx.store.read(lambda uow: uow.settings.get(OUTSIDE_CHANGE))
        if now != seen:
            seen = now
            poke()


async def next_due(ctx: Context) -> int | None:
    """The next instant the watch has something to do (instances, pools, On-Prem deadlines)."""
    grace = int(ctx.policy.ooc_grace.total_seconds())

    def body(uow: UnitOfWork) -> int | None:
        times = [
            uow.instances.next_watch(),
            uow.pools.next_enforcement(grace),
            uow.satellites.next_check(),
            uow.terms.next_due(),
        ]
        present = [x for x in times if x is not None]
        return min(present) if present else None

    return await ctx.store.read(body)


async def run(ctx: Context, now: datetime) -> int:
    """Raise the alerts due at ``now`` and reschedule what was looked at. Returns alerts raised."""
    t = epoch(now)
    raised = await ctx.store.write(lambda uow: subscriptions.run_due(uow, t))
    raised += await ctx.store.write(lambda uow: _pools(uow, ctx, now))
    raised += await satellite.run_deadlines(ctx.store, now, ctx.policy)
    while True:
        due = await ctx.store.read(lambda uow: uow.instances.watch_due(t))
        if not due:
            return raised
        raised += await ctx.store.write(functools.partial(_instances, ctx=ctx, due=due, t=t))


def _instances(uow: UnitOfWork, *, ctx: Context, due: list[Instance], t: int) -> int:
    raised = 0
    for inst in due:
        verdict = watch.check(
            watch.Watched(
                inst.registered_at, inst.authorized_at, inst.last_contact_at, inst.status, inst.renew_alerted_at
            ),
            t,
            ctx.policy,
        )
        for alert in verdict.alerts:
            raised += 1
            uow.events.notify(
                at=t,
                kind=alert.kind,
                severity=alert.severity,
                va_id=inst.virtual_account_id,
                piid=inst.piid,
                subject=f"{alert.kind}: {inst.name}",
                body=f"{inst.name} ({inst.product}, SN {inst.serial_number}, piid {inst.piid}): {alert.message}.",
            )
            uow.events.add(
                at=t, kind="alert", va_id=inst.virtual_account_id, piid=inst.piid, message=f"{alert.kind}: {inst.name}"
            )
        uow.instances.set_watch(
            inst.piid,
            status=verdict.status,
            renew_alerted_at=verdict.renew_alerted_at,
            next_check_at=verdict.next_check_at,
        )
    return raised


def _pools(uow: UnitOfWork, ctx: Context, now: datetime) -> int:
    """Pools Out of Compliance for the grace period: Enforcement for every instance consuming them."""
    grace = ctx.policy.ooc_grace
    t = epoch(now)
    due: list[License] = uow.pools.entering_enforcement(t, int(grace.total_seconds()))
    for row in due:
        va = uow.accounts.virtual_account(row.virtual_account_id)
        pool = books.as_pool(row)
        where = pool.describe(va.name if va else "?")
        uow.events.notify(
            at=t,
            kind=ledger.ENFORCEMENT,
            severity="critical",
            va_id=row.virtual_account_id,
            subject=f"{ledger.ENFORCEMENT}: {row.name}",
            body=f"{where} has been Out of Compliance for {grace.days} days "
            f"({row.pool.in_use} in use, {pool.purchased_text()}). The product instances consuming it "
            "are in Enforcement: adding agents is blocked until licenses are purchased.",
        )
        uow.events.add(
            at=t,
            kind="pool_enforcement",
            va_id=row.virtual_account_id,
            message=f"{where}: Enforcement (Out-of-Compliance expiry)",
        )
        uow.pools.set_enforcement_notified(row.id)
    return len(due)


async def prune_nonces(ctx: Context, now: datetime) -> int:
    """Forget request nonces older than the freshness window (a stale request is refused anyway)."""
    cutoff = epoch(now - ctx.policy.skew_window(ctx.clock.rate)) - 1
    return await ctx.store.write(lambda uow: uow.instances.forget_nonces_before(cutoff))
