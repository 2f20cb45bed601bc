"""The cloud SSM's side of SSM On-Prem ("satellite"): synchronizations and their deadlines.

An SSM On-Prem registers to the cloud like a product instance (product ``SSM On-Prem``) with a
token of a cloud virtual account. Each synchronization — over the device plane in Connected
mode, in a file in Disconnected mode — carries its product instances and the total usage of each
license; the cloud stores the inventory, counts the usage in the virtual account's pools (the
same ledger as any report), and answers with the account's entitlements.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from server import books, registration
from server.licensing import check_report
from server.store import Store, UnitOfWork
from server.store.rows import Account, Instance, Satellite, SatelliteInstance, VirtualAccount
from shared import ledger, sync
from shared.clock import epoch
from shared.errors import Forbidden
from shared.messages import Entitlement, SyncRequest, SyncResponse, Usage, UsageReport
from shared.policy import Policy

Remember = Callable[[UnitOfWork], Instance]


def require_satellite(instance: Instance) -> None:
    """Raises Forbidden ``not_an_onprem`` unless the instance is an SSM On-Prem."""
    if instance.product != sync.ONPREM_PRODUCT:
        raise Forbidden(
            f"{instance.name} ({instance.product}) is not an SSM On-Prem; only an On-Prem instance synchronizes",
            code="not_an_onprem",
            fix="register the On-Prem with 'ssm-server onprem register TOKEN --cloud URL' on the On-Prem side",
        )


async def handle_sync(
    store: Store, instance: Instance, msg: SyncRequest, now: datetime, policy: Policy, remember: Remember
) -> SyncResponse:
    """Apply one synchronization; the caller signs the answer. Refused (nothing changed) when the
    sequence is not newer, or the account is not the On-Prem's. ``remember`` re-reads the instance
    inside the transaction (and records the request's nonce on the device plane)."""
    require_satellite(instance)
    t = epoch(now)

    def body(uow: UnitOfWork) -> tuple[VirtualAccount, Account, list[Entitlement]]:
        inst = remember(uow)  # checked again inside the transaction (and its nonce, on the device plane)
        va = uow.accounts.virtual_account(inst.virtual_account_id)
        account = uow.accounts.get(va.account_id) if va else None
        assert va is not None and account is not None
        sync.check_account(msg.account_domain, account.domain)
        known = uow.satellites.get(inst.piid)
        sync.check_sequence(msg.sequence, known.sequence if known else None)
        uow.satellites.replace_inventory(
            inst.piid,
            [
                SatelliteInstance(
                    inst.piid,
                    i.piid,
                    i.name,
                    i.product,
                    i.udi_pid,
                    i.serial_number,
                    i.virtual_account,
                    i.status,
                    i.last_contact_at,
                )
                for i in msg.instances
            ],
        )
        report_id = f"{inst.piid}:sync:{msg.sequence}"
        loaded = books.load(uow, inst, report_ids=[report_id])
        seen = {u.tag for u in msg.usage}
        # A license the On-Prem no longer reports returns to zero.
        missing = [Usage(tag=tag, peak=0) for tag in loaded.latest if tag not in seen]
        report = UsageReport(report_id=report_id, interval_start=t - 900, interval_end=t, usage=[*msg.usage, *missing])
        check_report(report, now, policy.request_max_skew)
        outcome = ledger.apply(loaded, [report], t, policy)
        books.write(uow, outcome, piid=inst.piid, va_id=va.id, at=t)
        uow.instances.touch(inst.piid, t, next_check_at=None)
        deadlines = sync.check_deadlines(t, frozenset(), t, policy)
        uow.satellites.save(Satellite(inst.piid, msg.sequence, t, frozenset(), deadlines.next_check))
        uow.events.add(
            at=t,
            kind="onprem_synchronized",
            va_id=va.id,
            piid=inst.piid,
            message=f"SSM On-Prem {inst.name} synchronized (sequence {msg.sequence}): "
            f"{len(msg.instances)} product inst(s), {sum(u.peak for u in msg.usage)} licenses in use",
        )
        mine = {row.tag: row.reported for row in uow.usage.latest(inst.piid)}
        entitlements = [
            Entitlement(
                tag=p.tag,
                name=p.name,
                license_type=p.license_type,
                usage_mode=p.usage_mode,
                purchased=p.quantity,
                in_use=p.pool.in_use,
                out_of_compliance_since=p.pool.ooc_since,
                onprem_in_use=mine.get(p.tag, 0),
            )
            for p in uow.pools.of(va.id)
            if p.quantity > 0 or p.pool.in_use > 0
        ]
        return va, account, entitlements

    va, account, entitlements = await store.write(body)
    return SyncResponse(
        in_reply_to=msg.nonce,
        issued_at=t,
        piid=instance.piid,
        sequence=msg.sequence,
        account_domain=account.domain,
        virtual_account=va.name,
        deadline=t + int(policy.sync_deadline.total_seconds()),
        entitlements=entitlements,
    )


async def run_deadlines(store: Store, now: datetime, policy: Policy) -> int:
    """Raise the sync deadline alerts due at ``now``; remove On-Prem instances past the deadline."""
    t = epoch(now)

    def body(uow: UnitOfWork) -> tuple[int, list[str]]:
        raised, remove = 0, []
        for sat in uow.satellites.due(t):
            instance = uow.instances.get(sat.piid)
            if instance is None or instance.removed_at is not None:
                # Removed, or replaced by its registering again: no deadline runs for it any more.
                uow.satellites.save(Satellite(sat.piid, sat.sequence, sat.last_sync, sat.alerted, None))
                continue
            verdict = sync.check_deadlines(sat.last_sync, sat.alerted, t, policy)
            name = instance.name
            for kind in verdict.alerts:
                raised += 1
                uow.events.notify(
                    at=t,
                    kind=kind,
                    severity="critical" if kind == sync.SYNC_REMOVED else "warning",
                    va_id=instance.virtual_account_id,
                    piid=sat.piid,
                    subject=f"{kind}: {name}",
                    body=f"SSM On-Prem {name} last synchronized {_days(t - sat.last_sync)} ago"
                    + (
                        ". It was removed: its product instances' licenses no longer count; register it again."
                        if kind == sync.SYNC_REMOVED
                        else f"; it is removed {policy.sync_deadline.days} days after its last synchronization."
                    ),
                )
            uow.satellites.save(
                Satellite(
                    sat.piid,
                    sat.sequence,
                    sat.last_sync,
                    sat.alerted | set(verdict.alerts),
                    None if verdict.remove else verdict.next_check,
                )
            )
            if verdict.remove:
                remove.append(sat.piid)
        return raised, remove

    raised, remove = await store.write(body)
    for piid in remove:
        await registration.remove_instance(store, piid, now, by="the 90-day synchronization deadline")
    return raised


def _days(seconds: int) -> str:
    return f"{seconds // 86400} days"
