"""Specific License Reservations: one row per authorization code issued (an update replaces the
previous row of the device). Statuses are ``shared.reservation``'s."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from server.store.repos.base import Repository
from server.store.rows import Reservation, ReservedLicense
from shared.reservation import ACTIVE, ReservationStatus


def _reservation(r: sqlite3.Row) -> Reservation:
    return Reservation(
        r["id"],
        r["virtual_account_id"],
        r["request_code"],
        r["udi_pid"],
        r["serial_number"],
        tuple(ReservedLicense(**x) for x in json.loads(r["licenses"])),
        r["authorization_code"],
        r["confirmation_code"],
        r["return_code"],
        ReservationStatus(r["status"]),
        r["created_at"],
        r["confirmed_at"],
        r["returned_at"],
        r["kind"],
    )


class Reservations(Repository):
    __slots__ = ()

    def add(
        self,
        *,
        va_id: int,
        request_code: str,
        udi_pid: str,
        serial_number: str,
        licenses: Sequence[ReservedLicense],
        authorization_code: str,
        confirmation_code: str,
        return_code: str,
        at: int,
        kind: str = "SPECIFIC",
        status: ReservationStatus = ReservationStatus.RESERVED,
    ) -> Reservation:
        rid = self._insert(
            "INSERT INTO reservations (virtual_account_id, request_code, udi_pid, serial_number, licenses, "
            "authorization_code, confirmation_code, return_code, status, created_at, kind, confirmed_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                va_id,
                request_code,
                udi_pid,
                serial_number,
                json.dumps(
                    [{"tag": x.tag, "name": x.name, "count": x.count, "license_type": x.license_type} for x in licenses]
                ),
                authorization_code,
                confirmation_code,
                return_code,
                str(status),
                at,
                kind,
                at if status is ReservationStatus.CONFIRMED else None,
            ),
        )
        found = self.get(rid)
        assert found is not None
        return found

    def get(self, reservation_id: int) -> Reservation | None:
        row = self._one("SELECT * FROM reservations WHERE id = ?", (reservation_id,))
        return _reservation(row) if row else None

    def active(self, udi_pid: str, serial_number: str) -> Reservation | None:
        """The device's reservation that holds licenses now, if any."""
        row = self._one(
            "SELECT * FROM reservations WHERE udi_pid = ? AND serial_number = ? AND returned_at IS NULL",
            (udi_pid, serial_number),
        )
        return _reservation(row) if row else None

    def of(self, va_id: int | None = None, *, include_ended: bool = False) -> list[Reservation]:
        sql = "SELECT * FROM reservations WHERE (CAST(?1 AS INTEGER) IS NULL OR virtual_account_id = ?1)"
        if not include_ended:
            sql += " AND returned_at IS NULL"
        return [_reservation(r) for r in self._all(sql + " ORDER BY id", (va_id,))]

    def set_status(self, reservation_id: int, status: ReservationStatus, at: int) -> Reservation:
        """Record a transition (``shared.reservation.transition`` decided it); the row after it."""
        if status is ReservationStatus.CONFIRMED:
            sql = "UPDATE reservations SET status = ?, confirmed_at = COALESCE(confirmed_at, ?) WHERE id = ?"
        else:  # it ends (returned, released, replaced): it holds nothing from now on
            assert status not in ACTIVE, status
            sql = "UPDATE reservations SET status = ?, returned_at = ? WHERE id = ?"
        self._exec(sql, (str(status), at, reservation_id))
        found = self.get(reservation_id)
        assert found is not None
        return found

    def replaced_since(self, udi_pid: str, serial_number: str, *, since: int) -> list[Reservation]:
        """Codes of a device replaced by updates since ``since`` (the active reservation's creation)."""
        rows = self._all(
            "SELECT * FROM reservations WHERE udi_pid = ? AND serial_number = ? AND status = ? "
            "AND returned_at >= ? ORDER BY id DESC",
            (udi_pid, serial_number, str(ReservationStatus.REPLACED), since),
        )
        return [_reservation(r) for r in rows]
