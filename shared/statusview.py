"""The "Smart Licensing Status" of a product instance (seed Table 2), as a person reads it.

A view of the persisted ``InstanceState`` at an instant: on success the account fields, on
failure the reason, and what a person needs next (renewal dates, the way out of Enforcement).
It computes no status: statuses are recorded by ``shared.lifecycle.tick``.

Pure: no IO, no clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec

from shared.clock import utc
from shared.durations import format_duration
from shared.lifecycle import (
    REREGISTER,
    Failure,
    InstanceState,
    auth_due_at,
    is_registered,
    reg_due_at,
    way_out,
)
from shared.messages import EntitlementGrant
from shared.policy import Policy
from shared.states import (
    AuthorizationStatus,
    Enforcement,
    ExportControl,
    LicenseType,
    RegistrationStatus,
    UsageMode,
)


class StatusView(msgspec.Struct, frozen=True, kw_only=True):
    """The "Smart Licensing Status" of seed Table 2, plus what a person needs next."""

    product_instance_name: str
    registration_status: RegistrationStatus
    #: When it registered; for Registration Expired, when the ID certificate expired.
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
    #: How to leave Enforcement or Registration Expired.
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


_AUTHORIZED = (
    AuthorizationStatus.AUTHORIZED,
    AuthorizationStatus.NO_LICENSE_IN_USE,
    AuthorizationStatus.OUT_OF_COMPLIANCE,
)


def _authorization_time(s: InstanceState) -> str | None:
    """When it was authorized (Table 2: "Authorized (Date and time of authorization)")."""
    if s.reservation is not None and s.authorization is AuthorizationStatus.AUTHORIZED_RESERVED:
        return _iso(s.reservation.installed_at)
    return _iso(s.authorized_at) if s.authorization in _AUTHORIZED else None


def _way_out(s: InstanceState) -> str | None:
    """How to leave Enforcement, or Registration Expired (seed: "Reregister the Product Instance")."""
    if s.enforcement is Enforcement.EVALUATION_EXPIRY and s.registration is RegistrationStatus.RESERVATION_IN_PROGRESS:
        return (
            "install the authorization code ('smart-agent reservation install CODE'), or cancel the reservation "
            "('smart-agent reservation cancel') and register"
        )
    if s.enforcement is not None:
        return way_out(s.enforcement, s.registration)
    return REREGISTER if s.registration is RegistrationStatus.REGISTRATION_EXPIRED else None


def status_view(s: InstanceState, now: datetime, p: Policy) -> StatusView:
    """Table 2 for ``s``: on success the account fields, on failure the reason."""
    registered = is_registered(s)
    expired = s.registration is RegistrationStatus.REGISTRATION_EXPIRED
    evaluating = s.authorization is AuthorizationStatus.EVALUATION
    eval_end = utc(s.first_started_at) + p.evaluation_period
    contact = s.last_contact_at
    return StatusView(
        product_instance_name=s.name,
        registration_status=s.registration,
        registration_time=_iso(s.cert_expires_at if expired else s.registered_at) if registered else None,
        license_authorization_status=s.authorization,
        authorization_time=_authorization_time(s),
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
        way_out=_way_out(s),
        out_of_compliance_since=_iso(s.ooc_since),
        out_of_compliance_reason=s.ooc_reason or None,
        next_authorization_renewal=_iso(auth_due_at(s, p)),
        authorization_expires=_iso(contact + int(p.auth_expiry.total_seconds()))
        if registered and contact is not None
        else None,
        next_registration_renewal=_iso(reg_due_at(s, p)),
        registration_expires=_iso(s.cert_expires_at) if registered else None,
        last_contact=_iso(contact),
        agents=s.agents,
        entitlements=list(s.entitlements),
        reason=s.last_failure,
        reservation_request_code=s.reservation.request_code if s.reservation else None,
        reservation_confirmation_code=s.reservation.confirmation_code or None if s.reservation else None,
    )
