"""The product instance's licensing lifecycle, sans-IO.

``InstanceState`` is everything the agent persists about one product instance. Statuses follow
from persisted instants (first start, last successful contact, ID-certificate dates, the SSM's
Out-of-Compliance start) by the seed's rules, in ``derive``. The shell never computes a status
on read: it calls ``tick`` at each deadline (and at start-up), which records every transition
crossed since the last tick at its own instant, in order, and returns the events to persist.

``due`` says which request the instance should send now (automatic renewals, with backoff after
a failure); ``next_wakeup`` says when the shell must tick again. Because every timer is derived
from persisted instants, nothing is lost across restarts.

Rules (DESIGN.md policy table; the seed's "License States" and "Out-Of-Compliance and
Enforcement Rules"):

- Unregistered: Evaluation Mode for 90 days from the first start (never reset), then
  Evaluation Expired and Enforcement (evaluation expiry).
- Registered: authorization renewed every 30 days; 90 days without a successful contact:
  Authorization Expired; 90 more days of overage: Enforcement (authorization expiry). A
  successful renewal at any point returns to Authorized.
- Out of Compliance (the SSM's verdict) for 90 days: Enforcement (Out-of-Compliance expiry).
- ID certificate renewed every 6 months; past its 12-month validity: Registration Expired.

Pure: no IO, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import msgspec

from shared.catalog import effective_license_type
from shared.clock import epoch, utc
from shared.durations import format_duration
from shared.errors import Conflict, SmartLicensingError
from shared.messages import (
    Authorization,
    EntitlementGrant,
    Identity,
    Registered,
    RegistrationRenewed,
    UsageAccepted,
)
from shared.policy import Policy
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

    @property
    def effective_license_type(self) -> LicenseType:
        return effective_license_type(self.license_type, self.deployment_type)

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


Event = tuple[int, str, str]  # (at, kind, message)


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


def _is_registered(s: InstanceState) -> bool:
    return s.registration in (RegistrationStatus.REGISTERED, RegistrationStatus.REGISTRATION_EXPIRED)


def derive(s: InstanceState, t: int, p: Policy) -> Phase:
    """The statuses at instant ``t`` (epoch seconds), from the persisted instants alone."""
    if s.registration is RegistrationStatus.REGISTERED_SLR:
        # A reservation is installed: no contact, no renewal, nothing expires (perpetual).
        return Phase(s.registration, AuthorizationStatus.AUTHORIZED_RESERVED, None, None)
    if not _is_registered(s):
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
        return Phase(reg, AuthorizationStatus.UNAUTHORIZED, None, None)
    return Phase(reg, AuthorizationStatus.AUTHORIZED, None, None)


def _deadlines(s: InstanceState, p: Policy) -> list[int]:
    """Every instant at which ``derive`` may change its answer without any event."""
    if s.registration is RegistrationStatus.REGISTERED_SLR:
        return []
    if not _is_registered(s):
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
    AuthorizationStatus.UNAUTHORIZED: "not authorized",
    AuthorizationStatus.AUTHORIZED_RESERVED: "licenses reserved by an installed authorization code",
}


def _apply(s: InstanceState, phase: Phase, t: int) -> tuple[InstanceState, list[Event]]:
    events: list[Event] = []
    if phase.registration is not s.registration:
        msg = (
            "the ID certificate was not renewed for 12 months; reregister the product instance"
            if phase.registration is RegistrationStatus.REGISTRATION_EXPIRED
            else str(phase.registration)
        )
        events.append((t, "registration_" + phase.registration.name.lower(), f"{phase.registration}: {msg}"))
    if phase.authorization is not s.authorization:
        events.append(
            (
                t,
                "authorization_" + phase.authorization.name.lower(),
                f"{phase.authorization}: {_MESSAGES.get(phase.authorization, '')}",
            )
        )
    if phase.enforcement is not s.enforcement:
        if phase.enforcement is None:
            events.append((t, "enforcement_ended", "left the Enforcement state"))
        else:
            events.append((t, "enforcement", f"Enforcement ({phase.enforcement}): {way_out(phase.enforcement)}"))
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


def tick(s: InstanceState, now: datetime, p: Policy) -> tuple[InstanceState, list[Event]]:
    """Record every time-driven transition between the last tick and ``now``, in order."""
    t = epoch(now)
    events: list[Event] = []
    for d in sorted({d for d in _deadlines(s, p) if s.checked_at < d <= t}):
        s, ev = _apply(s, derive(s, d, p), d)
        events += ev
    s, ev = _apply(s, derive(s, t, p), t)
    return s, events + ev


def way_out(kind: Enforcement) -> str:
    """What a person does to leave Enforcement (the seed's "Enforcement State")."""
    return {
        Enforcement.EVALUATION_EXPIRY: "register the product instance with the SSM ('smart-agent register TOKEN')",
        Enforcement.AUTHORIZATION_EXPIRY: "restore the connection to the SSM and renew the authorization "
        "('smart-agent renew auth')",
        Enforcement.OUT_OF_COMPLIANCE_EXPIRY: "purchase the missing licenses ('ssm-server license add ...'); the "
        "next report returns to In Compliance",
    }[kind]


# -- what to send, and when to wake --------------------------------------------------------------


def _auth_due_at(s: InstanceState, p: Policy) -> int | None:
    if s.registration is not RegistrationStatus.REGISTERED:
        return None
    base = s.authorized_at + _s(p.auth_renewal_interval) if s.authorized_at is not None else s.registered_at
    if base is None:
        return None
    return max(base, s.auth_retry.at) if s.auth_retry else base


def _reg_due_at(s: InstanceState, p: Policy) -> int | None:
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
    reg_at = _reg_due_at(s, p)
    if reg_at is not None and reg_at <= t:
        out.append(Due.RENEW_REGISTRATION)
    auth_at = _auth_due_at(s, p)
    if auth_at is not None and auth_at <= t:
        out.append(Due.RENEW_AUTHORIZATION)
    return out


def next_wakeup(s: InstanceState, now: datetime, p: Policy) -> datetime | None:
    """When the shell must tick next: the earliest future deadline or due request."""
    t = epoch(now)
    candidates = [d for d in _deadlines(s, p) if d > s.checked_at]
    if s.enabled:
        candidates += [d for d in (_auth_due_at(s, p), _reg_due_at(s, p)) if d is not None]
    if not candidates:
        return None
    return utc(max(t, min(candidates)))


def backoff(previous: Retry | None, now: datetime, p: Policy) -> Retry:
    """The next retry after a failure: the initial delay, doubling, capped; never zero."""
    initial, cap = _s(p.retry_initial), _s(p.retry_max)
    delay = initial if previous is None else min(cap, max(initial, previous.delay * 2))
    return Retry(at=epoch(now) + delay, delay=delay, attempts=(previous.attempts if previous else 0) + 1)


# -- events from replies and people -------------------------------------------------------------


def on_registered(s: InstanceState, reply: Registered, now: datetime) -> InstanceState:
    """The SSM accepted the registration and issued an ID certificate."""
    return msgspec.structs.replace(
        s,
        registration=RegistrationStatus.REGISTERED,
        authorization=AuthorizationStatus.UNAUTHORIZED,
        enforcement=None,
        enforcement_since=None,
        piid=reply.piid,
        registered_at=reply.registered_at,
        cert_issued_at=reply.registered_at,
        cert_expires_at=reply.cert_expires_at,
        smart_account=reply.smart_account,
        smart_account_domain=reply.smart_account_domain,
        virtual_account=reply.virtual_account,
        export_controlled=reply.export_controlled,
        authorized_at=None,
        last_contact_at=epoch(now),
        ooc_since=None,
        ooc_reason="",
        entitlements=[],
        last_failure=None,
        auth_retry=None,
        reg_retry=None,
        checked_at=epoch(now),
    )


def on_authorized(s: InstanceState, reply: Authorization, now: datetime) -> InstanceState:
    """The SSM answered an authorization request (its compliance verdict included)."""
    return msgspec.structs.replace(
        s,
        authorized_at=reply.authorized_at,
        last_contact_at=epoch(now),
        ooc_since=reply.out_of_compliance_since,
        ooc_reason=reply.compliance_reason,
        entitlements=list(reply.entitlements),
        last_failure=None,
        auth_retry=None,
    )


def on_usage_accepted(s: InstanceState, reply: UsageAccepted, now: datetime) -> InstanceState:
    """The SSM stored usage reports and gave its compliance verdict."""
    grants = {g.tag: g for g in s.entitlements}
    grants.update({g.tag: g for g in reply.entitlements})
    return msgspec.structs.replace(
        s,
        last_contact_at=epoch(now),
        ooc_since=reply.out_of_compliance_since,
        ooc_reason=reply.compliance_reason,
        entitlements=list(grants.values()),
        last_failure=None,
    )


def on_registration_renewed(s: InstanceState, reply: RegistrationRenewed, now: datetime) -> InstanceState:
    """The SSM issued a new ID certificate."""
    return msgspec.structs.replace(
        s,
        cert_issued_at=reply.issued_at,
        cert_expires_at=reply.cert_expires_at,
        last_contact_at=epoch(now),
        last_failure=None,
        reg_retry=None,
    )


def on_contact(s: InstanceState, now: datetime) -> InstanceState:
    """Any successful exchange with the SSM counts as contact."""
    return msgspec.structs.replace(s, last_contact_at=epoch(now))


def on_failure(s: InstanceState, error: SmartLicensingError, now: datetime, *, action: str) -> InstanceState:
    """A request failed; remember why (shown in status) without changing the licensing state."""
    return msgspec.structs.replace(
        s,
        last_failure=Failure(code=error.code, message=error.message, fix=error.fix, at=epoch(now), action=action),
    )


def on_due_failed(s: InstanceState, due_: Due, error: SmartLicensingError, now: datetime, p: Policy) -> InstanceState:
    """An automatic request failed: remember why and back off before the next attempt."""
    s = on_failure(s, error, now, action=str(due_))
    if due_ is Due.RENEW_AUTHORIZATION:
        return msgspec.structs.replace(s, auth_retry=backoff(s.auth_retry, now, p))
    return msgspec.structs.replace(s, reg_retry=backoff(s.reg_retry, now, p))


def on_deregistered(
    s: InstanceState, now: datetime, *, entitlement_status: EntitlementStatus | None = None
) -> InstanceState:
    """Registration ended (deregistered, or removed by the SSM): back to evaluation rules.

    ``entitlement_status`` keeps the entitlements listed with that status (e.g. Disabled when the
    SSM removed the instance); else they are released.
    """
    ents = [msgspec.structs.replace(e, status=entitlement_status) for e in s.entitlements] if entitlement_status else []
    return msgspec.structs.replace(
        s,
        registration=RegistrationStatus.UNREGISTERED,
        piid=None,
        registered_at=None,
        cert_issued_at=None,
        cert_expires_at=None,
        smart_account=None,
        smart_account_domain=None,
        virtual_account=None,
        export_controlled=ExportControl.NOT_ALLOWED,
        authorized_at=None,
        last_contact_at=None,
        ooc_since=None,
        ooc_reason="",
        entitlements=ents,
        auth_retry=None,
        reg_retry=None,
    )


def require_enabled(s: InstanceState) -> None:
    """A disabled Smart Agent sends nothing.

    Raises:
        Conflict: ``smart_agent_disabled``.
    """
    if not s.enabled:
        raise Conflict(
            f"the Smart Agent is not enabled for {s.name!r}",
            code="smart_agent_disabled",
            fix=f"enable it first ('smart-agent enable --instance {s.name}')",
        )


def check_can_register(s: InstanceState) -> None:
    """Registering is for an unregistered instance; a registered one reregisters.

    Raises:
        Conflict: ``already_registered``.
    """
    require_no_reservation(s, "register")
    if _is_registered(s):
        raise Conflict(
            f"product instance {s.name!r} is already registered (virtual account {s.virtual_account!r})",
            code="already_registered",
            fix="use 'smart-agent reregister TOKEN' to register again (or to move it to another "
            "virtual account), or 'smart-agent deregister' first",
        )


def require_no_reservation(s: InstanceState, action: str) -> None:
    """Smart Licensing and Specific License Reservation exclude each other.

    Raises:
        Conflict: ``reservation_in_place``.
    """
    if s.registration is RegistrationStatus.REGISTERED_SLR:
        raise Conflict(
            f"cannot {action}: {s.name!r} uses Specific License Reservation",
            code="reservation_in_place",
            fix="return the reservation first ('smart-agent reservation return'), then give the SSM its return code",
        )
    if s.registration is RegistrationStatus.RESERVATION_IN_PROGRESS:
        raise Conflict(
            f"cannot {action}: a reservation of {s.name!r} is in progress",
            code="reservation_in_progress",
            fix="install its authorization code ('smart-agent reservation install CODE') or cancel it "
            "('smart-agent reservation cancel')",
        )


def request_reservation(s: InstanceState, code: str, now: datetime) -> InstanceState:
    """Enter "Reservation In Progress" with a request code for the SSM (Evaluation rules go on).

    Raises:
        Conflict: registered (deregister first) or already reserved.
    """
    if _is_registered(s):
        raise Conflict(
            f"{s.name!r} is registered with Smart Licensing; a reservation replaces the registration",
            code="deregister_first",
            fix="deregister first ('smart-agent deregister'), then request the reservation",
        )
    if s.registration is RegistrationStatus.REGISTERED_SLR:
        require_no_reservation(s, "request a reservation")
    return msgspec.structs.replace(
        s,
        registration=RegistrationStatus.RESERVATION_IN_PROGRESS,
        reservation=Reservation(request_code=code, requested_at=epoch(now)),
    )


def cancel_reservation(s: InstanceState) -> InstanceState:
    """Leave "Reservation In Progress" (nothing was installed; the SSM holds nothing to return)."""
    if s.registration is not RegistrationStatus.RESERVATION_IN_PROGRESS:
        raise Conflict(
            f"{s.name!r} has no reservation in progress", code="no_reservation", fix="see 'smart-agent status'"
        )
    return msgspec.structs.replace(s, registration=RegistrationStatus.UNREGISTERED, reservation=None)


def requested_reservation(s: InstanceState) -> Reservation:
    """The reservation an authorization code may be installed for (requested, or installed).

    Raises:
        Conflict: ``no_reservation``.
    """
    if s.reservation is None or s.registration not in (
        RegistrationStatus.RESERVATION_IN_PROGRESS,
        RegistrationStatus.REGISTERED_SLR,
    ):
        raise Conflict(
            f"{s.name!r} has not requested a reservation",
            code="no_reservation",
            fix="request one first ('smart-agent reservation request') and reserve with the code it prints",
        )
    return s.reservation


def install_reservation(
    s: InstanceState,
    grants: list[EntitlementGrant],
    *,
    confirmation: str,
    return_code: str,
    now: datetime,
    code_timestamp: int = 0,
) -> InstanceState:
    """An authorization code was verified: "Registered - Specific License Reservation",
    "Authorized - Reserved", each reserved entitlement "ReservedInCompliance". A code older than
    the installed one is refused (it would hold what the SSM no longer reserves).

    Raises:
        Conflict: ``no_reservation``, ``authorization_code_outdated``.
    """
    pending = requested_reservation(s)
    if pending.installed_at is not None and code_timestamp < pending.code_timestamp:
        raise Conflict(
            "this authorization code is older than the one installed",
            code="authorization_code_outdated",
            fix="install the code of the latest reserve or update operation",
        )
    return msgspec.structs.replace(
        s,
        registration=RegistrationStatus.REGISTERED_SLR,
        authorization=AuthorizationStatus.AUTHORIZED_RESERVED,
        enforcement=None,
        enforcement_since=None,
        entitlements=grants,
        reservation=msgspec.structs.replace(
            pending,
            installed_at=epoch(now),
            confirmation_code=confirmation,
            return_code=return_code,
            code_timestamp=code_timestamp,
        ),
        last_failure=None,
        checked_at=epoch(now),
    )


def return_reservation(s: InstanceState) -> tuple[InstanceState, str]:
    """Give the reserved licenses back: Unregistered again; the return code is for the SSM."""
    if s.registration is not RegistrationStatus.REGISTERED_SLR or s.reservation is None:
        raise Conflict(
            f"{s.name!r} holds no installed reservation",
            code="no_reservation",
            fix="a reservation in progress is cancelled instead ('smart-agent reservation cancel')",
        )
    code = s.reservation.return_code
    state = msgspec.structs.replace(s, registration=RegistrationStatus.UNREGISTERED, reservation=None, entitlements=[])
    return state, code


def require_registered(s: InstanceState, action: str) -> None:
    """Renewals and deregistration need a registration.

    Raises:
        Conflict: ``not_registered``.
    """
    if s.registration in (RegistrationStatus.REGISTERED_SLR, RegistrationStatus.RESERVATION_IN_PROGRESS):
        require_no_reservation(s, action)
    if not _is_registered(s):
        raise Conflict(
            f"cannot {action}: product instance {s.name!r} is not registered",
            code="not_registered",
            fix="register it first ('smart-agent register TOKEN')",
        )
    if s.registration is RegistrationStatus.REGISTRATION_EXPIRED and action != "deregister":
        raise Conflict(
            f"cannot {action}: the registration of {s.name!r} expired; its ID certificate is no longer valid",
            code="registration_expired",
            fix="reregister with a new token ('smart-agent reregister TOKEN')",
        )


def set_license_type(s: InstanceState, license_type: LicenseType, usage_mode: UsageMode) -> InstanceState:
    """Choose the License Type before registering; refused while registered.

    Raises:
        Conflict: ``deregister_first``.
    """
    if s.registration is RegistrationStatus.REGISTERED_SLR:
        require_no_reservation(s, "change the license type")
    if _is_registered(s):
        raise Conflict(
            f"the license type of {s.name!r} cannot change while it is registered",
            code="deregister_first",
            fix="deregister first ('smart-agent deregister'), change the license type, then register again",
        )
    return msgspec.structs.replace(s, license_type=license_type, usage_mode=usage_mode)


def add_agents(s: InstanceState, count: int) -> InstanceState:
    """Add agents to the deployment; blocked in Enforcement (the seed's one named effect).

    Raises:
        Conflict: ``enforcement`` naming the reason and the way out.
    """
    if s.enforcement is not None:
        raise Conflict(
            f"adding agents is blocked: {s.name!r} is in Enforcement ({s.enforcement})",
            code="enforcement",
            fix=way_out(s.enforcement),
        )
    return msgspec.structs.replace(s, agents=s.agents + count)


# -- status (seed Table 2) ----------------------------------------------------------------------


class StatusView(msgspec.Struct, frozen=True, kw_only=True):
    """The "Smart Licensing Status" of seed Table 2, plus what a person needs next."""

    product_instance_name: str
    registration_status: RegistrationStatus
    registration_time: str | None
    license_authorization_status: AuthorizationStatus
    authorization_time: str | None
    export_controlled_functionality: ExportControl
    smart_account: str | None
    virtual_account: str | None
    serial_number: str
    product: str
    deployment_type: str
    license_type: LicenseType
    configured_license_type: LicenseType
    usage_mode: UsageMode
    piid: str | None
    evaluation_remaining: str | None
    evaluation_expires: str
    enforcement: Enforcement | None
    enforcement_since: str | None
    way_out: str | None
    out_of_compliance_since: str | None
    out_of_compliance_reason: str | None
    next_authorization_renewal: str | None
    authorization_expires: str | None
    next_registration_renewal: str | None
    registration_expires: str | None
    last_contact: str | None
    agents: int
    entitlements: list[EntitlementGrant]
    reason: Failure | None
    #: Specific License Reservation: the request code (in progress) and, once installed, the
    #: confirmation code for the SSM.
    reservation_request_code: str | None = None
    reservation_confirmation_code: str | None = None


def _iso(ts: int | None) -> str | None:
    return utc(ts).isoformat() if ts is not None else None


def status_view(s: InstanceState, now: datetime, p: Policy) -> StatusView:
    """Table 2 for ``s``: on success the account fields, on failure the reason."""
    registered = _is_registered(s)
    evaluating = s.authorization is AuthorizationStatus.EVALUATION
    eval_end = utc(s.first_started_at) + p.evaluation_period
    contact = s.last_contact_at
    return StatusView(
        product_instance_name=s.name,
        registration_status=s.registration,
        registration_time=_iso(s.registered_at) if registered else None,
        license_authorization_status=s.authorization,
        authorization_time=_iso(s.reservation.installed_at)
        if s.reservation is not None and s.authorization is AuthorizationStatus.AUTHORIZED_RESERVED
        else _iso(s.authorized_at)
        if s.authorization in (AuthorizationStatus.AUTHORIZED, AuthorizationStatus.OUT_OF_COMPLIANCE)
        else None,
        export_controlled_functionality=s.export_controlled,
        smart_account=s.smart_account if registered else None,
        virtual_account=s.virtual_account if registered else None,
        serial_number=s.serial_number,
        product=s.product,
        deployment_type=s.deployment_type,
        license_type=s.effective_license_type,
        configured_license_type=s.license_type,
        usage_mode=s.usage_mode,
        piid=s.piid if registered else None,
        evaluation_remaining=format_duration(max(timedelta(0), eval_end - now)) if evaluating else None,
        evaluation_expires=eval_end.isoformat(),
        enforcement=s.enforcement,
        enforcement_since=_iso(s.enforcement_since),
        way_out=(
            "install the authorization code ('smart-agent reservation install CODE'), or cancel the reservation "
            "('smart-agent reservation cancel') and register"
            if s.enforcement is Enforcement.EVALUATION_EXPIRY
            and s.registration is RegistrationStatus.RESERVATION_IN_PROGRESS
            else way_out(s.enforcement)
            if s.enforcement
            else None
        ),
        out_of_compliance_since=_iso(s.ooc_since),
        out_of_compliance_reason=s.ooc_reason or None,
        next_authorization_renewal=_iso(_auth_due_at(s, p)),
        authorization_expires=_iso(contact + _s(p.auth_expiry)) if registered and contact is not None else None,
        next_registration_renewal=_iso(_reg_due_at(s, p)),
        registration_expires=_iso(s.cert_expires_at) if registered else None,
        last_contact=_iso(contact),
        agents=s.agents,
        entitlements=list(s.entitlements),
        reason=s.last_failure,
        reservation_request_code=s.reservation.request_code if s.reservation else None,
        reservation_confirmation_code=s.reservation.confirmation_code or None if s.reservation else None,
    )
