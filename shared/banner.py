"""What the Administration portal shows above every page: the aggregate banner (Enforcement >
Out of Compliance > Evaluation), the License Compliance report and the system alerts (seed
"System Alerts"). Without a banner, a note says whether every instance is in order or names those
needing attention that the banner does not show (Authorization Expired, Registration Expired,
Unauthorized, a disabled Smart Agent).

Pure: no IO, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

import msgspec

from shared.clock import utc
from shared.durations import format_duration
from shared.lifecycle import REREGISTER, InstanceState
from shared.policy import Policy
from shared.states import AuthorizationStatus, Enforcement, RegistrationStatus, UsageMode
from shared.usage import UsageState


class ComplianceRow(msgspec.Struct, frozen=True, kw_only=True):
    instance: str
    registration: RegistrationStatus
    authorization: AuthorizationStatus
    enforcement: Enforcement | None
    detail: str


class Banner(msgspec.Struct, frozen=True, kw_only=True):
    """The aggregate banner of the Administration portal; ``level`` None means no banner, and
    ``note`` then says whether everything is in order or what the banner does not show."""

    level: str | None
    message: str | None
    non_production: str | None
    report: list[ComplianceRow]
    note: str | None = None


ALL_CLEAR = "No banner: every instance is registered and compliant."


def _quiet(s: InstanceState) -> str:
    """What needs attention that the banner does not show (the seed shows it only for Evaluation,
    Out of Compliance and Enforcement), or ''."""
    if not s.enabled:
        return "Smart Agent disabled: it sends nothing"
    if s.registration is RegistrationStatus.REGISTRATION_EXPIRED:
        return f"Registration Expired: {REREGISTER}"
    if s.authorization is AuthorizationStatus.AUTHORIZATION_EXPIRED:
        return "Authorization Expired: no successful contact with the SSM; renew the authorization"
    if s.authorization is AuthorizationStatus.UNAUTHORIZED:
        return "Unauthorized: the SSM has not authorized it yet"
    return ""


NON_PRODUCTION_BANNER = "You are using a Non-Production System"


def banner(states: Sequence[tuple[InstanceState, UsageState]], now: datetime, policy: Policy) -> Banner:
    """Enforcement > Out of Compliance > Evaluation; shown only when any instance is in one."""
    rows = []
    enforced, ooc, evaluating = [], [], []
    quiet: list[str] = []
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
        else:
            detail = _quiet(s)
            if detail:
                quiet.append(f"{s.name} {detail.partition(':')[0]}")
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
    note = None
    if level is None:
        note = (
            f"No banner (it shows Evaluation, Out of Compliance and Enforcement only), but: {'; '.join(quiet)}. "
            "See the License Compliance report."
            if quiet
            else ALL_CLEAR
        )
    return Banner(
        level=level,
        message=message,
        non_production=NON_PRODUCTION_BANNER if non_production else None,
        report=rows,
        note=note,
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
