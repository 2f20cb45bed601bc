"""The product instance's persisted state and its time rules, sans-IO.

``InstanceState`` is everything the agent persists about one product instance. Statuses follow
from persisted instants (first start, last successful contact, ID-certificate dates, the SSM's
Out-of-Compliance start) by the seed's rules, in ``derive``. The shell never computes a status
on read: it calls ``tick`` at each deadline (and at start-up), which records every transition
crossed since the last tick at its own instant, in order, and returns the records to persist.

``due`` says which request the instance should send now (automatic renewals, with ``backoff``
after a failure); ``next_wakeup`` says when the shell must tick again. Because every timer is
derived from persisted instants, nothing is lost across restarts.

Rules (DESIGN.md policy table; the seed's "License States" and "Out-Of-Compliance and
Enforcement Rules"):

- Unregistered: Evaluation Mode for 90 days from the first start (never reset), then
  Evaluation Expired and Enforcement (evaluation expiry).
- Registered: Unauthorized until the first authorization succeeds; then Authorized (or, with the
  policy ``idle_authorization``, "No License in Use" while the SSM counts none in use);
  authorization renewed every 30 days; 90 days without a successful contact:
  Authorization Expired; 90 more days of overage: Enforcement (authorization expiry). A
  successful renewal at any point returns to Authorized.
- Out of Compliance (the SSM's verdict) for 90 days: Enforcement (Out-of-Compliance expiry).
- ID certificate renewed every 6 months; past its 12-month validity: Registration Expired.

Beside it: ``shared.outcomes`` (what a reply or a failure changes), ``shared.permits`` (which
person actions each registration status permits), ``shared.slrlifecycle`` (Specific License
Reservation) and ``shared.statusview`` (seed Table 2).

Pure: no IO, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import msgspec

from shared.catalog import LicenseKey, effective_license_type
from shared.clock import epoch, utc
from shared.messages import EntitlementGrant, Identity
from shared.policy import IdleAuthorization, Policy
from shared.states import (
    AuthorizationStatus,
    Enforcement,
    EntitlementStatus,
    ExportControl,
    LicenseType,
    RegistrationStatus,
    UsageMode,
)


class Failure(msgspec.Struct, frozen=True, kw_only=True):
    """The last communication or registration failure, as shown in status."""

    code: str
    message: str
    fix: str = ""
    at: int
    action: str = ""


class Due(StrEnum):
    """A request the instance should send now."""

    RENEW_AUTHORIZATION = "renew_authorization"
    RENEW_REGISTRATION = "renew_registration"


class Retry(msgspec.Struct, frozen=True, kw_only=True):
    """Backoff of one automatic action after failures (domain time)."""

    at: int
    delay: int
    attempts: int


class Reservation(msgspec.Struct, frozen=True, kw_only=True):
    """A Specific License Reservation of the instance (seed: "Specific License Reservation")."""

    request_code: str
    requested_at: int
    installed_at: int | None = None
    confirmation_code: str = ""
    return_code: str = ""
    #: The installed code's timestamp (ms): only a newer code replaces it (an update).
    code_timestamp: int = 0


class InstanceState(msgspec.Struct, frozen=True, kw_only=True):
    """What the agent knows and persists about one product instance (times: epoch seconds)."""

    name: str
    product: str
    udi_pid: str
    serial_number: str
    hostname: str
    deployment_type: str
    license_type: LicenseType
    usage_mode: UsageMode
    first_started_at: int
    #: The instant ``tick`` last evaluated the rules (transitions before it are recorded).
    checked_at: int = 0
    registration: RegistrationStatus = RegistrationStatus.UNREGISTERED
    authorization: AuthorizationStatus = AuthorizationStatus.EVALUATION
    enforcement: Enforcement | None = None
    enforcement_since: int | None = None
    piid: str | None = None
    registered_at: int | None = None
    cert_issued_at: int | None = None
    cert_expires_at: int | None = None
    smart_account: str | None = None
    smart_account_domain: str | None = None
    virtual_account: str | None = None
    export_controlled: ExportControl = ExportControl.NOT_ALLOWED
    authorized_at: int | None = None
    last_contact_at: int | None = None
    ooc_since: int | None = None
    ooc_reason: str = ""
    entitlements: list[EntitlementGrant] = []
    last_failure: Failure | None = None
    auth_retry: Retry | None = None
    reg_retry: Retry | None = None
    agents: int = 0
    enabled: bool = True
    reservation: Reservation | None = None
    #: Entitlement tags sent instead of the catalog's, by license name (``entitlement_tags`` in
    #: agent.toml: a product release whose tags the SSM does not know, an "Invalid Tag").
    entitlement_tags: dict[str, str] = {}
    #: When the SSM (or whatever answers at its URL) last refused, HTTP 4xx, a request carrying the
    #: entitlements (a report, an authorization); None again once one is accepted. Meanwhile the
    #: entitlements are in an error condition (Table 5 "Invalid").
    refused_at: int | None = None

    @property
    def effective_license_type(self) -> LicenseType:
        return effective_license_type(self.license_type, self.deployment_type)

    def tag_of(self, name: str) -> str:
        """The entitlement tag this instance sends for license ``name``."""
        return self.entitlement_tags.get(name) or LicenseKey(name, self.effective_license_type, self.usage_mode).tag

    def identity(self, software_version: str = "") -> Identity:
        return Identity(
            instance_name=self.name,
            product=self.product,
            udi_pid=self.udi_pid,
            serial_number=self.serial_number,
            hostname=self.hostname,
            deployment_type=self.deployment_type,
            license_type=self.effective_license_type,
            usage_mode=self.usage_mode,
            software_version=software_version,
        )


#: One line of the agent's event log: (instant, kind, message).
Record = tuple[int, str, str]


def new_instance(
    *,
    name: str,
    product: str,
    udi_pid: str,
    serial_number: str,
    hostname: str,
    deployment_type: str,
    license_type: LicenseType,
    usage_mode: UsageMode,
    now: datetime,
) -> InstanceState:
    """A product instance at its first start: Unregistered, Evaluation Mode from ``now``."""
    t = epoch(now)
    return InstanceState(
        name=name,
        product=product,
        udi_pid=udi_pid,
        serial_number=serial_number,
        hostname=hostname,
        deployment_type=deployment_type,
        license_type=license_type,
        usage_mode=usage_mode,
        first_started_at=t,
        checked_at=t,
    )


def _s(delta: timedelta) -> int:
    return int(delta.total_seconds())


# -- the rules ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phase:
    """The statuses the rules give at one instant."""

    registration: RegistrationStatus
    authorization: AuthorizationStatus
    enforcement: Enforcement | None
    enforcement_since: int | None


def is_registered(s: InstanceState) -> bool:
    """Registered with Smart Licensing (its ID certificate possibly expired)."""
    return s.registration in (RegistrationStatus.REGISTERED, RegistrationStatus.REGISTRATION_EXPIRED)


def derive(s: InstanceState, t: int, p: Policy) -> Phase:
    """The statuses at instant ``t`` (epoch seconds), from the persisted instants alone."""
    if s.registration is RegistrationStatus.REGISTERED_SLR:
        # A reservation is installed: no contact, no renewal, nothing expires (perpetual).
        return Phase(s.registration, AuthorizationStatus.AUTHORIZED_RESERVED, None, None)
    if not is_registered(s):
        eval_end = s.first_started_at + _s(p.evaluation_period)
        if t < eval_end:
            return Phase(s.registration, AuthorizationStatus.EVALUATION, None, None)
        return Phase(s.registration, AuthorizationStatus.EVALUATION_EXPIRED, Enforcement.EVALUATION_EXPIRY, eval_end)
    reg = RegistrationStatus.REGISTERED
    if s.cert_expires_at is not None and t >= s.cert_expires_at:
        reg = RegistrationStatus.REGISTRATION_EXPIRED
    contact = s.last_contact_at if s.last_contact_at is not None else (s.registered_at or t)
    expired_at = contact + _s(p.auth_expiry)
    enforced_at = expired_at + _s(p.auth_overage)
    if t >= enforced_at:
        return Phase(reg, AuthorizationStatus.AUTHORIZATION_EXPIRED, Enforcement.AUTHORIZATION_EXPIRY, enforced_at)
    if t >= expired_at:
        return Phase(reg, AuthorizationStatus.AUTHORIZATION_EXPIRED, None, None)
    if s.ooc_since is not None:
        ooc_end = s.ooc_since + _s(p.ooc_grace)
        if t >= ooc_end:
            return Phase(reg, AuthorizationStatus.OUT_OF_COMPLIANCE, Enforcement.OUT_OF_COMPLIANCE_EXPIRY, ooc_end)
        return Phase(reg, AuthorizationStatus.OUT_OF_COMPLIANCE, None, None)
    if s.authorized_at is None:
        # Registered, but no authorization yet: the one right after registering failed.
        return Phase(reg, AuthorizationStatus.UNAUTHORIZED, None, None)
    if p.idle_authorization is IdleAuthorization.NO_LICENSE_IN_USE and idle(s):
        return Phase(reg, AuthorizationStatus.NO_LICENSE_IN_USE, None, None)
    return Phase(reg, AuthorizationStatus.AUTHORIZED, None, None)


def idle(s: InstanceState) -> bool:
    """The SSM's last answer counts no license in use for the instance."""
    return bool(s.entitlements) and all(e.status is EntitlementStatus.NO_LICENSE_IN_USE for e in s.entitlements)


