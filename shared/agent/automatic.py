"""What a product instance does by itself: record what time changed, close usage intervals,
renew its authorization and ID certificate when due, report usage; back off after a failure;
unregister when the SSM says it removed the instance.

``Woke`` work ends with ``WakeAt(next)``: time is a command, only the shell sleeps (mitmproxy's
``RequestWakeup``). The renewals are shared with the person's "Renew" actions.

Pure: no IO, no clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Final, Literal

from shared import lifecycle, outcomes, usage
from shared.agent.commands import WakeAt
from shared.agent.engine import Engine, Exchange, Flow, expect, removed
from shared.agent.events import RequestFailed
from shared.clock import epoch, utc
from shared.errors import SmartLicensingError
from shared.lifecycle import Due
from shared.messages import Authorization, Authorize, RegistrationRenewed, RenewRegistration, ReportUsage, UsageAccepted
from shared.states import EntitlementStatus

#: With nothing scheduled, the timer loop still looks again after this much domain time.
IDLE: Final = timedelta(days=365)

#: The automatic usage report, beside the automatic renewals of ``Due``.
REPORT_USAGE: Final = "report_usage"
Task = Due | Literal["report_usage"]


class Automatic(Engine):
    """The timer's work, and the exchanges with the SSM it sends."""

    def _woke(self, *, catching_up: bool = False) -> Flow:
        """Close due intervals, record transitions, perform what is due and report.

        ``catching_up`` (the clock is jumping ahead): closed intervals wait until a batch is full
        (``report_batch_max``), until something else is due (they go first, as they would have),
        or until the jump ends; so a year's jump costs a request per day, not per 15 minutes, and
        the SSM still judges every interval in order before any renewal."""
        now = self._now
        # Close first: a profile step exactly at a boundary counts in the interval it opens.
        u, _closed = usage.close_due(self.usage, self.state, now, self.policy)
        u = usage.apply_profile(u, self.profile, self.state.first_started_at, now, self.policy)
        ticked, transitions = lifecycle.tick(self.state, now, self.policy)
        dues = lifecycle.due(ticked, now, self.policy)
        at = usage.report_due_at(u, ticked)
        sending = at is not None and at <= epoch(now)
        self.deferring = sending and catching_up and not dues and len(u.queue) < self.policy.report_batch_max
        sending = sending and not self.deferring
        waiting = sending or self.deferring
        if transitions or dues or not waiting or u.profile_applied_at != self.usage.profile_applied_at:
            yield from self._commit(self.state, usage_state=u)
        else:
            # Only closed intervals, about to be sent (or waiting for their batch): the send's
            # commit persists them. A crash before it closes the same intervals again at restart
            # (same report ids: the SSM counts each once).
            self.usage = u
        if dues and catching_up and any(r.interval_end < epoch(now) for r in self.usage.queue):
            yield from self._perform(REPORT_USAGE, before=epoch(now))  # what waited goes first
        for due in dues:
            yield from self._perform(due)
        if sending:
            yield from self._perform(REPORT_USAGE)
        self.initialized = True
        yield WakeAt(self._next_wakeup())

    def _next_wakeup(self) -> datetime:
        now = self._now
        candidates = [lifecycle.next_wakeup(self.state, now, self.policy)]
        first = self.state.first_started_at
        profile_next = self.profile.next_change(self.profile.base(first), epoch(now)) if self.profile else None
        u_next = usage.next_wakeup(self.usage, self.state, now, profile_next, deferring=self.deferring)
        if u_next is not None:
            candidates.append(utc(u_next))
        present = [c for c in candidates if c is not None]
        return min(present) if present else now + IDLE

    def _perform(self, task: Task, *, before: int | None = None) -> Flow:
        """An automatic request: a failure backs off; "instance removed" unregisters.
        ``before``: report only the intervals that ended before it."""
        if self.state.piid is None:
            return  # the SSM removed the instance earlier in this piece of work
        err = yield from self._exchange(task, before=before)
        if err is None:
            return
        if removed(err):
            yield from self._removed_by_ssm(err)
        else:
            yield from self._due_failed(task, err)

    def _due_failed(self, task: Task, err: SmartLicensingError) -> Flow:
        now = self._now
        if task == REPORT_USAGE:
            u = usage.on_report_failed(self.usage, now, self.policy)
            retry = u.retry
            state = outcomes.on_failure(self.state, err, now, action=task)
            yield from self._commit(state, (f"{task}_failed", f"{err.code}: {err.message}"), usage_state=u)
        else:
            due = Due(task)
            state = outcomes.on_due_failed(self.state, due, err, now, self.policy)
            retry = state.auth_retry if due is Due.RENEW_AUTHORIZATION else state.reg_retry
            yield from self._commit(state, (f"{due}_failed", f"{err.code}: {err.message}"))
        assert retry is not None
        yield self._failure_log(str(task), err, attempts=retry.attempts, next_in_minutes=retry.delay // 60)

    def _removed_by_ssm(self, err: SmartLicensingError) -> Flow:
        """The SSM no longer knows this instance: unregister, entitlements Disabled."""
        state = outcomes.on_deregistered(self.state, self._now, entitlement_status=EntitlementStatus.DISABLED)
        state = outcomes.on_failure(state, err, self._now, action="ssm")
        self.key = None
        yield from self._commit(
            state,
            ("removed_by_ssm", f"{err.code}: {err.message}"),
            clear_credentials=True,
            usage_state=usage.forget_queue(self.usage),
        )

    # -- exchanges with the SSM ------------------------------------------------------------------
    def _exchange(self, task: Task, *, before: int | None = None) -> Exchange:
        if task == Due.RENEW_AUTHORIZATION:
            return (yield from self._authorize())
        if task == Due.RENEW_REGISTRATION:
            return (yield from self._renew_registration())
        return (yield from self._report(before=before))

    def _authorize(self) -> Exchange:
        assert self.state.piid is not None
        outcome = yield from self._request(
            Authorize(
                sent_at=epoch(self._now),
                nonce=self.entropy.nonce(),
                piid=self.state.piid,
                entitlements=usage.entitlement_requests(self.state, self.usage),
            )
        )
        if isinstance(outcome, RequestFailed):
            return outcome.error
        reply = expect(outcome, Authorization)
        first = self.state.authorized_at is None
        yield from self._commit(
            outcomes.on_authorized(self.state, reply, self._now),
            (
                "authorized" if first else "authorization_renewed",
                f"authorization {'granted' if first else 'renewed'} until {utc(reply.expires_at).isoformat()}",
            ),
        )
        return None

    def _renew_registration(self) -> Exchange:
        assert self.state.piid is not None
        key, csr = self.entropy.identity(common_name=self.state.name, serial_number=self.state.serial_number)
        outcome = yield from self._request(
            RenewRegistration(sent_at=epoch(self._now), nonce=self.entropy.nonce(), piid=self.state.piid, csr=csr)
        )
        if isinstance(outcome, RequestFailed):
            return outcome.error
        reply = expect(outcome, RegistrationRenewed)
        state = outcomes.on_registration_renewed(self.state, reply, self._now)
        self.key = key
        yield from self._commit(
            state,
            ("registration_renewed", f"ID certificate renewed until {utc(reply.cert_expires_at).isoformat()}"),
            key=key,
            cert=reply.id_cert + "".join(reply.chain),  # presented whole in mutual TLS
        )
        return None

    def _report(self, *, before: int | None = None) -> Exchange:
        """Drain the report queue, oldest first, a batch per request (``before``: only the
        intervals that ended before it)."""
        while self.state.piid is not None:
            waiting = [r for r in self.usage.queue if before is None or r.interval_end < before]
            if not waiting:
                break
            batch = waiting[: self.policy.report_batch_max]
            outcome = yield from self._request(
                ReportUsage(sent_at=epoch(self._now), nonce=self.entropy.nonce(), piid=self.state.piid, reports=batch)
            )
            if isinstance(outcome, RequestFailed):
                return outcome.error
            reply = expect(outcome, UsageAccepted)
            first, last = utc(batch[0].interval_end).isoformat(), utc(batch[-1].interval_end).isoformat()
            note = f" ({len(reply.duplicates)} already stored)" if reply.duplicates else ""
            yield from self._commit(
                outcomes.on_usage_accepted(self.state, reply, self._now),
                ("usage_reported", f"{len(batch)} report(s) {first}..{last} accepted{note}"),
                usage_state=usage.acknowledge(self.usage, [*reply.accepted, *reply.duplicates]),
            )
        return None
