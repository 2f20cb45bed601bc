"""Authorization and usage reports on the SSM: load the books, let ``shared.ledger`` decide, write.

Each request is one transaction, committed before the reply is signed: the instance is checked
again and the request's nonce recorded (``Identity.remember``), its books loaded
(``server.books.load``), the ledger's outcome written (``server.books.write``) with the
instance's new contact and verdict. An authorization renewal also re-judges the instance's whole
virtual account (``shared.rejudge.renewal``): a purchase reaches every instance, idle ones too.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from server import books
from server.context import Context
from server.identity import Authenticated
from server.store import UnitOfWork
from shared import ledger, rejudge
from shared.clock import epoch, utc
from shared.errors import BadRequest, Forbidden
from shared.messages import Authorization, Authorize, ReportUsage, UsageAccepted, UsageReport


def check_report(report: UsageReport, now: datetime, window: timedelta, *, registered_at: int = 0) -> None:
    """Refuse a report that cannot describe a closed interval of this registration.

    Raises:
        BadRequest: ``invalid_report`` naming the problem.
    """
    problem = None
    if report.interval_end < registered_at:
        problem = (
            f"its interval ended at {utc(report.interval_end).isoformat()}, before the product instance "
            f"registered ({utc(registered_at).isoformat()})"
        )
    elif report.interval_end <= report.interval_start:
        problem = "its interval ends before it starts"
    elif report.interval_end - report.interval_start > 86400:
        problem = "its interval is longer than a day"
    elif report.interval_end > epoch(now + window):
        problem = f"its interval ends in the future ({utc(report.interval_end).isoformat()})"
    elif len({u.tag for u in report.usage}) != len(report.usage):
        problem = "it names a license twice"
    if problem:
        raise BadRequest(
            f"usage report {report.report_id} is invalid: {problem}",
            code="invalid_report",
            fix="report each closed interval once, with each license once, oldest first",
        )


_FOREIGN_FIX = "name each report PIID:..., with the signer's own piid (the Smart Agent sends PIID:INTERVAL_END)"


def check_ids(reports: Sequence[UsageReport], piid: str) -> None:
    """Report ids are the signer's own: ``PIID:...``. An id naming another instance is refused,
    so it can never be stored and make that instance's own report a "duplicate".

    Raises:
        Forbidden: ``report_id_foreign``.
    """
    for r in reports:
        if not r.report_id.startswith(piid + ":"):
            raise Forbidden(
                f"usage report id {r.report_id} does not belong to product instance {piid}",
                code="report_id_foreign",
                fix=_FOREIGN_FIX,
            )


def check_owner(owners: dict[str, str], piid: str) -> None:
    """An id already stored for another instance (a store older than ``check_ids``) is refused
    rather than taken for a duplicate.

    Raises:
        Forbidden: ``report_id_foreign``.
    """
    foreign = sorted(rid for rid, owner in owners.items() if owner != piid)
    if foreign:
        raise Forbidden(
            f"usage report id {foreign[0]} was stored for another product instance",
            code="report_id_foreign",
            fix=_FOREIGN_FIX,
        )


async def authorize(ctx: Context, auth: Authenticated) -> Authorization:
    """Renew the authorization: each entitlement's status and the instance's verdict."""
    msg = auth.msg
    assert isinstance(msg, Authorize)
    now = ctx.clock.now()
    t = epoch(now)
    expires = now + ctx.policy.auth_expiry

    def body(uow: UnitOfWork) -> ledger.Outcome:
        inst = ctx.identity.remember(uow, auth)
        requests = [(e.tag, e.count) for e in msg.entitlements]
        account = books.load_account(uow, inst.virtual_account_id, out_of_compliance_only=True)
        outcome = rejudge.renewal(account, books.load(uow, inst), requests, t)
        assert outcome.verdict is not None
        uow.instances.record_authorization(
            inst.piid,
            t,
            status=outcome.verdict.status,
            ooc_since=outcome.verdict.since,
            next_check_at=ctx.next_check(registered_at=inst.registered_at, authorized_at=t, contact=t),
        )
        outcome.notes.append(
            ledger.Note("instance_authorized", f"{inst.name} authorized until {expires.isoformat()}", inst.piid)
        )
        books.write(uow, outcome, piid=inst.piid, va_id=inst.virtual_account_id, at=t)
        return outcome

    outcome = await ctx.store.write(body)
    ctx.clock.poke(ctx.watch_changed)
    assert outcome.verdict is not None
    return Authorization(
        in_reply_to=msg.nonce,
        issued_at=t,
        authorized_at=t,
        expires_at=epoch(expires),
        entitlements=outcome.grants,
        out_of_compliance_since=outcome.verdict.since,
        compliance_reason=outcome.verdict.reason,
    )


async def report_usage(ctx: Context, auth: Authenticated) -> UsageAccepted:
    """Store closed intervals (idempotently, by report id) and judge each pool they touch."""
    msg = auth.msg
    assert isinstance(msg, ReportUsage)
    now = ctx.clock.now()
    t = epoch(now)
    window = ctx.policy.skew_window(ctx.clock.rate)
    check_ids(msg.reports, msg.piid)
    for report in msg.reports:
        check_report(report, now, window, registered_at=auth.instance.registered_at)

    def body(uow: UnitOfWork) -> ledger.Outcome:
        inst = ctx.identity.remember(uow, auth)
        ids = [r.report_id for r in msg.reports]
        seen = uow.usage.seen(ids)
        check_owner(seen, inst.piid)
        loaded = books.load(uow, inst, seen=seen)
        outcome = ledger.report(loaded, msg.reports, t, ctx.policy)
        assert outcome.verdict is not None
        uow.instances.record_report(inst.piid, t, status=outcome.verdict.status, ooc_since=outcome.verdict.since)
        books.write(uow, outcome, piid=inst.piid, va_id=inst.virtual_account_id, at=t)
        return outcome

    outcome = await ctx.store.write(body)
    assert outcome.verdict is not None
    return UsageAccepted(
        in_reply_to=msg.nonce,
        issued_at=t,
        accepted=outcome.accepted,
        duplicates=outcome.duplicates,
        entitlements=outcome.grants,
        out_of_compliance_since=outcome.verdict.since,
        compliance_reason=outcome.verdict.reason,
    )