def _deadlines(s: InstanceState, p: Policy) -> list[int]:
    """Every instant at which ``derive`` may change its answer without any event."""
    if s.registration is RegistrationStatus.REGISTERED_SLR:
        return []
    if not is_registered(s):
        return [s.first_started_at + _s(p.evaluation_period)]
    out = []
    if s.cert_expires_at is not None:
        out.append(s.cert_expires_at)
    contact = s.last_contact_at if s.last_contact_at is not None else s.registered_at
    if contact is not None:
        out += [contact + _s(p.auth_expiry), contact + _s(p.auth_expiry) + _s(p.auth_overage)]
    if s.ooc_since is not None:
        out.append(s.ooc_since + _s(p.ooc_grace))
    return out


_MESSAGES = {
    AuthorizationStatus.EVALUATION_EXPIRED: "the 90-day evaluation period expired; register the product instance",
    AuthorizationStatus.AUTHORIZATION_EXPIRED: "no successful contact with the SSM for the authorization period; "
    "renew the authorization",
    AuthorizationStatus.OUT_OF_COMPLIANCE: "license consumption exceeds the entitlements",
    AuthorizationStatus.AUTHORIZED: "authorized",
    AuthorizationStatus.EVALUATION: "back in Evaluation Mode",
    AuthorizationStatus.UNAUTHORIZED: "registered, but the SSM has not authorized it yet",
    AuthorizationStatus.NO_LICENSE_IN_USE: "authorized; the SSM counts no license in use",
    AuthorizationStatus.AUTHORIZED_RESERVED: "licenses reserved by an installed authorization code",
}


