"""License usage on the product-instance side, sans-IO: peaks per interval, the report queue,
the license consumption summary (seed Table 5), the banner and the system alerts.

- Usage changes (a person's ``usage set``, a profile step) raise the current interval's peak;
  at each interval end the peaks are closed into a report with an idempotent id and queued.
  Only licenses in use are reported, plus a zero line for one that just stopped being used, so
  an idle instance stays silent. The queue is bounded and persisted; it drains oldest first.
- Intervals are aligned on multiples of the report interval (…:00, :15, :30, :45).

Pure: no IO, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from shared.catalog import LICENSE_NAMES, OFFERED, LicenseKey
from shared.clock import epoch, utc
from shared.durations import format_duration, parse_duration
from shared.errors import BadRequest
from shared.lifecycle import InstanceState, Retry, backoff
from shared.messages import EntitlementGrant, Usage, UsageReport
from shared.policy import Policy
from shared.states import (
    AuthorizationStatus,
    Enforcement,
    EntitlementStatus,
    RegistrationStatus,
    UsageMode,
)

# -- input -----------------------------------------------------------------------------------------


def parse_assignments(items: Sequence[str]) -> dict[str, int]:
    """``["Premium Agent=130", "Dialer Ports=20"]`` to ``{"Premium Agent": 130, ...}``.

    Raises:
        BadRequest: ``invalid_usage`` for a missing ``=``, a count that is not a whole number >= 0,
            or ``unknown_license`` for a name that is no Unified CCE license.
    """
    out: dict[str, int] = {}
    for item in items:
        name, sep, count = item.partition("=")
        if not sep:
            raise BadRequest(f"{item!r} is not NAME=COUNT", code="invalid_usage", fix='e.g. "Premium Agent=130"')
        try:
            value = int(count.strip())
        except ValueError:
            raise BadRequest(f"{item!r}: the count must be a whole number", code="invalid_usage") from None
        out[name.strip()] = value
    return check_usage(out)


def check_usage(values: Mapping[str, int]) -> dict[str, int]:
    """Validate license names and counts (the local API and the CLI share it)."""
    for name, value in values.items():
        if name not in LICENSE_NAMES:
            raise BadRequest(
                f"{name!r} is not a Unified CCE license",
                code="unknown_license",
                fix=f"use one of: {', '.join(LICENSE_NAMES)}",
            )
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10_000_000:
            raise BadRequest(
                f"the in-use count of {name} must be a whole number from 0 to 10000000, not {value!r}",
                code="invalid_usage",
                fix='e.g. "Premium Agent=130"',
            )
    return dict(values)


class ProfileStep(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """From ``after`` (a duration since the instance's first start) on, these counts."""

    after: str
    set: dict[str, int]


@dataclass(frozen=True)
class Profile:
    """A usage time series for demos: steps, optionally repeating."""

    steps: tuple[tuple[int, dict[str, int]], ...]  # (offset seconds, counts), sorted
    repeat: int | None = None

    @classmethod
    def build(cls, steps: Sequence[ProfileStep], repeat: str | None = None) -> Profile:
        parsed = []
        for step in steps:
            try:
                offset = int(parse_duration(step.after).total_seconds())
            except ValueError as exc:
                raise BadRequest(str(exc), code="invalid_profile") from None
            parsed.append((offset, check_usage(step.set)))
        period = int(parse_duration(repeat).total_seconds()) if repeat else None
        if period is not None and period <= 0:
            raise BadRequest("usage_repeat must be positive", code="invalid_profile")
        return cls(tuple(sorted(parsed, key=lambda s: s[0])), period)

    def _offset(self, base: int, t: int) -> int:
        off = t - base
        return off % self.repeat if self.repeat and off >= 0 else off

    def at(self, base: int, t: int) -> dict[str, int] | None:
        """The counts in effect at ``t`` (None before the first step)."""
        off = self._offset(base, t)
        current = None
        for offset, counts in self.steps:
            if offset <= off:
                current = counts
        return current

    def next_change(self, base: int, t: int) -> int | None:
        """The next instant after ``t`` at which a step starts."""
        if not self.steps:
            return None
        off = self._offset(base, t)
        cycle_start = t - off
        for offset, _ in self.steps:
            if offset > off:
                return cycle_start + offset
        if self.repeat:
            return cycle_start + self.repeat + self.steps[0][0]
        return None


# -- state -------------------------------------------------------------------------------------


class UsageState(msgspec.Struct, frozen=True, kw_only=True):
    """An instance's usage, its open interval and its queue of closed reports."""

    current: dict[str, int] = {}
    interval_end: int | None = None
    peak: dict[str, int] = {}
    #: Licenses whose last reported peak was not zero (the next report says when they stop).
    nonzero: list[str] = []
    queue: list[UsageReport] = []
    dropped: int = 0
    profile_applied_at: int | None = None
    retry: Retry | None = None


def _interval(t: int, policy: Policy) -> int:
    """The end of the interval containing ``t``."""
    step = int(policy.report_interval.total_seconds())
    return (t // step + 1) * step


def set_current(u: UsageState, values: Mapping[str, int], now: datetime, policy: Policy) -> UsageState:
    """New in-use counts from now on: the interval's peak keeps the highest seen."""
    u = roll_open(u, now, policy)
    current = {**u.current, **values}
    peak = dict(u.peak)
    for name, value in current.items():
        peak[name] = max(peak.get(name, 0), value)
    return msgspec.structs.replace(u, current=current, peak=peak)


def roll_open(u: UsageState, now: datetime, policy: Policy) -> UsageState:
    """Make sure an interval is open (the one containing ``now`` if none is)."""
    if u.interval_end is None:
        return msgspec.structs.replace(u, interval_end=_interval(epoch(now), policy), peak=dict(u.current))
    return u


def idle(u: UsageState) -> bool:
    """Nothing in use and nothing to say: no interval timer is needed."""
    return not any(u.current.values()) and not any(u.peak.values()) and not u.nonzero


def close_due(u: UsageState, s: InstanceState, now: datetime, policy: Policy) -> tuple[UsageState, list[UsageReport]]:
    """Close every interval that ended by ``now``; queue their reports when registered.

    An agent that was down measured nothing meanwhile: after the interval open at shutdown is
    closed, the next one opened is the one containing ``now``.
    """
    t = epoch(now)
    step = int(policy.report_interval.total_seconds())
    closed: list[UsageReport] = []
    u = roll_open(u, now, policy)
    assert u.interval_end is not None
    while u.interval_end is not None and u.interval_end <= t:
        end = u.interval_end
        ltype, mode = s.effective_license_type, s.usage_mode
        offered = set(OFFERED.get((ltype, mode), ()))
        lines = []
        reported_nonzero = []
        for name in sorted(set(u.peak) | set(u.nonzero)):
            peak = u.peak.get(name, 0)
            if name not in offered:
                continue  # Not Applicable to this license type: never reported
            if peak > 0 or name in u.nonzero:
                lines.append(Usage(tag=LicenseKey(name, ltype, mode).tag, peak=peak, name=name))
            if peak > 0:
                reported_nonzero.append(name)
        if lines and s.piid is not None and s.registration is RegistrationStatus.REGISTERED:
            closed.append(
                UsageReport(report_id=f"{s.piid}:{end}", interval_start=end - step, interval_end=end, usage=lines)
            )
        next_end = end + step if t < end + step else _interval(t, policy)
        u = msgspec.structs.replace(
            u, interval_end=next_end, peak=dict(u.current), nonzero=reported_nonzero if lines else u.nonzero
        )
    queue = [*u.queue, *closed]
    dropped = u.dropped
    if len(queue) > policy.report_queue_max:
        dropped += len(queue) - policy.report_queue_max
        queue = queue[-policy.report_queue_max :]
    return msgspec.structs.replace(u, queue=queue, dropped=dropped), closed


def acknowledge(u: UsageState, report_ids: Sequence[str]) -> UsageState:
    """Drop the reports the SSM stored (or already had)."""
    done = set(report_ids)
    return msgspec.structs.replace(u, queue=[r for r in u.queue if r.report_id not in done], retry=None)


def report_due_at(u: UsageState, s: InstanceState) -> int | None:
    """When the queue should next be sent (None: nothing to send, or not registered/enabled)."""
    if not u.queue or not s.enabled or s.registration is not RegistrationStatus.REGISTERED:
        return None
    return u.retry.at if u.retry else 0


def next_wakeup(u: UsageState, s: InstanceState, now: datetime, profile_next: int | None) -> int | None:
    """The earliest of: the open interval's end (when it would be reported), a report retry, a
    profile step. Unregistered or disabled, intervals close lazily (nothing would be sent)."""
    t = epoch(now)
    candidates = [c for c in (profile_next, report_due_at(u, s)) if c is not None]
    reporting = s.enabled and s.registration is RegistrationStatus.REGISTERED
    if reporting and u.interval_end is not None and not idle(u):
        candidates.append(u.interval_end)
    return max(t, min(candidates)) if candidates else None


def on_report_failed(u: UsageState, now: datetime, policy: Policy) -> UsageState:
    return msgspec.structs.replace(u, retry=backoff(u.retry, now, policy))


def forget_queue(u: UsageState) -> UsageState:
    """Registered, deregistered or reregistered: reports of another registration can no longer be
    sent, and the next interval opens afresh (usage before the registration is not reported)."""
    return msgspec.structs.replace(u, queue=[], nonzero=[], interval_end=None, peak=dict(u.current), retry=None)


# -- the consumption summary (seed Table 5) --------------------------------------------------------


class ConsumptionLine(msgspec.Struct, frozen=True, kw_only=True):
    license_name: str
    usage_count: int  # the reported (possibly locked) quantity
    actual_usage: int
    status: EntitlementStatus


def consumption(s: InstanceState, u: UsageState, *, waiting: bool = False) -> list[ConsumptionLine]:
    """License Name, Usage Count, actual usage and Status for each license of the instance."""
    ltype, mode = s.effective_license_type, s.usage_mode
    offered = OFFERED.get((ltype, mode), ())
    grants = {g.name: g for g in s.entitlements}
    names = list(dict.fromkeys([*offered, *sorted(u.current), *grants]))
    lines = []
    for name in names:
        actual = u.current.get(name, 0)
        grant = grants.get(name)
        counted = grant.reported if grant is not None and grant.status is not EntitlementStatus.DISABLED else actual
        lines.append(
            ConsumptionLine(
                license_name=name,
                usage_count=actual
                if s.registration is RegistrationStatus.REGISTERED_SLR
                else max(counted, actual)
                if grant is None
                else counted,
                actual_usage=actual,
                status=_status(s, name, actual, grant, name in offered, waiting),
            )
        )
    return lines


def _status(
    s: InstanceState, name: str, actual: int, grant: EntitlementGrant | None, offered: bool, waiting: bool
) -> EntitlementStatus:
    if grant is not None and grant.status is EntitlementStatus.DISABLED:
        return EntitlementStatus.DISABLED
    if not offered and name in LICENSE_NAMES:
        return EntitlementStatus.NOT_APPLICABLE
    if s.registration is RegistrationStatus.REGISTERED_SLR:
        # Judged on the instance against the installed code: usage up to the reserved count.
        if actual == 0 and (grant is None or grant.reported == 0):
            return EntitlementStatus.NO_LICENSE_IN_USE
        if grant is not None and actual <= grant.reported:
            return EntitlementStatus.RESERVED_IN_COMPLIANCE
        return EntitlementStatus.OUT_OF_COMPLIANCE
    if s.registration in (RegistrationStatus.UNREGISTERED, RegistrationStatus.RESERVATION_IN_PROGRESS):
        if s.authorization is AuthorizationStatus.EVALUATION_EXPIRED:
            return EntitlementStatus.EVALUATION_EXPIRED
        return EntitlementStatus.EVALUATION
    if s.authorization is AuthorizationStatus.AUTHORIZATION_EXPIRED:
        return EntitlementStatus.AUTHORIZATION_EXPIRED
    if s.authorization is AuthorizationStatus.UNAUTHORIZED:
        return EntitlementStatus.NOT_AUTHORIZED
    if waiting:
        return EntitlementStatus.WAITING
    if grant is None:
        return EntitlementStatus.NO_LICENSE_IN_USE if actual == 0 else EntitlementStatus.WAITING
    if grant.status is EntitlementStatus.NO_LICENSE_IN_USE and actual > 0:
        return EntitlementStatus.WAITING  # the SSM has not seen this usage yet
    return grant.status


# -- the banner and the License Compliance report ----------------------------------------------


class ComplianceRow(msgspec.Struct, frozen=True, kw_only=True):
    instance: str
    registration: RegistrationStatus
    authorization: AuthorizationStatus
    enforcement: Enforcement | None
    detail: str


class Banner(msgspec.Struct, frozen=True, kw_only=True):
    """The aggregate banner of the Administration portal; ``level`` None means no banner."""

    level: str | None
    message: str | None
    non_production: str | None
    report: list[ComplianceRow]


NON_PRODUCTION_BANNER = "You are using a Non-Production System"


def banner(states: Sequence[tuple[InstanceState, UsageState]], now: datetime, policy: Policy) -> Banner:
    """Enforcement > Out of Compliance > Evaluation; shown only when any instance is in one."""
    rows = []
    enforced, ooc, evaluating = [], [], []
    non_production = False
    for s, u in states:
        if s.usage_mode is UsageMode.NON_PRODUCTION and any(u.current.values()):
            non_production = True
        detail = ""
        if s.enforcement is not None:
            enforced.append(s.name)
            detail = f"Enforcement ({s.enforcement}) since {utc(s.enforcement_since or 0).isoformat()}"
        elif s.authorization is AuthorizationStatus.OUT_OF_COMPLIANCE:
            ooc.append(s.name)
            detail = f"Out of Compliance since {utc(s.ooc_since or 0).isoformat()}: {s.ooc_reason}"
        elif s.authorization is AuthorizationStatus.EVALUATION:
            left = utc(s.first_started_at) + policy.evaluation_period - now
            evaluating.append((s.name, left))
            detail = f"Evaluation Mode, {format_duration(max(left, timedelta(0)))} remaining"
        rows.append(
            ComplianceRow(
                instance=s.name,
                registration=s.registration,
                authorization=s.authorization,
                enforcement=s.enforcement,
                detail=detail,
            )
        )
    level = message = None
    if enforced:
        level = "Enforcement"
        message = (
            f"Smart Licensing: {len(enforced)} product instance(s) in Enforcement ({', '.join(enforced)}); "
            "adding agents is blocked. See the License Compliance report."
        )
    elif ooc:
        level = "Out of Compliance"
        message = (
            f"Smart Licensing: {len(ooc)} product instance(s) Out of Compliance ({', '.join(ooc)}); "
            f"purchase licenses within {policy.ooc_grace.days} days to avoid Enforcement."
        )
    elif evaluating:
        soonest = min(left for _, left in evaluating)
        level = "Evaluation"
        message = (
            f"Smart Licensing: {len(evaluating)} product instance(s) in Evaluation Mode "
            f"({', '.join(n for n, _ in evaluating)}); {format_duration(max(soonest, timedelta(0)))} "
            "remaining. Register with the Cisco SSM."
        )
    return Banner(
        level=level, message=message, non_production=NON_PRODUCTION_BANNER if non_production else None, report=rows
    )


# -- system alerts (seed "System Alerts") -------------------------------------------------------

NOT_INITIALIZED = "Smart License state is not initialized"
NOT_ENABLED = "Smart Agent is not enabled"
NO_SERIAL = "Serial number is not generated"


class SystemAlert(msgspec.Struct, frozen=True, kw_only=True):
    machine: str
    alert: str
    state: str  # "red" while the condition holds, "green" once it cleared
    since: str | None
    fix: str


def system_alerts(
    machine: str, *, initialized: bool, enabled: bool, serial: str, since: Mapping[str, int]
) -> list[SystemAlert]:
    """The three alerts of one machine, red while their condition holds."""
    conditions = [
        (NOT_INITIALIZED, not initialized, "wait for the Smart Agent to finish starting; if it stays, restart it"),
        (NOT_ENABLED, not enabled, f"enable it: 'smart-agent enable --instance {machine}'"),
        (NO_SERIAL, not serial, f"generate it: 'smart-agent serial generate --instance {machine}'"),
    ]
    return [
        SystemAlert(
            machine=machine,
            alert=name,
            state="red" if active else "green",
            since=utc(since[name]).isoformat() if name in since else None,
            fix=fix if active else "",
        )
        for name, active, fix in conditions
    ]
