"""What the SSM watches on each registered product instance, sans-IO.

The SSM raises the Smart Account alerts of CSSM for instances that go silent: "Product Instance
Failed to Renew" once a renewal is overdue (the 30-day renewal plus a grace), and "Product
Instance Failed to Connect" when it has not communicated for the authorization period, when the
SSM also marks its authorization expired. ``check`` says what to raise at ``now`` and when to
look again, so the SSM's scheduler sleeps until the earliest ``next_check_at``.

Pure: no IO, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.policy import Policy
from shared.states import AuthorizationStatus

FAILED_TO_RENEW = "Product Instance Failed to Renew"
FAILED_TO_CONNECT = "Product Instance Failed to Connect"


@dataclass(frozen=True, slots=True)
class Watched:
    """The instants the SSM keeps about an instance (epoch seconds)."""

    registered_at: int
    authorized_at: int | None
    last_contact_at: int
    status: AuthorizationStatus
    renew_alerted_at: int | None


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str
    severity: str
    message: str


@dataclass(frozen=True, slots=True)
class Verdict:
    alerts: list[Alert]
    status: AuthorizationStatus
    renew_alerted_at: int | None
    next_check_at: int | None


def _secs(p: Policy) -> tuple[int, int, int]:
    return (
        int(p.auth_renewal_interval.total_seconds()),
        int(p.renewal_grace.total_seconds()),
        int(p.auth_expiry.total_seconds()),
    )


def check(w: Watched, t: int, p: Policy) -> Verdict:
    """The alerts due at instant ``t``, the instance's SSM-side status, the next check."""
    renewal, grace, expiry = _secs(p)
    base = w.authorized_at if w.authorized_at is not None else w.registered_at
    overdue_at = base + renewal + grace
    expired_at = w.last_contact_at + expiry
    alerts: list[Alert] = []
    status = w.status
    renew_alerted = w.renew_alerted_at
    already_alerted = renew_alerted is not None and renew_alerted >= base
    if t >= overdue_at and not already_alerted:
        alerts.append(
            Alert(
                FAILED_TO_RENEW,
                "warning",
                f"the product instance did not renew its authorization, due {renewal // 86400} days after "
                "its last authorization",
            )
        )
        renew_alerted = t
        already_alerted = True
    if t >= expired_at and status is not AuthorizationStatus.AUTHORIZATION_EXPIRED:
        alerts.append(
            Alert(
                FAILED_TO_CONNECT,
                "critical",
                f"the product instance has not communicated with the SSM for {expiry // 86400} days; "
                "its authorization expired",
            )
        )
        status = AuthorizationStatus.AUTHORIZATION_EXPIRED
    future = [
        d
        for d in (
            overdue_at if not already_alerted else None,
            expired_at if status is not AuthorizationStatus.AUTHORIZATION_EXPIRED else None,
        )
        if d is not None and d > t
    ]
    return Verdict(alerts, status, renew_alerted, min(future) if future else None)


def next_check(w: Watched, p: Policy) -> int | None:
    """The next instant ``check`` has something to say, after a contact."""
    return check(w, w.last_contact_at, p).next_check_at
