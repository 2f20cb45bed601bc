"""What a synchronization's answer does to an SSM On-Prem's books: load, decide, write.

The On-Prem's pools (of its local ``DEFAULT`` virtual account) become the pools it shares with the
cloud (``shared.onprempools.share``: the cloud's purchased quantities, in-use totals and
Out-of-Compliance dates); then each of its product instances is judged again against them by its
own ledger (``shared.rejudge.verdicts``), so its instances go Out of Compliance when the shared
pool is, and back when it is not. One transaction, in the caller's.
"""

from __future__ import annotations

from server import books
from server.deployment import ONPREM_DOMAIN
from server.store import UnitOfWork
from shared import rejudge
from shared.messages import Entitlement
from shared.onprempools import CloudPool, LocalUsage, share


def apply(uow: UnitOfWork, entitlements: list[Entitlement], t: int) -> int:
    """Apply the cloud's pools to the On-Prem's; the number of instances whose verdict changed."""
    account = uow.accounts.by_domain(ONPREM_DOMAIN) or uow.accounts.all()[0]
    va = uow.accounts.virtual_account_named(account.id, "DEFAULT")
    assert va is not None
    instances = uow.instances.page(va.id)
    local: dict[str, LocalUsage] = {}
    for inst in instances:
        for row in uow.usage.latest(inst.piid):
            mine = local.get(row.tag, LocalUsage())
            local[row.tag] = LocalUsage(mine.reported + row.reported, mine.actual + row.peak)
    cloud = [
        CloudPool(
            tag=e.tag,
            name=e.name,
            license_type=e.license_type,
            usage_mode=e.usage_mode,
            purchased=e.purchased,
            in_use=e.in_use,
            onprem_in_use=e.onprem_in_use,
            ooc_since=e.out_of_compliance_since,
        )
        for e in entitlements
    ]
    pools = {p.tag: books.as_pool(p) for p in uow.pools.of(va.id)}
    shared = share(pools, local, cloud, va.name)
    for pool in shared.pools.values():
        uow.pools.set_quantity(
            va_id=va.id,
            name=pool.name,
            license_type=pool.license_type,
            usage_mode=pool.usage_mode,
            tag=pool.tag,
            quantity=pool.purchased,
            at=t,
        )
        uow.pools.save_state(va.id, pool.tag, pool.state)
    for tag, lock in shared.locking:
        if lock:
            uow.usage.lock(va.id, tag)
        else:
            uow.usage.unlock(va.id, tag)
    for note in shared.notes:
        uow.events.add(at=t, kind=note.kind, message=note.message, va_id=va.id)
    rejudged = rejudge.verdicts(books.load_account(uow, va.id), t)
    books.write_rejudgement(uow, rejudged, va_id=va.id, at=t)
    return len(rejudged.verdicts)
