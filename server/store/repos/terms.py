"""Flex subscription terms: the lots of a pool bought with a term, their alerts and expiry
(``shared.terms`` decides; this stores)."""

from __future__ import annotations

import sqlite3

from server.store.repos.base import Repository
from server.store.rows import LicenseTerm


def _term(r: sqlite3.Row) -> LicenseTerm:
    return LicenseTerm(
        r["id"],
        r["license_id"],
        r["subscription_id"],
        r["quantity"],
        r["starts_at"],
        r["ends_at"],
        r["alerted"],
        r["renewed_at"],
        r["expired_at"],
        r["next_check_at"],
    )


class Terms(Repository):
    __slots__ = ()

    def add(self, *, license_id: int, quantity: int, starts_at: int, ends_at: int, next_check_at: int | None) -> str:
        """A new term of a pool; its subscription id (``Sub<pool>-<n>``: the pool's n-th term)."""
        row = self._one("SELECT COUNT(*) FROM license_terms WHERE license_id = ?", (license_id,))
        subscription_id = f"Sub{license_id:06d}-{(int(row[0]) if row else 0) + 1}"
        self._exec(
            "INSERT INTO license_terms (license_id, subscription_id, quantity, starts_at, ends_at, next_check_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (license_id, subscription_id, quantity, starts_at, ends_at, next_check_at),
        )
        return subscription_id

    def of(self, license_id: int) -> list[LicenseTerm]:
        """Every term of a pool, ended ones too, by end."""
        rows = self._all("SELECT * FROM license_terms WHERE license_id = ? ORDER BY ends_at, id", (license_id,))
        return [_term(r) for r in rows]

    def in_account(self, va_id: int) -> list[LicenseTerm]:
        """Every term of a virtual account's pools, by end."""
        rows = self._all(
            "SELECT t.* FROM license_terms t JOIN licenses l ON l.id = t.license_id WHERE l.virtual_account_id = ? "
            "ORDER BY t.ends_at, t.id",
            (va_id,),
        )
        return [_term(r) for r in rows]

    def by_subscription(self, subscription_id: str) -> LicenseTerm | None:
        row = self._one("SELECT * FROM license_terms WHERE subscription_id = ?", (subscription_id,))
        return _term(row) if row else None

    def due(self, t: int) -> list[LicenseTerm]:
        """Terms the watch must look at by instant ``t`` (an alert or the end)."""
        rows = self._all(
            "SELECT * FROM license_terms WHERE next_check_at IS NOT NULL AND next_check_at <= ? ORDER BY next_check_at",
            (t,),
        )
        return [_term(r) for r in rows]

    def next_due(self) -> int | None:
        row = self._one("SELECT MIN(next_check_at) FROM license_terms WHERE next_check_at IS NOT NULL")
        return int(row[0]) if row and row[0] is not None else None

    def set_checked(self, term_id: int, *, alerted: int | None, next_check_at: int | None) -> None:
        self._exec(
            "UPDATE license_terms SET alerted = ?, next_check_at = ? WHERE id = ?", (alerted, next_check_at, term_id)
        )

    def expire(self, term_id: int, at: int) -> None:
        self._exec("UPDATE license_terms SET expired_at = ?, next_check_at = NULL WHERE id = ?", (at, term_id))

    def renew(self, term_id: int, *, ends_at: int, at: int, next_check_at: int | None) -> None:
        """A renewed term: its new end, its alerts start over."""
        self._exec(
            "UPDATE license_terms SET ends_at = ?, alerted = NULL, renewed_at = ?, next_check_at = ? WHERE id = ?",
            (ends_at, at, next_check_at, term_id),
        )
