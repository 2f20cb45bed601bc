"""The product instance's licensing lifecycle, sans-IO.

``InstanceState`` is everything the agent persists about one product instance. The functions
here take a state, ``now`` and an event (a reply, a failure, a person's action) and return the
next state; ``tick`` applies the transitions that time alone causes, ``due`` says which request
the instance should send now, and ``next_deadline`` says when something next becomes due. The
agent's shell sleeps until that deadline, ticks, sends what is due and persists the result, so
timers are always recomputed from persisted times and survive restarts.

Seed rules (DESIGN.md policy table): evaluation 90 days from first start, never reset;
authorization renewed every 30 days, expired after 90 days without contact, then 90 days of
overage before Enforcement; ID certificate renewed every 6 months, Registration Expired after 12.

Pure: no IO, no clock.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

import msgspec

from shared.catalog import effective_license_type
from shared.clock import epoch, utc
from shared.durations import format_duration
from shared.errors import Conflict, SmartLicensingError
from shared.messages import Authorization, EntitlementGrant, Identity, Registered
from shared.policy import Policy
from shared.states import (
    AuthorizationStatus,
    Enforcement,
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
    registration: RegistrationStatus = RegistrationStatus.UNREGISTERED
    authorization: AuthorizationStatus = AuthorizationStatus.EVALUATION
    enforcement: Enforcement | None = None
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
    entitlements: list[EntitlementGrant] = []
    last_failure: Failure | None = None
    retry_at: int | None = None
    retry_delay: int = 0

    # -- derived ---------------------------------------------------------------------------------
    @property
    def registered(self) -> bool:
        return self.registration is RegistrationStatus.REGISTERED

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
    return InstanceState(
        name=name,
        product=product,
        udi_pid=udi_pid,
        serial_number=serial_number,
        hostname=hostname,
        deployment_type=deployment_type,
        license_type=license_type,
        usage_mode=usage_mode,
        first_started_at=epoch(now),
    )


def evaluation_expires_at(state: InstanceState, policy: Policy) -> datetime:
    return utc(state.first_started_at) + policy.evaluation_period


def evaluation_remaining(state: InstanceState, now: datetime, policy: Policy) -> timedelta:
    return max(timedelta(0), evaluation_expires_at(state, policy) - now)


# -- events --------------------------------------------------------------------------------------


def on_registered(state: InstanceState, reply: Registered, now: datetime) -> InstanceState:
    """The SSM accepted the registration and issued an ID certificate."""
    return msgspec.structs.replace(
        state,
        registration=RegistrationStatus.REGISTERED,
        piid=reply.piid,
        registered_at=reply.registered_at,
        cert_issued_at=reply.registered_at,
        cert_expires_at=reply.cert_expires_at,
        smart_account=reply.smart_account,
        smart_account_domain=reply.smart_account_domain,
        virtual_account=reply.virtual_account,
        export_controlled=reply.export_controlled,
        last_contact_at=epoch(now),
        last_failure=None,
        retry_at=None,
        retry_delay=0,
    )


def on_authorized(state: InstanceState, reply: Authorization, now: datetime) -> InstanceState:
    """The SSM answered an authorization request."""
    return msgspec.structs.replace(
        state,
        authorization=AuthorizationStatus.AUTHORIZED,
        enforcement=None,
        authorized_at=reply.authorized_at,
        last_contact_at=epoch(now),
        entitlements=list(reply.entitlements),
        last_failure=None,
        retry_at=None,
        retry_delay=0,
    )


def on_failure(state: InstanceState, error: SmartLicensingError, now: datetime, *, action: str) -> InstanceState:
    """A request failed; remember why (shown in status) without changing the licensing state."""
    return msgspec.structs.replace(
        state,
        last_failure=Failure(code=error.code, message=error.message, fix=error.fix, at=epoch(now), action=action),
    )


def check_can_register(state: InstanceState) -> None:
    """Registering is for an unregistered instance; a registered one reregisters.

    Raises:
        Conflict: ``already_registered``.
    """
    if state.registration is RegistrationStatus.REGISTERED:
        raise Conflict(
            f"product instance {state.name!r} is already registered (virtual account {state.virtual_account!r})",
            code="already_registered",
            fix="use 'smart-agent reregister TOKEN' to register again (or to move it to another "
            "virtual account), or 'smart-agent deregister' first",
        )


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
    usage_mode: UsageMode
    piid: str | None
    evaluation_remaining: str | None
    enforcement: Enforcement | None
    reason: Failure | None


def _iso(ts: int | None) -> str | None:
    return utc(ts).isoformat() if ts is not None else None


def status_view(state: InstanceState, now: datetime, policy: Policy) -> StatusView:
    """Table 2 for ``state``: on success the account fields, on failure the reason."""
    registered = state.registered
    evaluating = state.authorization is AuthorizationStatus.EVALUATION
    return StatusView(
        product_instance_name=state.name,
        registration_status=state.registration,
        registration_time=_iso(state.registered_at) if registered else None,
        license_authorization_status=state.authorization,
        authorization_time=_iso(state.authorized_at) if state.authorization is AuthorizationStatus.AUTHORIZED else None,
        export_controlled_functionality=state.export_controlled,
        smart_account=state.smart_account if registered else None,
        virtual_account=state.virtual_account if registered else None,
        serial_number=state.serial_number,
        product=state.product,
        deployment_type=state.deployment_type,
        license_type=state.effective_license_type,
        usage_mode=state.usage_mode,
        piid=state.piid if registered else None,
        evaluation_remaining=format_duration(evaluation_remaining(state, now, policy)) if evaluating else None,
        enforcement=state.enforcement,
        reason=state.last_failure,
    )
