"""License usage on the product-instance side, sans-IO: peaks per interval and the report queue.

- Usage changes (a person's ``usage set``, a profile step) raise the current interval's peak;
  at each interval end the peaks are closed into a report with an idempotent id and queued.
  Only licenses in use are reported, plus a zero line for one that just stopped being used, so
  an idle instance stays silent. The queue is bounded and persisted; it drains oldest first.
- Intervals are aligned on multiples of the report interval (…:00, :15, :30, :45) and half-open,
  [start, end): a change exactly at a boundary counts in the interval it opens (as the interval
  rows of Unified CCE's reporting are stamped with their start), never in the one it closes.

What a person reads of it (the consumption summary, the banner, the alerts) is in
``shared.consumption`` and ``shared.banner``.

Pure: no IO, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

import msgspec

from shared.catalog import LICENSE_NAMES, OFFERED
from shared.clock import epoch
from shared.codes import ErrorCode
from shared.durations import parse_duration
from shared.errors import BadRequest
from shared.lifecycle import InstanceState, Retry, backoff
from shared.messages import EntitlementRequest, Usage, UsageReport
from shared.policy import MissedIntervals, Policy
from shared.states import RegistrationStatus

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
            raise BadRequest(
                f"{item!r} is not NAME=COUNT", code=ErrorCode.INVALID_USAGE, fix='e.g. "Premium Agent=130"'
            )
        try:
            value = int(count.strip())
        except ValueError:
            raise BadRequest(
                f"{item!r}: the count must be a whole number",
                code=ErrorCode.INVALID_USAGE,
                fix='e.g. "Premium Agent=130"',
            ) from None
        out[name.strip()] = value
    return check_usage(out)


def check_usage(values: Mapping[str, int]) -> dict[str, int]:
    """Validate license names and counts (the local API and the CLI share it)."""
    for name, value in values.items():
        if name not in LICENSE_NAMES:
            raise BadRequest(
                f"{name!r} is not a Unified CCE license",
                code=ErrorCode.UNKNOWN_LICENSE,
                fix=f"use one of: {', '.join(LICENSE_NAMES)}",
            )
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10_000_000:
            raise BadRequest(
                f"the in-use count of {name} must be a whole number from 0 to 10000000, not {value!r}",
                code=ErrorCode.INVALID_USAGE,
                fix='e.g. "Premium Agent=130"',
            )
    return dict(values)


PROFILE_FIX = 'e.g. usage_profile = [{ after = "0m", set = { "Premium Agent" = 80 } }], usage_repeat = "1d"'


class ProfileStep(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """From ``after`` (a duration since the profile's anchor) on, these counts."""

    after: str
    set: dict[str, int]


class ProfileAnchor(StrEnum):
    """What a profile's ``after`` counts from: the instance's first start, or 00:00 UTC (domain
    time) of its day, so that with ``usage_repeat = "1d"`` the steps are times of day."""

    FIRST_START = "first-start"
    MIDNIGHT = "midnight"


@dataclass(frozen=True)
class Profile:
    """A usage time series for demos: steps, optionally repeating."""

    steps: tuple[tuple[int, dict[str, int]], ...]  # (offset seconds, counts), sorted
    repeat: int | None = None
    anchor: ProfileAnchor = ProfileAnchor.FIRST_START

    def base(self, first_start: int) -> int:
        """The instant the offsets count from, for an instance first started at ``first_start``."""
        return first_start - first_start % 86400 if self.anchor is ProfileAnchor.MIDNIGHT else first_start

    @classmethod
    def build(
        cls, steps: Sequence[ProfileStep], repeat: str | None = None, anchor: ProfileAnchor = ProfileAnchor.FIRST_START
    ) -> Profile:
        parsed = []
        for step in steps:
            try:
                offset = int(parse_duration(step.after).total_seconds())
            except ValueError as exc:
                raise BadRequest(str(exc), code=ErrorCode.INVALID_PROFILE, fix=PROFILE_FIX) from None
            parsed.append((offset, check_usage(step.set)))
        try:
            period = int(parse_duration(repeat).total_seconds()) if repeat else None
        except ValueError as exc:
            raise BadRequest(f"usage_repeat: {exc}", code=ErrorCode.INVALID_PROFILE, fix=PROFILE_FIX) from None
        if period is not None and period <= 0:
            raise BadRequest("usage_repeat must be positive", code=ErrorCode.INVALID_PROFILE, fix=PROFILE_FIX)
        return cls(tuple(sorted(parsed, key=lambda s: s[0])), period, anchor)

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

    def step_start(self, base: int, t: int) -> int:
        """The instant the step in effect at ``t`` started (in the current repeat cycle)."""
        off = t - base
        if self.repeat and off >= 0:
            cycle = off // self.repeat
            off %= self.repeat
        else:
            cycle = 0
        start = max((o for o, _ in self.steps if o <= off), default=0)
        return base + cycle * (self.repeat or 0) + start


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
    """New in-use counts from now on: the interval's peak keeps the highest seen.

    Intervals are half-open, [start, end): a change exactly at a boundary counts in the interval
    it opens, where it replaces the count carried over (which never held inside that interval),
    never in the one it closes. The caller closes the intervals that ended by ``now`` first
    (``close_due``)."""
    u = roll_open(u, now, policy)
    assert u.interval_end is not None and u.interval_end > epoch(now), "close the due intervals first"
    at_start = epoch(now) == u.interval_end - int(policy.report_interval.total_seconds())
    current = {**u.current, **values}
    peak = dict(u.peak)
    for name, value in current.items():
        peak[name] = value if at_start and name in values else max(peak.get(name, 0), value)
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

    Intervals not closed on time (the agent was not running, or its timer was idle) follow the
    policy ``missed_intervals``: ``skip`` (default) — nothing was sampled meanwhile, so after the
    interval open at shutdown is closed, the next one opened is the one containing ``now``;
    ``hold`` — each missed interval is reported with the usage in effect when it stopped.
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
                lines.append(Usage(tag=s.tag_of(name), peak=peak, name=name))
            if peak > 0:
                reported_nonzero.append(name)
        if lines and s.piid is not None and s.registration is RegistrationStatus.REGISTERED:
            closed.append(
                UsageReport(report_id=f"{s.piid}:{end}", interval_start=end - step, interval_end=end, usage=lines)
            )
        held = policy.missed_intervals is MissedIntervals.HOLD and any(u.current.values())
        next_end = end + step if t < end + step or held else _interval(t, policy)
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


def next_wakeup(
    u: UsageState, s: InstanceState, now: datetime, profile_next: int | None, *, deferring: bool = False
) -> int | None:
    """The earliest of: the open interval's end (when it would be reported), a report retry, a
    profile step. Unregistered or disabled, intervals close lazily (nothing would be sent).
    ``deferring``: the queue waits for a batch (the clock is jumping), so it is not due now."""
    t = epoch(now)
    due = None if deferring else report_due_at(u, s)
    candidates = [c for c in (profile_next, due) if c is not None]
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


def apply_profile(
    u: UsageState, profile: Profile | None, first_start: int, now: datetime, policy: Policy
) -> UsageState:
    """Apply the profile's step in effect at ``now`` (counted from its anchor), once per step: a
    person's ``usage set`` in between lasts until the next step."""
    if profile is None:
        return u
    base = profile.base(first_start)
    t = epoch(now)
    values = profile.at(base, t)
    if values is None:
        return u
    step_start = profile.step_start(base, t)
    if u.profile_applied_at == step_start:
        return u
    u = set_current(u, values, now, policy)
    return msgspec.structs.replace(u, profile_applied_at=step_start)


def entitlement_requests(s: InstanceState, u: UsageState) -> list[EntitlementRequest]:
    """What an authorization request asks for: each license the instance's type offers, in use now."""
    offered = OFFERED.get((s.effective_license_type, s.usage_mode), ())
    return [EntitlementRequest(tag=s.tag_of(n), count=u.current.get(n, 0)) for n in offered]
