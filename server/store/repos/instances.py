"""Registered product instances (and SSM On-Prem instances registered to a cloud SSM), with the
nonces of their signed requests (replay protection)."""

from __future__ import annotations

import sqlite3
from dataclasses import fields

from server.store.repos.base import NO_LIMIT, Repository
from server.store.rows import Instance
from shared.states import AuthorizationStatus, LicenseType, UsageMode

#: Column order is the row type's field order (the schema names every field of ``Instance``).
_FIELDS = tuple(f.name for f in fields(Instance))
_INSERT = f"INSERT INTO instances ({', '.join(_FIELDS)}) VALUES ({', '.join('?' * len(_FIELDS))})"  # noqa: S608


def _instance(r: sqlite3.Row) -> Instance:
    return Instance(
        piid=r["piid"],
        virtual_account_id=r["virtual_account_id"],
        name=r["name"],
        product=r["product"],
        udi_pid=r["udi_pid"],
        serial_number=r["serial_number"],
        hostname=r["hostname"],
        deployment_type=r["deployment_type"],
        license_type=LicenseType(r["license_type"]),
        usage_mode=UsageMode(r["usage_mode"]),
        software_version=r["software_version"],
        export_controlled=bool(r["export_controlled"]),
        token_id=r["token_id"],
        public_key=bytes(r["public_key"]),
        cert_pem=r["cert_pem"],
        cert_serial=r["cert_serial"],
        registered_at=r["registered_at"],
        cert_issued_at=r["cert_issued_at"],
        cert_expires_at=r["cert_expires_at"],
        authorized_at=r["authorized_at"],
        last_contact_at=r["last_contact_at"],
        removed_at=r["removed_at"],
        removed_reason=r["removed_reason"],
        prev_public_key=bytes(r["prev_public_key"]) if r["prev_public_key"] is not None else None,
        status=AuthorizationStatus(r["status"]),
        ooc_since=r["ooc_since"],
        renew_alerted_at=r["renew_alerted_at"],
        next_check_at=r["next_check_at"],
    )


def _filtered(head: str, tail: str, va: str) -> dict[tuple[bool, bool], str]:
    """One statement per filter combination (by virtual account?, with removed ones?), naming only
    the filters asked for: ``(? IS NULL OR ...)`` would keep SQLite off the listing index."""
    out = {}
    for by_va in (False, True):
        for removed in (False, True):
            where = [f"virtual_account_id = {va}"] * by_va + ["removed_at IS NULL"] * (not removed)
            out[(by_va, removed)] = head + (" WHERE " + " AND ".join(where) if where else "") + tail
    return out


_PAGE = _filtered("SELECT * FROM instances", " ORDER BY registered_at, piid LIMIT ?1 OFFSET ?2", "?3")
_COUNT = _filtered("SELECT COUNT(*) FROM instances", "", "?")


