"""The Specific License Reservation sub-lifecycle of a product instance, sans-IO.

Seed: "Specific License Reservation". Request (a request code for the SSM: "Reservation In
Progress", Evaluation rules go on), then install the SSM's authorization code ("Registered -
Specific License Reservation", "Authorized - Reserved", nothing expires) or cancel; an installed
reservation is returned (its return code frees the licenses on the SSM). Which status permits
which step is in ``shared.permits``; the codes themselves are read and verified by ``shared.slr``.

Pure: no IO, no clock.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from shared import slr
from shared.catalog import license_by_tag
from shared.clock import epoch
from shared.codes import ErrorCode
from shared.errors import Conflict
from shared.lifecycle import InstanceState, Reservation
from shared.messages import EntitlementGrant
from shared.permits import PersonAction, permit, refusal
from shared.states import AuthorizationStatus, EntitlementStatus, RegistrationStatus


def request_reservation(s: InstanceState, code: str, now: datetime) -> InstanceState:
    """Enter "Reservation In Progress" with a request code for the SSM (Evaluation rules go on).

    Raises:
        Conflict: registered (``deregister_first``) or already reserved (``reservation_in_place``).
    """
    status = permit(s, PersonAction.REQUEST_RESERVATION)
    return msgspec.structs.replace(
        s, registration=status, reservation=Reservation(request_code=code, requested_at=epoch(now))
    )


def cancel_reservation(s: InstanceState) -> InstanceState:
    """Leave "Reservation In Progress" (nothing was installed; the SSM holds nothing to return).

    Raises:
        Conflict: ``no_reservation``.
    """
    status = permit(s, PersonAction.CANCEL_RESERVATION)
    return msgspec.structs.replace(s, registration=status, reservation=None)


def requested_reservation(s: InstanceState) -> Reservation:
    """The reservation an authorization code may be installed for (requested, or installed).

    Raises:
        Conflict: ``no_reservation``.
    """
    permit(s, PersonAction.INSTALL_RESERVATION)
    if s.reservation is None:
        raise refusal(s, PersonAction.INSTALL_RESERVATION)
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
            code=ErrorCode.AUTHORIZATION_CODE_OUTDATED,
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
    """Give the reserved licenses back: Unregistered again; the return code is for the SSM.

    Raises:
        Conflict: ``no_reservation``.
    """
    status = permit(s, PersonAction.RETURN_RESERVATION)
    if s.reservation is None:
        raise refusal(s, PersonAction.RETURN_RESERVATION)
    code = s.reservation.return_code
    return msgspec.structs.replace(s, registration=status, reservation=None, entitlements=[]), code


def reserved_grants(auth: slr.Authorization) -> list[EntitlementGrant]:
    """The entitlements an authorization code reserves, each "ReservedInCompliance"."""
    return [
        EntitlementGrant(
            tag=e.tag,
            name=_license_name(e.tag, e.name),
            status=EntitlementStatus.RESERVED_IN_COMPLIANCE,
            requested=e.count,
            reported=e.count,
        )
        for e in auth.entitlements
    ]


def _license_name(tag: str, display: str) -> str:
    """The catalog name of an entitlement tag (the code's display name adds type and mode)."""
    key = license_by_tag(tag)
    return key.name if key is not None else display