def _apply(s: InstanceState, phase: Phase, t: int) -> tuple[InstanceState, list[Record]]:
    events: list[Record] = []
    if phase.registration is not s.registration:
        msg = (
            "the ID certificate was not renewed for 12 months; reregister the product instance"
            if phase.registration is RegistrationStatus.REGISTRATION_EXPIRED
            else str(phase.registration)
        )
        events.append((t, "registration_" + phase.registration.name.lower(), f"{phase.registration}: {msg}"))
    if phase.authorization is not s.authorization:
        message = _MESSAGES.get(phase.authorization, "")
        if phase.registration is RegistrationStatus.REGISTRATION_EXPIRED:
            message = message.replace("renew the authorization", "reregister the product instance")
        events.append((t, "authorization_" + phase.authorization.name.lower(), f"{phase.authorization}: {message}"))
    if phase.enforcement is not s.enforcement:
        if phase.enforcement is None:
            events.append((t, "enforcement_ended", "left the Enforcement state"))
        else:
            way = way_out(phase.enforcement, phase.registration)
            events.append((t, "enforcement", f"Enforcement ({phase.enforcement}): {way}"))
    return (
        msgspec.structs.replace(
            s,
            registration=phase.registration,
            authorization=phase.authorization,
            enforcement=phase.enforcement,
            enforcement_since=phase.enforcement_since,
            checked_at=max(s.checked_at, t),
        ),
        events,
    )


