"""What an exchange with the SSM changes in a product instance's state, sans-IO.

A reply (registered, authorized, usage accepted, ID certificate renewed) records the contact
and the SSM's verdict; a failure is remembered as the status reason (with backoff when it was
an automatic request; when the SSM refused an authorization or a report, the entitlements are
Invalid until one is accepted); the end of a registration (deregistered, or removed by the SSM) returns
to the evaluation rules. The time rules then apply (``shared.lifecycle.tick``).

Pure: no IO, no clock.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from shared.clock import epoch
from shared.errors import RemoteError, SmartLicensingError
from shared.lifecycle import Due, Failure, InstanceState, backoff
from shared.messages import Authorization, Registered, RegistrationRenewed, UsageAccepted
from shared.policy import Policy
from shared.states import AuthorizationStatus, EntitlementStatus, ExportControl, RegistrationStatus

#: The requests that carry the instance's entitlements to the SSM (an authorization, a report).
CARRIERS = (str(Due.RENEW_AUTHORIZATION), "report_usage")


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
        refused_at=None,
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
        refused_at=None,
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
        refused_at=None,
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


def on_failure(s: InstanceState, error: SmartLicensingError, now: datetime, *, action: str) -> InstanceState:
    """A request failed; remember why (shown in status) without changing the licensing state."""
    t = epoch(now)
    refused = isinstance(error, RemoteError) and 400 <= error.remote_status < 500 and action in CARRIERS
    return msgspec.structs.replace(
        s,
        last_failure=Failure(code=error.code, message=error.message, fix=error.fix, at=t, action=action),
        refused_at=t if refused else s.refused_at,
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
        refused_at=None,
    )
