"""The SSM's side of a Specific License Reservation as a state machine, sans-IO.

A reservation is issued ``Reserved`` (the device has an authorization code, the SSM waits for its
confirmation code). Confirming it makes it ``Confirmed``; an update replaces a confirmed code with a
new reservation (the old one becomes ``Replaced``); giving back the return code, or the
administrator's release, ends it (``Returned``). Transitions are a table: an action missing from
it for the current status is illegal and raises the error a person can act on (h11's style).

Pure: no IO, no clock.
"""

from __future__ import annotations

from enum import StrEnum

from shared.errors import Conflict


class ReservationStatus(StrEnum):
    RESERVED = "Reserved"
    CONFIRMED = "Confirmed"
    RETURNED = "Returned"
    REPLACED = "Replaced"


class ReservationAction(StrEnum):
    CONFIRM = "confirm"
    UPDATE = "update"
    RETURN = "return"
    RELEASE = "release"


S, A = ReservationStatus, ReservationAction

#: (status, action) -> the status after it. Confirming again is accepted and changes nothing.
TRANSITIONS: dict[tuple[ReservationStatus, ReservationAction], ReservationStatus] = {
    (S.RESERVED, A.CONFIRM): S.CONFIRMED,
    (S.CONFIRMED, A.CONFIRM): S.CONFIRMED,
    (S.CONFIRMED, A.UPDATE): S.REPLACED,
    (S.RESERVED, A.RETURN): S.RETURNED,
    (S.CONFIRMED, A.RETURN): S.RETURNED,
    (S.RESERVED, A.RELEASE): S.RETURNED,
    (S.CONFIRMED, A.RELEASE): S.RETURNED,
}

#: Statuses of a reservation that still holds licenses.
ACTIVE = frozenset({S.RESERVED, S.CONFIRMED})


def transition(status: ReservationStatus, action: ReservationAction, device: str) -> ReservationStatus:
    """The status after ``action``.

    Raises:
        Conflict: ``reservation_not_confirmed`` (an update before the last code was confirmed),
            ``reservation_ended`` (anything on a reservation that no longer holds licenses).
    """
    try:
        return TRANSITIONS[(status, action)]
    except KeyError:
        pass
    if action is A.UPDATE and status is S.RESERVED:
        raise Conflict(
            f"the last authorization code of {device} was not confirmed",
            code="reservation_not_confirmed",
            fix="install it on the device and send its confirmation code (POST .../confirm-licenses) first",
        )
    raise Conflict(
        f"the reservation of {device} is {status}: it cannot {action}",
        code="reservation_ended",
        fix="reserve again with the device's request code",
    )


def device_status(status: ReservationStatus) -> str:
    """How Cisco's device listing names a reserved device's status."""
    return "Reserved Licenses" if status is S.CONFIRMED else "Reservation Pending"
