"""Which person actions a product instance accepts, by registration status, sans-IO.

The seed's "Action" menu (Register, Reregister, Renew Authorization, Renew Registration,
Deregister), the License Type page and the Specific License Reservation actions are allowed in
some registration statuses only. ``TRANSITIONS`` is the whole rule, as data (h11's
``_state.py``): a (status, action) pair it holds is allowed and names the status the action
leads to when it succeeds; a missing pair is refused by ``permit`` with a ``Conflict`` whose code
and fix say why and what to do. All the rules about it stay in this module.

Two guards do not depend on the registration status: ``require_enabled`` (a disabled Smart
Agent sends nothing) and the Enforcement block of ``add_agents``.

Pure: no IO, no clock.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

import msgspec

from shared.codes import ErrorCode
from shared.errors import Conflict
from shared.lifecycle import InstanceState, way_out
from shared.states import LicenseType, RegistrationStatus, UsageMode


class PersonAction(StrEnum):
    """An action a person takes on one product instance. Values name its events
    (``register_failed``); ``phrase`` is how refusals say it ("cannot renew the authorization")."""

    REGISTER = "register"
    REREGISTER = "reregister"
    RENEW_AUTHORIZATION = "renew_authorization"
    RENEW_REGISTRATION = "renew_registration"
    DEREGISTER = "deregister"
    CHANGE_LICENSE_TYPE = "license_type"
    REQUEST_RESERVATION = "reservation_request"
    INSTALL_RESERVATION = "reservation_install"
    RETURN_RESERVATION = "reservation_return"
    CANCEL_RESERVATION = "reservation_cancel"

    @property
    def phrase(self) -> str:
        return _PHRASES[self]


_PHRASES: Final = {
    PersonAction.REGISTER: "register",
    PersonAction.REREGISTER: "reregister",
    PersonAction.RENEW_AUTHORIZATION: "renew the authorization",
    PersonAction.RENEW_REGISTRATION: "renew the registration",
    PersonAction.DEREGISTER: "deregister",
    PersonAction.CHANGE_LICENSE_TYPE: "change the license type",
    PersonAction.REQUEST_RESERVATION: "request a reservation",
    PersonAction.INSTALL_RESERVATION: "install an authorization code",
    PersonAction.RETURN_RESERVATION: "return the reservation",
    PersonAction.CANCEL_RESERVATION: "cancel the reservation",
}

_R = RegistrationStatus
_A = PersonAction

#: (status, action) -> the status the action leads to when it succeeds. Missing: refused.
TRANSITIONS: Final[dict[tuple[RegistrationStatus, PersonAction], RegistrationStatus]] = {
    (_R.UNREGISTERED, _A.REGISTER): _R.REGISTERED,
    (_R.UNREGISTERED, _A.REREGISTER): _R.REGISTERED,
    (_R.REGISTERED, _A.REREGISTER): _R.REGISTERED,
    (_R.REGISTRATION_EXPIRED, _A.REREGISTER): _R.REGISTERED,
    (_R.REGISTERED, _A.RENEW_AUTHORIZATION): _R.REGISTERED,
    (_R.REGISTERED, _A.RENEW_REGISTRATION): _R.REGISTERED,
    (_R.REGISTERED, _A.DEREGISTER): _R.UNREGISTERED,
    (_R.REGISTRATION_EXPIRED, _A.DEREGISTER): _R.UNREGISTERED,
    # The License Type is chosen before registering (a reservation request keeps it open).
    (_R.UNREGISTERED, _A.CHANGE_LICENSE_TYPE): _R.UNREGISTERED,
    (_R.RESERVATION_IN_PROGRESS, _A.CHANGE_LICENSE_TYPE): _R.RESERVATION_IN_PROGRESS,
    # Specific License Reservation replaces Smart Licensing: request, then install or cancel.
    (_R.UNREGISTERED, _A.REQUEST_RESERVATION): _R.RESERVATION_IN_PROGRESS,
    (_R.RESERVATION_IN_PROGRESS, _A.REQUEST_RESERVATION): _R.RESERVATION_IN_PROGRESS,
    (_R.RESERVATION_IN_PROGRESS, _A.CANCEL_RESERVATION): _R.UNREGISTERED,
    (_R.RESERVATION_IN_PROGRESS, _A.INSTALL_RESERVATION): _R.REGISTERED_SLR,
    (_R.REGISTERED_SLR, _A.INSTALL_RESERVATION): _R.REGISTERED_SLR,  # an update of the reservation
    (_R.REGISTERED_SLR, _A.RETURN_RESERVATION): _R.UNREGISTERED,
}

_RESERVATION_ACTIONS: Final = (_A.INSTALL_RESERVATION, _A.RETURN_RESERVATION, _A.CANCEL_RESERVATION)


def permit(s: InstanceState, action: PersonAction) -> RegistrationStatus:
    """The status ``action`` leads to from ``s`` when it succeeds.

    Raises:
        Conflict: the action is not allowed in ``s.registration``; the code says why
            (``reservation_in_place``, ``reservation_in_progress``, ``already_registered``,
            ``not_registered``, ``registration_expired``, ``deregister_first``,
            ``no_reservation``) and the fix what to do.
    """
    try:
        return TRANSITIONS[(s.registration, action)]
    except KeyError:
        raise refusal(s, action) from None


def refusal(s: InstanceState, action: PersonAction) -> Conflict:
    """Why ``action`` is not allowed in ``s.registration`` (a pair missing from ``TRANSITIONS``)."""
    status = s.registration
    if action in _RESERVATION_ACTIONS:
        return _no_reservation(s, action)
    if status is _R.REGISTERED_SLR:
        return Conflict(
            f"cannot {action.phrase}: {s.name!r} uses Specific License Reservation",
            code=ErrorCode.RESERVATION_IN_PLACE,
            fix="return the reservation first ('smart-agent reservation return'), then give the SSM its return code",
        )
    if status is _R.RESERVATION_IN_PROGRESS:
        return Conflict(
            f"cannot {action.phrase}: a reservation of {s.name!r} is in progress",
            code=ErrorCode.RESERVATION_IN_PROGRESS,
            fix="install its authorization code ('smart-agent reservation install CODE') or cancel it "
            "('smart-agent reservation cancel')",
        )
    if action is _A.CHANGE_LICENSE_TYPE:
        return Conflict(
            f"the license type of {s.name!r} cannot change while it is registered",
            code=ErrorCode.DEREGISTER_FIRST,
            fix="deregister first ('smart-agent deregister'), change the license type, then register again",
        )
    if action is _A.REQUEST_RESERVATION:
        return Conflict(
            f"{s.name!r} is registered with Smart Licensing; a reservation replaces the registration",
            code=ErrorCode.DEREGISTER_FIRST,
            fix="deregister first ('smart-agent deregister'), then request the reservation",
        )
    if action is _A.REGISTER:
        return Conflict(
            f"product instance {s.name!r} is already registered (virtual account {s.virtual_account!r})",
            code=ErrorCode.ALREADY_REGISTERED,
            fix="use 'smart-agent reregister TOKEN' to register again (or to move it to another "
            "virtual account), or 'smart-agent deregister' first",
        )
    if status is _R.UNREGISTERED:
        return Conflict(
            f"cannot {action.phrase}: product instance {s.name!r} is not registered",
            code=ErrorCode.NOT_REGISTERED,
            fix="register it first ('smart-agent register TOKEN')",
        )
    # A renewal of an expired registration: the ID certificate no longer signs anything.
    return Conflict(
        f"cannot {action.phrase}: the registration of {s.name!r} expired; its ID certificate is no longer valid",
        code=ErrorCode.REGISTRATION_EXPIRED,
        fix="reregister with a new token ('smart-agent reregister TOKEN')",
    )


def _no_reservation(s: InstanceState, action: PersonAction) -> Conflict:
    if action is _A.CANCEL_RESERVATION:
        return Conflict(
            f"{s.name!r} has no reservation in progress", code=ErrorCode.NO_RESERVATION, fix="see 'smart-agent status'"
        )
    if action is _A.RETURN_RESERVATION:
        return Conflict(
            f"{s.name!r} holds no installed reservation",
            code=ErrorCode.NO_RESERVATION,
            fix="a reservation in progress is cancelled instead ('smart-agent reservation cancel')",
        )
    return Conflict(
        f"{s.name!r} has not requested a reservation",
        code=ErrorCode.NO_RESERVATION,
        fix="request one first ('smart-agent reservation request') and reserve with the code it prints",
    )


def require_enabled(s: InstanceState) -> None:
    """A disabled Smart Agent sends nothing.

    Raises:
        Conflict: ``smart_agent_disabled``.
    """
    if not s.enabled:
        raise Conflict(
            f"the Smart Agent is not enabled for {s.name!r}",
            code=ErrorCode.SMART_AGENT_DISABLED,
            fix=f"enable it first ('smart-agent enable --instance {s.name}')",
        )


def set_license_type(s: InstanceState, license_type: LicenseType, usage_mode: UsageMode) -> InstanceState:
    """Choose the License Type before registering; refused while registered.

    Raises:
        Conflict: ``deregister_first``, ``reservation_in_place``.
    """
    permit(s, _A.CHANGE_LICENSE_TYPE)
    return msgspec.structs.replace(s, license_type=license_type, usage_mode=usage_mode)


def add_agents(s: InstanceState, count: int) -> InstanceState:
    """Add agents to the deployment; blocked in Enforcement (the seed's one named effect).

    Raises:
        Conflict: ``enforcement`` naming the reason and the way out.
    """
    if s.enforcement is not None:
        raise Conflict(
            f"adding agents is blocked: {s.name!r} is in Enforcement ({s.enforcement})",
            code=ErrorCode.ENFORCEMENT,
            fix=way_out(s.enforcement, s.registration),
        )
    return msgspec.structs.replace(s, agents=s.agents + count)