class Instances(Repository):
    __slots__ = ()

    def get(self, piid: str) -> Instance | None:
        row = self._one("SELECT * FROM instances WHERE piid = ?", (piid,))
        return _instance(row) if row else None

    def active_by_sudi(self, udi_pid: str, serial_number: str) -> Instance | None:
        row = self._one(
            "SELECT * FROM instances WHERE udi_pid = ? AND serial_number = ? AND removed_at IS NULL",
            (udi_pid, serial_number),
        )
        return _instance(row) if row else None

    def page(
        self, va_id: int | None = None, *, include_removed: bool = False, limit: int | None = None, offset: int = 0
    ) -> list[Instance]:
        """Instances in registration order (a page of them when ``limit`` is given).

        The statement names only the filters asked for: ``(? IS NULL OR ...)`` would keep SQLite from
        walking the registration-order index, and a deep page of a million instances would sort them
        all first."""
        sql = _PAGE[(va_id is not None, include_removed)]
        args: tuple[object, ...] = (NO_LIMIT if limit is None else limit, offset)
        return [_instance(r) for r in self._all(sql, (*args, va_id) if va_id is not None else args)]

    def of_product(self, product: str, *, include_removed: bool = False) -> list[Instance]:
        """The instances of one product (the SSM On-Prems registered here), in registration order."""
        sql = "SELECT * FROM instances WHERE product = ? AND (? = 1 OR removed_at IS NULL) ORDER BY registered_at, piid"
        return [_instance(r) for r in self._all(sql, (product, int(include_removed)))]

    def out_of_compliance(self, va_id: int) -> list[Instance]:
        """The instances of a virtual account whose last verdict is Out of Compliance."""
        sql = "SELECT * FROM instances WHERE virtual_account_id = ? AND removed_at IS NULL AND ooc_since IS NOT NULL"
        return [_instance(r) for r in self._all(sql + " ORDER BY registered_at, piid", (va_id,))]

    def count(self, va_id: int | None = None, *, include_removed: bool = False) -> int:
        """How many (registered, or ever with ``include_removed``), of one virtual account or all.
        Only the filters asked for are named, so SQLite counts a narrow index, not the rows."""
        sql = _COUNT[(va_id is not None, include_removed)]
        row = self._one(sql, (va_id,) if va_id is not None else ())
        return int(row[0]) if row else 0

    def count_by_status(self) -> list[tuple[str, int]]:
        rows = self._all("SELECT status, COUNT(*) AS n FROM instances WHERE removed_at IS NULL GROUP BY status")
        return [(str(r["status"]), int(r["n"])) for r in rows]

    def add(self, instance: Instance) -> None:
        values = [getattr(instance, name) for name in _FIELDS]
        self._exec(_INSERT, [int(v) if isinstance(v, bool) else v for v in values])

    def mark_removed(self, piid: str, at: int, reason: str) -> bool:
        sql = (
            "UPDATE instances SET removed_at = ?, removed_reason = ?, next_check_at = NULL "
            "WHERE piid = ? AND removed_at IS NULL"
        )
        return self._count(sql, (at, reason, piid)) > 0

    def move(self, piid: str, va_id: int) -> None:
        self._exec("UPDATE instances SET virtual_account_id = ? WHERE piid = ?", (va_id, piid))

    def record_authorization(
        self, piid: str, at: int, *, status: AuthorizationStatus, ooc_since: int | None, next_check_at: int | None
    ) -> None:
        """An authorization: contact, its instant, the compliance verdict and the next watch."""
        self._exec(
            "UPDATE instances SET authorized_at = ?1, last_contact_at = ?1, status = ?2, ooc_since = ?3, "
            "next_check_at = ?4 WHERE piid = ?5",
            (at, str(status), ooc_since, next_check_at, piid),
        )

    def record_report(self, piid: str, at: int, *, status: AuthorizationStatus, ooc_since: int | None) -> None:
        """After a usage report: contact and the compliance verdict, in one statement."""
        self._exec(
            "UPDATE instances SET last_contact_at = ?, status = ?, ooc_since = ? WHERE piid = ?",
            (at, str(status), ooc_since, piid),
        )

    def set_compliance(self, piid: str, *, status: AuthorizationStatus, ooc_since: int | None) -> None:
        self._exec("UPDATE instances SET status = ?, ooc_since = ? WHERE piid = ?", (str(status), ooc_since, piid))

    def touch(self, piid: str, at: int, *, next_check_at: int | None) -> None:
        """A successful contact other than an authorization (an expired authorization is live again)."""
        self._exec(
            "UPDATE instances SET last_contact_at = ?, next_check_at = ?, "
            "status = CASE WHEN status = ? THEN ? ELSE status END WHERE piid = ?",
            (
                at,
                next_check_at,
                str(AuthorizationStatus.AUTHORIZATION_EXPIRED),
                str(AuthorizationStatus.AUTHORIZED),
                piid,
            ),
        )

    def renew_certificate(
        self, piid: str, *, public_key: bytes, cert_pem: str, cert_serial: str, issued_at: int, expires_at: int
    ) -> None:
        """A new ID certificate; the previous key stays valid until the new one is first used."""
        self._exec(
            "UPDATE instances SET prev_public_key = public_key, public_key = ?, cert_pem = ?, cert_serial = ?, "
            "cert_issued_at = ?, cert_expires_at = ? WHERE piid = ?",
            (public_key, cert_pem, cert_serial, issued_at, expires_at, piid),
        )

    def forget_previous_key(self, piid: str) -> None:
        self._exec("UPDATE instances SET prev_public_key = NULL WHERE piid = ?", (piid,))

    # -- the watch (shared.watch) -----------------------------------------------------------------
    def watch_due(self, t: int, limit: int = 1000) -> list[Instance]:
        rows = self._all(
            "SELECT * FROM instances WHERE removed_at IS NULL AND next_check_at <= ? ORDER BY next_check_at LIMIT ?",
            (t, limit),
        )
        return [_instance(r) for r in rows]

    def next_watch(self) -> int | None:
        row = self._one("SELECT MIN(next_check_at) FROM instances WHERE removed_at IS NULL")
        return int(row[0]) if row and row[0] is not None else None

    def set_watch(
        self, piid: str, *, status: AuthorizationStatus, renew_alerted_at: int | None, next_check_at: int | None
    ) -> None:
        self._exec(
            "UPDATE instances SET status = ?, renew_alerted_at = ?, next_check_at = ? WHERE piid = ?",
            (str(status), renew_alerted_at, next_check_at, piid),
        )

    # -- replay protection --------------------------------------------------------------------------
    def remember_nonce(self, piid: str, nonce: str, sent_at: int) -> bool:
        """Record a request nonce; False when it was seen before (a replay)."""
        sql = "INSERT INTO nonces (piid, nonce, sent_at) VALUES (?, ?, ?) ON CONFLICT (piid, nonce) DO NOTHING"
        return self._count(sql, (piid, nonce, sent_at)) == 1

    def forget_nonces_before(self, cutoff: int) -> int:
        return self._count("DELETE FROM nonces WHERE sent_at < ?", (cutoff,))
