"""The person-action transition table: every (registration status, action) pair is either
allowed, leading to a status, or refused with a code from the catalog and a fix."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import msgspec
import pytest

from shared import lifecycle
from shared.codes import ErrorCode
from shared.errors import Conflict
from shared.lifecycle import InstanceState, Reservation
from shared.permits import TRANSITIONS, PersonAction, permit
from shared.states import LicenseType, UsageMode
from shared.states import RegistrationStatus as R

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def at(status: R) -> InstanceState:
    s = lifecycle.new_instance(
        name="ucce-1",
        product="Unified CCE",
        udi_pid="UCCE",
        serial_number="FCH2233V0AB",
        hostname="ucce-1.lab",
        deployment_type="Unified CCE 2000 Agents",
        license_type=LicenseType.FLEX,
        usage_mode=UsageMode.PRODUCTION,
        now=T0,
    )
    reservation = Reservation(request_code="CB-ZUCCE:X-ABC-00", requested_at=0) if "Reserv" in status else None
    return msgspec.structs.replace(s, registration=status, virtual_account="DEFAULT", reservation=reservation)


# The refusals, by (status, action): the code a person sees.
REFUSED = {
    (R.UNREGISTERED, PersonAction.RENEW_AUTHORIZATION): ErrorCode.NOT_REGISTERED,
    (R.UNREGISTERED, PersonAction.RENEW_REGISTRATION): ErrorCode.NOT_REGISTERED,
    (R.UNREGISTERED, PersonAction.DEREGISTER): ErrorCode.NOT_REGISTERED,
    (R.REGISTERED, PersonAction.REGISTER): ErrorCode.ALREADY_REGISTERED,
    (R.REGISTRATION_EXPIRED, PersonAction.REGISTER): ErrorCode.ALREADY_REGISTERED,
    (R.REGISTRATION_EXPIRED, PersonAction.RENEW_AUTHORIZATION): ErrorCode.REGISTRATION_EXPIRED,
    (R.REGISTRATION_EXPIRED, PersonAction.RENEW_REGISTRATION): ErrorCode.REGISTRATION_EXPIRED,
    (R.REGISTERED, PersonAction.CHANGE_LICENSE_TYPE): ErrorCode.DEREGISTER_FIRST,
    (R.REGISTRATION_EXPIRED, PersonAction.CHANGE_LICENSE_TYPE): ErrorCode.DEREGISTER_FIRST,
    (R.REGISTERED, PersonAction.REQUEST_RESERVATION): ErrorCode.DEREGISTER_FIRST,
    (R.REGISTRATION_EXPIRED, PersonAction.REQUEST_RESERVATION): ErrorCode.DEREGISTER_FIRST,
    **{
        (R.RESERVATION_IN_PROGRESS, a): ErrorCode.RESERVATION_IN_PROGRESS
        for a in (
            PersonAction.REGISTER,
            PersonAction.REREGISTER,
            PersonAction.RENEW_AUTHORIZATION,
            PersonAction.RENEW_REGISTRATION,
            PersonAction.DEREGISTER,
        )
    },
    **{
        (R.REGISTERED_SLR, a): ErrorCode.RESERVATION_IN_PLACE
        for a in (
            PersonAction.REGISTER,
            PersonAction.REREGISTER,
            PersonAction.RENEW_AUTHORIZATION,
            PersonAction.RENEW_REGISTRATION,
            PersonAction.DEREGISTER,
            PersonAction.CHANGE_LICENSE_TYPE,
            PersonAction.REQUEST_RESERVATION,
        )
    },
}


@pytest.mark.parametrize(("status", "action"), list(itertools.product(R, PersonAction)))
def test_every_pair_is_allowed_or_refused_with_a_code_and_a_fix(status: R, action: PersonAction) -> None:
    """A pair in the table leads to its status; any other is refused (reservation actions out of
    their status: no_reservation), with a fix."""
    s = at(status)
    if (status, action) in TRANSITIONS:
        assert permit(s, action) is TRANSITIONS[(status, action)]
        assert (status, action) not in REFUSED
        return
    with pytest.raises(Conflict) as exc:
        permit(s, action)
    assert exc.value.code == REFUSED.get((status, action), ErrorCode.NO_RESERVATION)
    assert exc.value.fix and exc.value.http_status == 409


def test_refusals_name_the_action() -> None:
    """The message says which action was refused, as a person would say it."""
    with pytest.raises(Conflict) as exc:
        permit(at(R.REGISTERED_SLR), PersonAction.CHANGE_LICENSE_TYPE)
    assert exc.value.message == "cannot change the license type: 'ucce-1' uses Specific License Reservation"
