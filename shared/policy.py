"""The licensing policy: every period and threshold of the seed, in one place, overridable.

Defaults follow ../shared/DESIGN.md's policy table. Where the seed contradicts itself (4 vs 5
consecutive over-usage reports) the default is the majority reading (5). Where it is silent and
Cisco's behaviour is not public, the choice is a setting too (``idle_authorization``,
``missed_intervals``), its default the reading closest to the seed.

Pure: no IO, no clock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from shared.durations import parse_duration

DAY = timedelta(days=1)


class IdleAuthorization(StrEnum):
    """The License Authorization Status of a registered, authorized instance using no license.

    The seed's Table 2 says a successful registration shows "Authorized (date)"; its Table 4 also
    lists "No License in Use" without saying when. Cisco's IOS products show "No Licenses in Use"
    while nothing is consumed; what Unified CCE shows is not documented."""

    AUTHORIZED = "Authorized"
    NO_LICENSE_IN_USE = "No License in Use"


class MissedIntervals(StrEnum):
    """What a Smart Agent that was not running reports for the intervals it missed.

    Cisco's agent keeps counting while the product runs; here one process plays both, so while it
    is down no usage is sampled. ``skip``: nothing is reported for those intervals (no sample).
    ``hold``: each is reported with the usage in effect when it stopped, as if the product had
    kept running at that usage while only its Smart Agent was down."""

    SKIP = "skip"
    HOLD = "hold"


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """Periods and thresholds of the licensing rules (domain time)."""

    #: Evaluation period from the product instance's first start; never reset.
    evaluation_period: timedelta = 90 * DAY
    #: Usage sampling and report interval (the peak usage of each interval is reported).
    report_interval: timedelta = timedelta(minutes=15)
    #: Consecutive over-usage intervals before Out of Compliance (the seed says 5, once 4).
    ooc_consecutive_intervals: int = 5
    #: Out of Compliance grace before Enforcement.
    ooc_grace: timedelta = 90 * DAY
    #: Automatic authorization renewal.
    auth_renewal_interval: timedelta = 30 * DAY
    #: Without successful contact for this long: Authorization Expired.
    auth_expiry: timedelta = 90 * DAY
    #: Overage period after Authorization Expired, then Enforcement.
    auth_overage: timedelta = 90 * DAY
    #: Automatic ID certificate (registration) renewal.
    id_cert_renewal: timedelta = 180 * DAY
    #: ID certificate validity; not renewed within it: Registration Expired.
    id_cert_validity: timedelta = 365 * DAY
    #: Registration token lifetime bounds and default (days).
    token_min_days: int = 1
    token_max_days: int = 365
    token_default_days: int = 30
    #: Signed device requests older or newer than this (domain time) are refused as stale.
    request_max_skew: timedelta = timedelta(minutes=5)
    #: On a scaled clock the stale window also covers this much real time (rate x seconds).
    request_max_skew_real_seconds: float = 60.0
    #: Grace after a missed authorization renewal before the SSM alerts "Failed to Renew".
    renewal_grace: timedelta = DAY
    #: Closed usage reports kept while the SSM is unreachable (2880: 30 days of 15 minutes).
    report_queue_max: int = 2880
    #: Usage reports sent in one request when draining the queue.
    report_batch_max: int = 96
    #: SSM On-Prem in Connected mode synchronizes with the cloud this often.
    sync_interval: timedelta = DAY
    #: An On-Prem instance silent this long: "Synchronization Overdue" on the cloud.
    sync_overdue: timedelta = 30 * DAY
    #: Not synchronized for this long: the cloud removes the On-Prem instance.
    sync_deadline: timedelta = 90 * DAY
    #: "Upcoming Satellite Sync Deadline" this long before the deadline.
    sync_deadline_warning: timedelta = 30 * DAY
    #: Retry backoff for an unreachable SSM (domain time), doubling up to the maximum.
    retry_initial: timedelta = timedelta(minutes=15)
    retry_max: timedelta = DAY
    #: The authorization status shown while the SSM counts no license in use for the instance.
    idle_authorization: IdleAuthorization = IdleAuthorization.AUTHORIZED
    #: Intervals an agent missed while it was not running: not reported, or held at the last usage.
    missed_intervals: MissedIntervals = MissedIntervals.SKIP

    def skew_window(self, rate: float) -> timedelta:
        """The accepted |sent_at - now| for a clock running at ``rate`` domain s per real s."""
        scaled = timedelta(seconds=rate * self.request_max_skew_real_seconds)
        return max(self.request_max_skew, scaled)

    def with_overrides(self, overrides: Mapping[str, str | int | float]) -> Policy:
        """A copy with some fields replaced; durations may be given as ``"30d"`` or seconds.

        Raises:
            ValueError: naming the unknown field or the unreadable value.
        """
        fields = {f.name: f for f in dataclasses.fields(self)}
        changes: dict[str, object] = {}
        for name, raw in overrides.items():
            key = name.replace("-", "_")
            if key not in fields:
                known = ", ".join(sorted(fields))
                raise ValueError(f"unknown policy setting {name!r}; known settings: {known}")
            current = getattr(self, key)
            value: timedelta | int | float | StrEnum
            if isinstance(current, StrEnum):
                choices = [str(c) for c in type(current)]
                if str(raw) not in choices:
                    raise ValueError(f"policy {name} must be one of {', '.join(map(repr, choices))}, got {raw!r}")
                value = type(current)(str(raw))
            elif isinstance(current, timedelta):
                delta = timedelta(seconds=float(raw)) if isinstance(raw, int | float) else parse_duration(str(raw))
                if delta <= timedelta(0):
                    raise ValueError(f"policy {name} must be a positive duration, got {raw!r}")
                value = delta
            elif isinstance(current, int):
                try:
                    number = int(raw)
                except ValueError:
                    raise ValueError(f"policy {name} must be a whole number, got {raw!r}") from None
                if number < 1:
                    raise ValueError(f"policy {name} must be at least 1, got {raw!r}")
                value = number
            else:
                try:
                    real = float(raw)
                except ValueError:
                    raise ValueError(f"policy {name} must be a number, got {raw!r}") from None
                if real < 0:
                    raise ValueError(f"policy {name} must not be negative, got {raw!r}")
                value = real
            changes[key] = value
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def describe(self) -> dict[str, str]:
        """Every setting as text, for /_lab/info and the README."""
        out: dict[str, str] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = f"{int(v.total_seconds())}s" if isinstance(v, timedelta) else str(v)
        return out


DEFAULT_POLICY = Policy()
