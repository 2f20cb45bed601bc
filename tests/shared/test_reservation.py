"""The SSM's reservation lifecycle as a transition table: every legal move, and each illegal one
refused with the code a person can act on."""

from __future__ import annotations

import itertools

import pytest

from shared.errors import Conflict
from shared.reservation import TRANSITIONS, ReservationAction, ReservationStatus, device_status, transition

S, A = ReservationStatus, ReservationAction


@pytest.mark.parametrize(
    ("status", "action", "after"),
    [
        (S.RESERVED, A.CONFIRM, S.CONFIRMED),
        (S.CONFIRMED, A.CONFIRM, S.CONFIRMED),
        (S.CONFIRMED, A.UPDATE, S.REPLACED),
        (S.RESERVED, A.RETURN, S.RETURNED),
        (S.CONFIRMED, A.RETURN, S.RETURNED),
        (S.RESERVED, A.RELEASE, S.RETURNED),
    ],
)
def test_legal_transitions(status: ReservationStatus, action: ReservationAction, after: ReservationStatus) -> None:
    assert transition(status, action, "UCCE:SN1") is after


def test_an_update_before_the_confirmation_is_refused() -> None:
    with pytest.raises(Conflict) as exc:
        transition(S.RESERVED, A.UPDATE, "UCCE:SN1")
    assert exc.value.code == "reservation_not_confirmed" and "UCCE:SN1" in exc.value.message


@pytest.mark.parametrize(("status", "action"), list(itertools.product([S.RETURNED, S.REPLACED], list(A))))
def test_an_ended_reservation_does_nothing_more(status: ReservationStatus, action: ReservationAction) -> None:
    with pytest.raises(Conflict) as exc:
        transition(status, action, "UCCE:SN1")
    assert exc.value.code == "reservation_ended" and exc.value.fix


def test_every_pair_is_either_in_the_table_or_refused() -> None:
    for status, action in itertools.product(list(S), list(A)):
        if (status, action) in TRANSITIONS:
            assert transition(status, action, "d") is TRANSITIONS[(status, action)]
        else:
            with pytest.raises(Conflict):
                transition(status, action, "d")


def test_the_device_listing_names() -> None:
    assert device_status(S.CONFIRMED) == "Reserved Licenses"
    assert device_status(S.RESERVED) == "Reservation Pending"
