"""The ledger's IO: load the books a decision needs, write the outcome it returns.

``load`` reads what ``shared.ledger`` needs about one product instance (every pool of its virtual
account, its latest lines, the report ids already stored); ``write`` persists an ``Outcome`` in
the caller's write transaction. Between the two the caller calls one pure function of
``shared.ledger``: load -> decide -> write, one transaction. ``load_account`` and
``write_rejudgement`` do the same for a whole virtual account (``shared.rejudge``: a purchase, an
authorization renewal).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from server.store import UnitOfWork
from server.store.rows import Instance, Latest, License, StoredReport
from shared import ledger, rejudge
from shared.sync import ONPREM_PRODUCT


def as_pool(row: License) -> ledger.Pool:
    return ledger.Pool(
        row.tag, row.name, row.license_type, row.usage_mode, row.quantity, row.reserved, row.pool, exists=True
    )


def _books(
    instance: Instance, va_name: str, pools: dict[str, ledger.Pool], lines: Iterable[Latest], seen: Iterable[str] = ()
) -> ledger.Books:
    return ledger.Books(
        piid=instance.piid,
        name=instance.name,
        va_name=va_name,
        license_type=instance.license_type,
        usage_mode=instance.usage_mode,
        ooc_since=instance.ooc_since,
        pools=pools,
        latest={r.tag: ledger.Line(r.tag, r.interval_end, r.peak, r.locked) for r in lines},
        seen=frozenset(seen),
        status=instance.status,
    )


def _va_name(uow: UnitOfWork, va_id: int) -> str:
    va = uow.accounts.virtual_account(va_id)
    return va.name if va else "?"


def load(
    uow: UnitOfWork, instance: Instance, *, report_ids: Iterable[str] = (), seen: Mapping[str, str] | None = None
) -> ledger.Books:
    """The books of ``instance`` in its virtual account; ``seen`` (the stored owners of
    ``report_ids``) when the caller read them already."""
    va_id = instance.virtual_account_id
    if seen is None:
        ids = list(report_ids)
        seen = uow.usage.seen(ids) if ids else {}
    return _books(instance, _va_name(uow, va_id), uow.pools.books_of(va_id), uow.usage.latest(instance.piid), seen)


def load_account(uow: UnitOfWork, va_id: int, *, out_of_compliance_only: bool = False) -> rejudge.Account:
    """A virtual account's pools and the books of each product instance registered in it (an SSM
    On-Prem registered to the cloud counts in the pools but has no verdict of its own).

    ``out_of_compliance_only``: only the instances Out of Compliance (an authorization renewal:
    with the quantities unchanged, a re-judgement can only bring instances back In Compliance), so
    a renewal never reads a whole large account."""
    name = _va_name(uow, va_id)
    pools = uow.pools.books_of(va_id)
    if out_of_compliance_only:
        found = uow.instances.out_of_compliance(va_id)
        lines = {inst.piid: uow.usage.latest(inst.piid) for inst in found}
    else:
        found = uow.instances.page(va_id)
        lines = {}
        for line in uow.usage.in_account(va_id):
            lines.setdefault(line.piid, []).append(line)
    members = {
        inst.piid: _books(inst, name, pools, lines.get(inst.piid, ()))
        for inst in found
        if inst.product != ONPREM_PRODUCT
    }
    return rejudge.Account(name, pools, members)


def write_rejudgement(uow: UnitOfWork, outcome: rejudge.Rejudgement, *, va_id: int, at: int) -> None:
    """Persist a re-judged virtual account (quantities, pool states, released locks, verdicts)."""
    for pool in outcome.pools.values():
        uow.pools.set_quantity(
            va_id=va_id,
            name=pool.name,
            license_type=pool.license_type,
            usage_mode=pool.usage_mode,
            tag=pool.tag,
            quantity=pool.purchased,
            at=at,
        )
        uow.pools.save_state(va_id, pool.tag, pool.state)
    for tag in outcome.unlocked:
        uow.usage.unlock(va_id, tag)
    for piid, (verdict, status) in outcome.verdicts.items():
        uow.instances.set_compliance(piid, status=status, ooc_since=verdict.since)
    for e in outcome.notes:
        uow.events.add(at=at, kind=e.kind, message=e.message, va_id=va_id, piid=e.piid)


def _stored(line: ledger.StoredLine) -> dict[str, object]:
    """A report's line as stored: what was received, and what the interval counted (the License
    Consumption report reads both)."""
    out: dict[str, object] = {"tag": line.tag, "name": line.name, "peak": line.peak}
    if line.reported is not None:
        out["reported"] = line.reported
    if line.ooc is not None:
        out["ooc"] = line.ooc
    return out


def write(uow: UnitOfWork, outcome: ledger.Outcome, *, piid: str, va_id: int, at: int) -> None:
    """Persist what the ledger decided (pools, lines, locks, reports, alerts and events), after
    the re-judged virtual account it carries (an authorization renewal)."""
    if outcome.rejudged is not None:
        write_rejudgement(uow, outcome.rejudged, va_id=va_id, at=at)
    if outcome.reports:
        uow.usage.store(
            [
                StoredReport(
                    r.report_id,
                    piid,
                    r.interval_start,
                    r.interval_end,
                    at,
                    json.dumps([_stored(x) for x in r.lines]),
                )
                for r in outcome.reports
            ]
        )
    if outcome.drop_lines:
        uow.usage.drop(piid)
    for pool in outcome.pools.values():
        if not pool.exists:
            uow.pools.ensure(
                va_id=va_id, name=pool.name, license_type=pool.license_type, usage_mode=pool.usage_mode, tag=pool.tag
            )
    for tag, lock in outcome.locking:
        if lock:
            uow.usage.lock(va_id, tag)
        else:
            uow.usage.unlock(va_id, tag)
    if outcome.lines:
        uow.usage.save([Latest(piid, x.tag, va_id, x.interval_end, x.peak, x.locked) for x in outcome.lines.values()])
    for tag, at, in_use in outcome.samples:  # every interval of a batch, before the final state
        uow.pools.sample(va_id, tag, at=at, in_use=in_use)
    sampled = {tag for tag, _, _ in outcome.samples}
    for pool in outcome.pools.values():
        uow.pools.save_state(va_id, pool.tag, pool.state, sample=pool.tag not in sampled)
    for n in outcome.notices:
        uow.events.notify(
            at=at, kind=n.kind, severity=n.severity, subject=n.subject, body=n.body, va_id=va_id, piid=n.piid
        )
    for e in outcome.notes:
        uow.events.add(at=at, kind=e.kind, message=e.message, va_id=va_id, piid=e.piid)


def release(uow: UnitOfWork, instance: Instance, at: int) -> list[ledger.Line]:
    """The instance's usage returns to its pools (deregistered, removed, moving); its lines, released."""
    loaded = load(uow, instance)
    write(uow, ledger.release(loaded), piid=instance.piid, va_id=instance.virtual_account_id, at=at)
    return list(loaded.latest.values())


def carry(uow: UnitOfWork, lines: Iterable[ledger.Line], instance: Instance, at: int) -> None:
    """Released lines counted again for ``instance`` in its (possibly new) virtual account."""
    outcome = ledger.carry(lines, load(uow, instance))
    write(uow, outcome, piid=instance.piid, va_id=instance.virtual_account_id, at=at)