def tick(s: InstanceState, now: datetime, p: Policy) -> tuple[InstanceState, list[Record]]:
    """Record every time-driven transition between the last tick and ``now``, in order."""
    t = epoch(now)
    events: list[Record] = []
    for d in sorted({d for d in _deadlines(s, p) if s.checked_at < d <= t}):
        s, ev = _apply(s, derive(s, d, p), d)
        events += ev
    s, ev = _apply(s, derive(s, t, p), t)
    return s, events + ev


#: The way out of Registration Expired (seed "License States": "Reregister the Product Instance"):
#: the expired ID certificate signs nothing, so no renewal can succeed.
REREGISTER = (
    "reregister the product instance with a new token ('smart-agent reregister TOKEN'); its ID certificate "
    "expired, so it can renew nothing"
)


def way_out(kind: Enforcement, registration: RegistrationStatus = RegistrationStatus.REGISTERED) -> str:
    """What a person does to leave Enforcement (the seed's "Enforcement State"); with the
    registration expired, every way out goes through reregistering."""
    if registration is RegistrationStatus.REGISTRATION_EXPIRED:
        if kind is Enforcement.OUT_OF_COMPLIANCE_EXPIRY:
            return f"purchase the missing licenses ('ssm-server license add ...') and {REREGISTER}"
        return REREGISTER
    return {
        Enforcement.EVALUATION_EXPIRY: "register the product instance with the SSM ('smart-agent register TOKEN')",
        Enforcement.AUTHORIZATION_EXPIRY: "restore the connection to the SSM and renew the authorization "
        "('smart-agent renew auth')",
        Enforcement.OUT_OF_COMPLIANCE_EXPIRY: "purchase the missing licenses ('ssm-server license add ...'); the "
        "next report returns to In Compliance",
    }[kind]


# -- what to send, and when to wake --------------------------------------------------------------


def auth_due_at(s: InstanceState, p: Policy) -> int | None:
    """When the next authorization renewal is due (backoff included); None when none is."""
    if s.registration is not RegistrationStatus.REGISTERED:
        return None
    base = s.authorized_at + _s(p.auth_renewal_interval) if s.authorized_at is not None else s.registered_at
    if base is None:
        return None
    return max(base, s.auth_retry.at) if s.auth_retry else base


def reg_due_at(s: InstanceState, p: Policy) -> int | None:
    """When the next ID-certificate renewal is due (backoff included); None when none is."""
    if s.registration is not RegistrationStatus.REGISTERED or s.cert_issued_at is None:
        return None
    base = s.cert_issued_at + _s(p.id_cert_renewal)
    return max(base, s.reg_retry.at) if s.reg_retry else base


def due(s: InstanceState, now: datetime, p: Policy) -> list[Due]:
    """The automatic requests to send now, in order (none while the Smart Agent is disabled)."""
    t = epoch(now)
    out: list[Due] = []
    if not s.enabled:
        return out
    reg_at = reg_due_at(s, p)
    if reg_at is not None and reg_at <= t:
        out.append(Due.RENEW_REGISTRATION)
    auth_at = auth_due_at(s, p)
    if auth_at is not None and auth_at <= t:
        out.append(Due.RENEW_AUTHORIZATION)
    return out


def next_wakeup(s: InstanceState, now: datetime, p: Policy) -> datetime | None:
    """When the shell must tick next: the earliest future deadline or due request."""
    t = epoch(now)
    candidates = [d for d in _deadlines(s, p) if d > s.checked_at]
    if s.enabled:
        candidates += [d for d in (auth_due_at(s, p), reg_due_at(s, p)) if d is not None]
    if not candidates:
        return None
    return utc(max(t, min(candidates)))


def backoff(previous: Retry | None, now: datetime, p: Policy) -> Retry:
    """The next retry after a failure: the initial delay, doubling, capped; never zero."""
    initial, cap = _s(p.retry_initial), _s(p.retry_max)
    delay = initial if previous is None else min(cap, max(initial, previous.delay * 2))
    return Retry(at=epoch(now) + delay, delay=delay, attempts=(previous.attempts if previous else 0) + 1)
