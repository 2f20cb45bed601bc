"""Typed queries over the SSM database. SQL stays here; callers get dataclasses.

A ``Queries`` wraps one connection: the reader for reads, or the writer inside
``Store.transaction()``. Times in and out are aware datetimes / epoch seconds of domain time.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Concatenate, Generic, ParamSpec, TypeVar

import aiosqlite

from plumbing.sqlite import run_in_connection
from shared.clock import epoch, utc
from shared.compliance import PoolState, reported
from shared.states import AuthorizationStatus, LicenseType, UsageMode
from shared.tokens import TokenRecord


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    domain: str
    name: str
    export_control_allowed: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class VirtualAccount:
    id: int
    account_id: int
    name: str
    description: str
    is_default: bool


@dataclass(frozen=True, slots=True)
class License:
    """A license pool of a virtual account: purchased quantity and compliance state."""

    id: int
    virtual_account_id: int
    name: str
    license_type: LicenseType
    usage_mode: UsageMode
    tag: str
    quantity: int
    pool: PoolState = field(default_factory=PoolState)
    enforcement_notified: bool = False
    #: Held by Specific License Reservations: not available to reported usage.
    reserved: int = 0

    @property
    def for_usage(self) -> int:
        """The purchased quantity reported usage is judged against (reservations come first)."""
        return max(0, self.quantity - self.reserved)


@dataclass(frozen=True, slots=True)
class Latest:
    """An instance's latest reported usage of one license."""

    piid: str
    tag: str
    virtual_account_id: int
    interval_end: int
    peak: int
    locked: int | None

    @property
    def reported(self) -> int:
        return reported(self.peak, self.locked)


@dataclass(frozen=True, slots=True)
class Instance:
    piid: str
    virtual_account_id: int
    name: str
    product: str
    udi_pid: str
    serial_number: str
    hostname: str
    deployment_type: str
    license_type: LicenseType
    usage_mode: UsageMode
    software_version: str
    export_controlled: bool
    token_id: str | None
    public_key: bytes
    cert_pem: str
    cert_serial: str
    registered_at: int
    cert_issued_at: int
    cert_expires_at: int
    authorized_at: int | None
    last_contact_at: int
    removed_at: int | None
    removed_reason: str | None = None
    prev_public_key: bytes | None = None
    status: AuthorizationStatus = AuthorizationStatus.UNAUTHORIZED
    ooc_since: int | None = None
    renew_alerted_at: int | None = None
    next_check_at: int | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    at: int
    kind: str
    severity: str
    virtual_account_id: int | None
    piid: str | None
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class Satellite:
    """An SSM On-Prem registered to this (cloud) SSM: its last synchronization and deadlines."""

    piid: str
    sequence: int
    last_sync: int
    alerted: frozenset[str]
    next_check: int | None


@dataclass(frozen=True, slots=True)
class ApiClient:
    """A client of the admin API's OAuth2 token endpoints (its secret only as a hash)."""

    client_id: str
    secret_hash: str
    name: str
    created_at: int
    revoked_at: int | None
    last_token_at: int | None


@dataclass(frozen=True, slots=True)
class ReservedLicense:
    tag: str
    name: str
    count: int
    license_type: str


@dataclass(frozen=True, slots=True)
class Reservation:
    """A Specific License Reservation of one device (UDI product id and serial number)."""

    id: int
    virtual_account_id: int
    request_code: str
    udi_pid: str
    serial_number: str
    licenses: tuple[ReservedLicense, ...]
    authorization_code: str
    confirmation_code: str
    return_code: str
    status: str
    created_at: int
    confirmed_at: int | None
    returned_at: int | None


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
        r["status"],
        r["created_at"],
        r["confirmed_at"],
        r["returned_at"],
    )


def _satellite(r: sqlite3.Row) -> Satellite:
    return Satellite(r["piid"], r["sequence"], r["last_sync"], frozenset(json.loads(r["alerted"])), r["next_check"])


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    at: int
    kind: str
    virtual_account_id: int | None
    piid: str | None
    message: str


def _account(r: sqlite3.Row) -> Account:
    return Account(r["id"], r["domain"], r["name"], bool(r["export_control_allowed"]), utc(r["created_at"]))


def _va(r: sqlite3.Row) -> VirtualAccount:
    return VirtualAccount(r["id"], r["account_id"], r["name"], r["description"], bool(r["is_default"]))


def _license(r: sqlite3.Row) -> License:
    return License(
        r["id"],
        r["virtual_account_id"],
        r["name"],
        LicenseType(r["license_type"]),
        UsageMode(r["usage_mode"]),
        r["tag"],
        r["quantity"],
        PoolState(
            in_use=r["in_use"],
            last_interval=r["last_interval"],
            interval_over=bool(r["interval_over"]),
            count_before=r["count_before"],
            ooc_since=r["ooc_since"],
        ),
        bool(r["enforcement_notified"]),
        r["reserved"],
    )


def _latest(r: sqlite3.Row) -> Latest:
    return Latest(r["piid"], r["tag"], r["virtual_account_id"], r["interval_end"], r["peak"], r["locked"])


def _token(r: sqlite3.Row) -> TokenRecord:
    return TokenRecord(
        token_id=r["id"],
        secret_hash=r["secret_hash"],
        virtual_account_id=r["virtual_account_id"],
        description=r["description"],
        created_at=utc(r["created_at"]),
        expires_at=utc(r["expires_at"]),
        max_uses=r["max_uses"],
        uses=r["uses"],
        export_controlled=bool(r["export_controlled"]),
        revoked_at=utc(r["revoked_at"]) if r["revoked_at"] is not None else None,
    )


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


class SyncQueries:
    """Queries on one ``sqlite3.Connection``, run in that connection's thread: either a whole
    transaction at once (``Store.run``), or one method at a time through ``Queries``."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    def _one(self, sql: str, args: Sequence[object] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._c.execute(sql, args).fetchone()
        return row

    def _all(self, sql: str, args: Sequence[object] = ()) -> list[sqlite3.Row]:
        return self._c.execute(sql, args).fetchall()

    def _exec(self, sql: str, args: Sequence[object] = ()) -> int:
        return self._c.execute(sql, args).lastrowid or 0

    def _count(self, sql: str, args: Sequence[object] = ()) -> int:
        return self._c.execute(sql, args).rowcount

    # -- settings --------------------------------------------------------------------------------
    def setting(self, key: str) -> str | None:
        row = self._one("SELECT value FROM settings WHERE key = ?", (key,))
        return str(row["value"]) if row else None

    def set_setting(self, key: str, value: str) -> None:
        self._exec(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- accounts --------------------------------------------------------------------------------
    def accounts(self) -> list[Account]:
        return [_account(r) for r in self._all("SELECT * FROM accounts ORDER BY id")]

    def account(self, account_id: int) -> Account | None:
        row = self._one("SELECT * FROM accounts WHERE id = ?", (account_id,))
        return _account(row) if row else None

    def account_by_domain(self, domain: str) -> Account | None:
        row = self._one("SELECT * FROM accounts WHERE domain = ?", (domain,))
        return _account(row) if row else None

    def insert_account(self, *, domain: str, name: str, export_control_allowed: bool, now: datetime) -> int:
        return self._exec(
            "INSERT INTO accounts (domain, name, export_control_allowed, created_at) VALUES (?, ?, ?, ?)",
            (domain, name, int(export_control_allowed), epoch(now)),
        )

    def virtual_accounts(self, account_id: int) -> list[VirtualAccount]:
        rows = self._all("SELECT * FROM virtual_accounts WHERE account_id = ? ORDER BY id", (account_id,))
        return [_va(r) for r in rows]

    def virtual_account(self, va_id: int) -> VirtualAccount | None:
        row = self._one("SELECT * FROM virtual_accounts WHERE id = ?", (va_id,))
        return _va(row) if row else None

    def virtual_account_by_name(self, account_id: int, name: str) -> VirtualAccount | None:
        row = self._one("SELECT * FROM virtual_accounts WHERE account_id = ? AND name = ?", (account_id, name))
        return _va(row) if row else None

    def insert_virtual_account(
        self, *, account_id: int, name: str, description: str, is_default: bool, now: datetime
    ) -> int:
        return self._exec(
            "INSERT INTO virtual_accounts (account_id, name, description, is_default, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (account_id, name, description, int(is_default), epoch(now)),
        )

    # -- API clients -----------------------------------------------------------------------------
    def insert_api_client(self, *, client_id: str, secret_hash: str, name: str, now: datetime) -> None:
        self._exec(
            "INSERT INTO api_clients (client_id, secret_hash, name, created_at) VALUES (?, ?, ?, ?)",
            (client_id, secret_hash, name, epoch(now)),
        )

    def api_client(self, client_id: str) -> ApiClient | None:
        row = self._one("SELECT * FROM api_clients WHERE client_id = ?", (client_id,))
        return ApiClient(**dict(row)) if row else None

    def api_clients(self) -> list[ApiClient]:
        return [ApiClient(**dict(r)) for r in self._all("SELECT * FROM api_clients ORDER BY created_at, client_id")]

    def revoke_api_client(self, client_id: str, now: datetime) -> bool:
        sql = "UPDATE api_clients SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL"
        return self._count(sql, (epoch(now), client_id)) == 1

    def api_client_used(self, client_id: str, now: datetime) -> None:
        self._exec("UPDATE api_clients SET last_token_at = ? WHERE client_id = ?", (epoch(now), client_id))

    # -- reservations ----------------------------------------------------------------------------
    def insert_reservation(
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
        now: datetime,
    ) -> int:
        return self._exec(
            "INSERT INTO reservations (virtual_account_id, request_code, udi_pid, serial_number, licenses, "
            "authorization_code, confirmation_code, return_code, status, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'Reserved', ?)",
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
                epoch(now),
            ),
        )

    def reservation(self, reservation_id: int) -> Reservation | None:
        row = self._one("SELECT * FROM reservations WHERE id = ?", (reservation_id,))
        return _reservation(row) if row else None

    def active_reservation(self, udi_pid: str, serial_number: str) -> Reservation | None:
        row = self._one(
            "SELECT * FROM reservations WHERE udi_pid = ? AND serial_number = ? AND returned_at IS NULL",
            (udi_pid, serial_number),
        )
        return _reservation(row) if row else None

    def reservations(self, va_id: int | None = None, *, include_returned: bool = False) -> list[Reservation]:
        sql = "SELECT * FROM reservations WHERE (?1 IS NULL OR virtual_account_id = ?1)"
        if not include_returned:
            sql += " AND returned_at IS NULL"
        return [_reservation(r) for r in self._all(sql + " ORDER BY id", (va_id,))]

    def confirm_reservation(self, reservation_id: int, now: datetime) -> None:
        self._exec(
            "UPDATE reservations SET status = 'Confirmed', confirmed_at = ? WHERE id = ?", (epoch(now), reservation_id)
        )

    def return_reservation(self, reservation_id: int, now: datetime) -> None:
        self._exec(
            "UPDATE reservations SET status = 'Returned', returned_at = ? WHERE id = ?", (epoch(now), reservation_id)
        )

    def replace_reservation(self, reservation_id: int, now: datetime) -> None:
        """An update superseded this code (its device may still hold it until it installs the new one)."""
        self._exec(
            "UPDATE reservations SET status = 'Replaced', returned_at = ? WHERE id = ?", (epoch(now), reservation_id)
        )

    def replaced_reservations(self, udi_pid: str, serial_number: str, *, since: int) -> list[Reservation]:
        """Codes of a device replaced by updates since ``since`` (the active reservation's creation)."""
        rows = self._all(
            "SELECT * FROM reservations WHERE udi_pid = ? AND serial_number = ? AND status = 'Replaced' "
            "AND returned_at >= ? ORDER BY id DESC",
            (udi_pid, serial_number, since),
        )
        return [_reservation(r) for r in rows]

    def add_reserved(self, license_id: int, delta: int) -> None:
        self._exec("UPDATE licenses SET reserved = reserved + ? WHERE id = ?", (delta, license_id))

    def token_creators(self, va_id: int) -> dict[str, str]:
        """Who created each token of a virtual account (the CLI, an API client)."""
        rows = self._all("SELECT id, created_by FROM tokens WHERE virtual_account_id = ?", (va_id,))
        return {r["id"]: r["created_by"] for r in rows}

    def move_instance(self, piid: str, va_id: int) -> None:
        self._exec("UPDATE instances SET virtual_account_id = ? WHERE piid = ?", (va_id, piid))

    def move_licenses(self, source_id: int, target_va: int, quantity: int) -> None:
        """Move purchased licenses from one pool to the same license in another virtual account."""
        src = self._one("SELECT * FROM licenses WHERE id = ?", (source_id,))
        assert src is not None
        self._exec("UPDATE licenses SET quantity = quantity - ? WHERE id = ?", (quantity, source_id))
        self.add_license(
            va_id=target_va,
            name=src["name"],
            license_type=LicenseType(src["license_type"]),
            usage_mode=UsageMode(src["usage_mode"]),
            tag=src["tag"],
            quantity=quantity,
        )

    # -- licenses --------------------------------------------------------------------------------
    def licenses(self, va_id: int) -> list[License]:
        rows = self._all(
            "SELECT * FROM licenses WHERE virtual_account_id = ? ORDER BY license_type, usage_mode, name",
            (va_id,),
        )
        return [_license(r) for r in rows]

    def add_license(
        self,
        *,
        va_id: int,
        name: str,
        license_type: LicenseType,
        usage_mode: UsageMode,
        tag: str,
        quantity: int,
    ) -> None:
        self._exec(
            "INSERT INTO licenses (virtual_account_id, name, license_type, usage_mode, tag, quantity) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (virtual_account_id, tag) "
            "DO UPDATE SET quantity = quantity + excluded.quantity",
            (va_id, name, str(license_type), str(usage_mode), tag, quantity),
        )

    def licenses_with_tags(self, va_id: int, tags: Sequence[str]) -> list[License]:
        marks = ", ".join("?" * len(tags))
        rows = self._all(f"SELECT * FROM licenses WHERE virtual_account_id = ? AND tag IN ({marks})", [va_id, *tags])  # noqa: S608 - placeholders only
        return [_license(r) for r in rows]

    def holds_license_type(self, va_id: int, license_type: LicenseType, usage_mode: UsageMode) -> bool:
        """Whether the virtual account holds any license of this type and mode."""
        row = self._one(
            "SELECT 1 FROM licenses WHERE virtual_account_id = ? AND license_type = ? AND usage_mode = ? "
            "AND quantity > 0 LIMIT 1",
            (va_id, str(license_type), str(usage_mode)),
        )
        return row is not None

    def license_by_tag(self, va_id: int, tag: str) -> License | None:
        row = self._one("SELECT * FROM licenses WHERE virtual_account_id = ? AND tag = ?", (va_id, tag))
        return _license(row) if row else None

    def all_licenses(self) -> list[License]:
        rows = self._all("SELECT * FROM licenses ORDER BY virtual_account_id, license_type, usage_mode, name")
        return [_license(r) for r in rows]

    def ensure_pool(
        self, *, va_id: int, name: str, license_type: LicenseType, usage_mode: UsageMode, tag: str
    ) -> License:
        """The pool for ``tag`` in a virtual account, created with 0 purchased if it has none."""
        self._exec(
            "INSERT INTO licenses (virtual_account_id, name, license_type, usage_mode, tag, quantity) "
            "VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (virtual_account_id, tag) DO NOTHING",
            (va_id, name, str(license_type), str(usage_mode), tag),
        )
        pool = self.license_by_tag(va_id, tag)
        assert pool is not None
        return pool

    def set_quantity(
        self, *, va_id: int, name: str, license_type: LicenseType, usage_mode: UsageMode, tag: str, quantity: int
    ) -> None:
        """Set (not add) the purchased quantity of a pool, creating it if needed (On-Prem sync)."""
        pool = self.ensure_pool(va_id=va_id, name=name, license_type=license_type, usage_mode=usage_mode, tag=tag)
        self._exec("UPDATE licenses SET quantity = ? WHERE id = ?", (quantity, pool.id))

    def save_pool(self, license_id: int, pool: PoolState) -> None:
        self._exec(
            "UPDATE licenses SET in_use = ?, last_interval = ?, interval_over = ?, count_before = ?, ooc_since = ?, "
            "enforcement_notified = CASE WHEN ? IS NULL THEN 0 ELSE enforcement_notified END WHERE id = ?",
            (
                pool.in_use,
                pool.last_interval,
                int(pool.interval_over),
                pool.count_before,
                pool.ooc_since,
                pool.ooc_since,
                license_id,
            ),
        )

    def pools_entering_enforcement(self, t: int, grace: int) -> list[License]:
        rows = self._all(
            "SELECT * FROM licenses WHERE ooc_since IS NOT NULL AND enforcement_notified = 0 AND ooc_since + ? <= ?",
            (grace, t),
        )
        return [_license(r) for r in rows]

    def next_pool_enforcement(self, grace: int) -> int | None:
        row = self._one(
            "SELECT MIN(ooc_since) + ? AS t FROM licenses WHERE ooc_since IS NOT NULL AND enforcement_notified = 0",
            (grace,),
        )
        return int(row["t"]) if row and row["t"] is not None else None

    def set_enforcement_notified(self, license_id: int) -> None:
        self._exec("UPDATE licenses SET enforcement_notified = 1 WHERE id = ?", (license_id,))

    # -- usage -----------------------------------------------------------------------------------
    def latest_usage(self, piid: str) -> list[Latest]:
        return [_latest(r) for r in self._all("SELECT * FROM usage_latest WHERE piid = ? ORDER BY tag", (piid,))]

    def pool_usage(self, va_id: int, tag: str) -> list[Latest]:
        rows = self._all(
            "SELECT u.* FROM usage_latest u JOIN instances i ON i.piid = u.piid AND i.removed_at IS NULL "
            "WHERE u.virtual_account_id = ? AND u.tag = ? ORDER BY u.piid",
            (va_id, tag),
        )
        return [_latest(r) for r in rows]

    def save_latest(self, latest: Latest) -> None:
        self._exec(
            "INSERT INTO usage_latest (piid, tag, virtual_account_id, interval_end, peak, locked) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (piid, tag) DO UPDATE SET virtual_account_id = excluded."
            "virtual_account_id, interval_end = excluded.interval_end, peak = excluded.peak, locked = excluded.locked",
            (latest.piid, latest.tag, latest.virtual_account_id, latest.interval_end, latest.peak, latest.locked),
        )

    def delete_latest(self, piid: str) -> None:
        self._exec("DELETE FROM usage_latest WHERE piid = ?", (piid,))

    def lock_pool(self, va_id: int, tag: str) -> None:
        """Out of Compliance: each instance's reported quantity is locked at its current peak."""
        self._exec(
            "UPDATE usage_latest SET locked = MAX(peak, COALESCE(locked, 0)) WHERE virtual_account_id = ? AND tag = ?",
            (va_id, tag),
        )

    def unlock_pool(self, va_id: int, tag: str) -> int:
        """Back In Compliance: locks released; returns the pool's in-use quantity (actual peaks)."""
        self._exec("UPDATE usage_latest SET locked = NULL WHERE virtual_account_id = ? AND tag = ?", (va_id, tag))
        row = self._one(
            "SELECT COALESCE(SUM(u.peak), 0) AS s FROM usage_latest u JOIN instances i ON i.piid = u.piid "
            "AND i.removed_at IS NULL WHERE u.virtual_account_id = ? AND u.tag = ?",
            (va_id, tag),
        )
        return int(row["s"]) if row else 0

    def report_seen(self, report_id: str) -> bool:
        return self._one("SELECT 1 FROM usage_reports WHERE report_id = ?", (report_id,)) is not None

    def insert_report(
        self, *, report_id: str, piid: str, interval_start: int, interval_end: int, received_at: int, lines: str
    ) -> bool:
        """Store a report; False when its id was stored before."""
        return (
            self._count(
                "INSERT OR IGNORE INTO usage_reports (report_id, piid, interval_start, interval_end, received_at, "
                "lines) VALUES (?, ?, ?, ?, ?, ?)",
                (report_id, piid, interval_start, interval_end, received_at, lines),
            )
            > 0
        )

    def reports(self, piid: str, *, limit: int = 100) -> list[sqlite3.Row]:
        return self._all("SELECT * FROM usage_reports WHERE piid = ? ORDER BY interval_end DESC LIMIT ?", (piid, limit))

    def reported(self, piid: str, now: datetime, *, status: AuthorizationStatus, ooc_since: int | None) -> None:
        """After a usage report: contact, and the compliance verdict, in one statement."""
        self._exec(
            "UPDATE instances SET last_contact_at = ?, status = ?, ooc_since = ? WHERE piid = ?",
            (epoch(now), str(status), ooc_since, piid),
        )

    def set_instance_compliance(self, piid: str, *, status: AuthorizationStatus, ooc_since: int | None) -> None:
        self._exec("UPDATE instances SET status = ?, ooc_since = ? WHERE piid = ?", (str(status), ooc_since, piid))

    # -- SSM On-Prem instances seen from the cloud ----------------------------------------------
    def satellite(self, piid: str) -> Satellite | None:
        row = self._one("SELECT * FROM satellites WHERE piid = ?", (piid,))
        return _satellite(row) if row else None

    def save_satellite(self, sat: Satellite) -> None:
        self._exec(
            "INSERT INTO satellites (piid, sequence, last_sync, alerted, next_check) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (piid) DO UPDATE SET sequence = excluded.sequence, last_sync = excluded.last_sync, "
            "alerted = excluded.alerted, next_check = excluded.next_check",
            (sat.piid, sat.sequence, sat.last_sync, json.dumps(sorted(sat.alerted)), sat.next_check),
        )

    def satellites_due(self, t: int) -> list[Satellite]:
        rows = self._all("SELECT * FROM satellites WHERE next_check IS NOT NULL AND next_check <= ?", (t,))
        return [_satellite(r) for r in rows]

    def next_satellite_check(self) -> int | None:
        row = self._one("SELECT MIN(next_check) AS t FROM satellites WHERE next_check IS NOT NULL")
        return int(row["t"]) if row and row["t"] is not None else None

    def replace_satellite_instances(self, satellite: str, rows: list[tuple[object, ...]]) -> None:
        self._exec("DELETE FROM satellite_instances WHERE satellite = ?", (satellite,))
        if rows:
            self._c.executemany(
                "INSERT INTO satellite_instances (satellite, piid, name, product, udi_pid, serial_number, "
                "virtual_account, status, last_contact_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(satellite, *r) for r in rows],
            )

    def satellite_instances(self, satellite: str) -> list[sqlite3.Row]:
        return self._all("SELECT * FROM satellite_instances WHERE satellite = ? ORDER BY name, piid", (satellite,))

    # -- tokens ----------------------------------------------------------------------------------
    def token(self, token_id: str) -> TokenRecord | None:
        row = self._one("SELECT * FROM tokens WHERE id = ?", (token_id,))
        return _token(row) if row else None

    def tokens(self, va_id: int | None = None) -> list[TokenRecord]:
        if va_id is None:
            rows = self._all("SELECT * FROM tokens ORDER BY created_at, id")
        else:
            rows = self._all("SELECT * FROM tokens WHERE virtual_account_id = ? ORDER BY created_at, id", (va_id,))
        return [_token(r) for r in rows]

    def insert_token(self, record: TokenRecord, *, created_by: str) -> None:
        self._exec(
            "INSERT INTO tokens (id, virtual_account_id, secret_hash, description, created_at, "
            "expires_at, max_uses, uses, export_controlled, revoked_at, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.token_id,
                record.virtual_account_id,
                record.secret_hash,
                record.description,
                epoch(record.created_at),
                epoch(record.expires_at),
                record.max_uses,
                record.uses,
                int(record.export_controlled),
                None,
                created_by,
            ),
        )

    def use_token(self, token_id: str) -> None:
        self._exec("UPDATE tokens SET uses = uses + 1 WHERE id = ?", (token_id,))

    def revoke_token(self, token_id: str, now: datetime) -> bool:
        return (
            self._count(
                "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (epoch(now), token_id),
            )
            > 0
        )

    # -- instances -------------------------------------------------------------------------------
    def instance(self, piid: str) -> Instance | None:
        row = self._one("SELECT * FROM instances WHERE piid = ?", (piid,))
        return _instance(row) if row else None

    def active_instance_by_sudi(self, udi_pid: str, serial_number: str) -> Instance | None:
        row = self._one(
            "SELECT * FROM instances WHERE udi_pid = ? AND serial_number = ? AND removed_at IS NULL",
            (udi_pid, serial_number),
        )
        return _instance(row) if row else None

    def instances(
        self,
        va_id: int | None = None,
        *,
        include_removed: bool = False,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[Instance]:
        where = [] if include_removed else ["removed_at IS NULL"]
        args: list[object] = []
        if va_id is not None:
            where.append("virtual_account_id = ?")
            args.append(va_id)
        sql = "SELECT * FROM instances"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY registered_at, piid"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [limit, offset]
        return [_instance(r) for r in self._all(sql, args)]

    def instance_counts(self) -> list[tuple[str, int]]:
        rows = self._all("SELECT status, COUNT(*) AS n FROM instances WHERE removed_at IS NULL GROUP BY status")
        return [(str(r["status"]), int(r["n"])) for r in rows]

    def notification_counts(self) -> list[tuple[str, int]]:
        rows = self._all("SELECT kind, COUNT(*) AS n FROM notifications GROUP BY kind")
        return [(str(r["kind"]), int(r["n"])) for r in rows]

    def count_instances(self, va_id: int | None = None) -> int:
        sql = "SELECT COUNT(*) AS n FROM instances WHERE removed_at IS NULL"
        args: list[object] = []
        if va_id is not None:
            sql += " AND virtual_account_id = ?"
            args.append(va_id)
        row = self._one(sql, args)
        return int(row["n"]) if row else 0

    def insert_instance(self, i: Instance) -> None:
        self._exec(
            "INSERT INTO instances (piid, virtual_account_id, name, product, udi_pid, serial_number, "
            "hostname, deployment_type, license_type, usage_mode, software_version, export_controlled, "
            "token_id, public_key, cert_pem, cert_serial, registered_at, cert_issued_at, "
            "cert_expires_at, authorized_at, last_contact_at, removed_at, status, next_check_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                i.piid,
                i.virtual_account_id,
                i.name,
                i.product,
                i.udi_pid,
                i.serial_number,
                i.hostname,
                i.deployment_type,
                str(i.license_type),
                str(i.usage_mode),
                i.software_version,
                int(i.export_controlled),
                i.token_id,
                i.public_key,
                i.cert_pem,
                i.cert_serial,
                i.registered_at,
                i.cert_issued_at,
                i.cert_expires_at,
                i.authorized_at,
                i.last_contact_at,
                i.removed_at,
                str(i.status),
                i.next_check_at,
            ),
        )

    def mark_removed(self, piid: str, now: datetime, reason: str) -> bool:
        return (
            self._count(
                "UPDATE instances SET removed_at = ?, removed_reason = ?, next_check_at = NULL "
                "WHERE piid = ? AND removed_at IS NULL",
                (epoch(now), reason, piid),
            )
            > 0
        )

    def set_authorized(
        self,
        piid: str,
        now: datetime,
        *,
        status: AuthorizationStatus,
        ooc_since: int | None,
        next_check_at: int | None,
    ) -> None:
        t = epoch(now)
        self._exec(
            "UPDATE instances SET authorized_at = ?, last_contact_at = ?, status = ?, ooc_since = ?, "
            "next_check_at = ? WHERE piid = ?",
            (t, t, str(status), ooc_since, next_check_at, piid),
        )

    def touch(self, piid: str, now: datetime, *, next_check_at: int | None) -> None:
        """A successful contact other than an authorization."""
        self._exec(
            "UPDATE instances SET last_contact_at = ?, next_check_at = ?, "
            "status = CASE WHEN status = ? THEN ? ELSE status END WHERE piid = ?",
            (
                epoch(now),
                next_check_at,
                str(AuthorizationStatus.AUTHORIZATION_EXPIRED),
                str(AuthorizationStatus.AUTHORIZED),
                piid,
            ),
        )

    def renew_certificate(
        self, piid: str, *, public_key: bytes, cert_pem: str, cert_serial: str, issued_at: int, expires_at: int
    ) -> None:
        self._exec(
            "UPDATE instances SET prev_public_key = public_key, public_key = ?, cert_pem = ?, cert_serial = ?, "
            "cert_issued_at = ?, cert_expires_at = ? WHERE piid = ?",
            (public_key, cert_pem, cert_serial, issued_at, expires_at, piid),
        )

    def forget_previous_key(self, piid: str) -> None:
        self._exec("UPDATE instances SET prev_public_key = NULL WHERE piid = ?", (piid,))

    def watch_due(self, t: int, limit: int = 1000) -> list[Instance]:
        rows = self._all(
            "SELECT * FROM instances WHERE removed_at IS NULL AND next_check_at <= ? ORDER BY next_check_at LIMIT ?",
            (t, limit),
        )
        return [_instance(r) for r in rows]

    def next_watch(self) -> int | None:
        row = self._one("SELECT MIN(next_check_at) AS t FROM instances WHERE removed_at IS NULL")
        return int(row["t"]) if row and row["t"] is not None else None

    def set_watch(
        self, piid: str, *, status: AuthorizationStatus, renew_alerted_at: int | None, next_check_at: int | None
    ) -> None:
        self._exec(
            "UPDATE instances SET status = ?, renew_alerted_at = ?, next_check_at = ? WHERE piid = ?",
            (str(status), renew_alerted_at, next_check_at, piid),
        )

    # -- notifications (the "emails" the SSM would send) ----------------------------------------
    def notify(
        self,
        *,
        at: datetime,
        kind: str,
        severity: str,
        subject: str,
        body: str,
        va_id: int | None = None,
        piid: str | None = None,
    ) -> None:
        self._exec(
            "INSERT INTO notifications (at, kind, severity, virtual_account_id, piid, subject, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (epoch(at), kind, severity, va_id, piid, subject, body),
        )

    def notifications(self, *, limit: int = 100, kind: str | None = None) -> list[Notification]:
        sql = "SELECT * FROM notifications"
        args: list[object] = []
        if kind:
            sql += " WHERE kind = ?"
            args.append(kind)
        rows = self._all(sql + " ORDER BY at DESC, id DESC LIMIT ?", [*args, limit])
        return [
            Notification(
                r["id"], r["at"], r["kind"], r["severity"], r["virtual_account_id"], r["piid"], r["subject"], r["body"]
            )
            for r in reversed(rows)
        ]

    # -- replay protection -----------------------------------------------------------------------
    def remember_nonce(self, piid: str, nonce: str, sent_at: int) -> bool:
        """Record a request nonce; False when it was seen before (a replay)."""
        try:
            self._exec("INSERT INTO nonces (piid, nonce, sent_at) VALUES (?, ?, ?)", (piid, nonce, sent_at))
        except sqlite3.IntegrityError:
            return False
        return True

    def forget_nonces_before(self, cutoff: int) -> int:
        return self._count("DELETE FROM nonces WHERE sent_at < ?", (cutoff,))

    # -- events ----------------------------------------------------------------------------------
    def add_event(
        self,
        *,
        at: datetime,
        kind: str,
        message: str,
        va_id: int | None = None,
        piid: str | None = None,
    ) -> None:
        self._exec(
            "INSERT INTO events (at, kind, virtual_account_id, piid, message) VALUES (?, ?, ?, ?, ?)",
            (epoch(at), kind, va_id, piid, message),
        )

    def events(self, *, limit: int = 100, piid: str | None = None) -> list[Event]:
        if piid is None:
            rows = self._all("SELECT * FROM events ORDER BY at DESC, id DESC LIMIT ?", (limit,))
        else:
            rows = self._all("SELECT * FROM events WHERE piid = ? ORDER BY at DESC, id DESC LIMIT ?", (piid, limit))
        return [
            Event(r["id"], r["at"], r["kind"], r["virtual_account_id"], r["piid"], r["message"]) for r in reversed(rows)
        ]


P = ParamSpec("P")
R = TypeVar("R")


class _hop(Generic[P, R]):
    """A ``SyncQueries`` method, awaited: one hand-off to the connection's thread."""

    def __init__(self, method: Callable[Concatenate[SyncQueries, P], R]) -> None:
        self._method = method

    def __get__(self, obj: Queries | None, owner: type[Queries]) -> Callable[P, Awaitable[R]]:
        assert obj is not None
        method, conn = self._method, obj.connection

        async def call(*args: P.args, **kwargs: P.kwargs) -> R:
            return await run_in_connection(conn, lambda raw: method(SyncQueries(raw), *args, **kwargs))

        return call


class Queries:
    """The queries of ``SyncQueries`` for async code: each awaited call is one statement run in
    the connection's thread (use ``Store.run`` for a whole transaction in one hand-off)."""

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self.connection = connection

    setting = _hop(SyncQueries.setting)
    set_setting = _hop(SyncQueries.set_setting)
    accounts = _hop(SyncQueries.accounts)
    account = _hop(SyncQueries.account)
    account_by_domain = _hop(SyncQueries.account_by_domain)
    insert_account = _hop(SyncQueries.insert_account)
    virtual_accounts = _hop(SyncQueries.virtual_accounts)
    virtual_account = _hop(SyncQueries.virtual_account)
    virtual_account_by_name = _hop(SyncQueries.virtual_account_by_name)
    insert_virtual_account = _hop(SyncQueries.insert_virtual_account)
    insert_api_client = _hop(SyncQueries.insert_api_client)
    api_client = _hop(SyncQueries.api_client)
    api_clients = _hop(SyncQueries.api_clients)
    revoke_api_client = _hop(SyncQueries.revoke_api_client)
    api_client_used = _hop(SyncQueries.api_client_used)
    insert_reservation = _hop(SyncQueries.insert_reservation)
    reservation = _hop(SyncQueries.reservation)
    active_reservation = _hop(SyncQueries.active_reservation)
    reservations = _hop(SyncQueries.reservations)
    confirm_reservation = _hop(SyncQueries.confirm_reservation)
    return_reservation = _hop(SyncQueries.return_reservation)
    add_reserved = _hop(SyncQueries.add_reserved)
    replace_reservation = _hop(SyncQueries.replace_reservation)
    replaced_reservations = _hop(SyncQueries.replaced_reservations)
    move_licenses = _hop(SyncQueries.move_licenses)
    move_instance = _hop(SyncQueries.move_instance)
    token_creators = _hop(SyncQueries.token_creators)
    licenses = _hop(SyncQueries.licenses)
    add_license = _hop(SyncQueries.add_license)
    license_by_tag = _hop(SyncQueries.license_by_tag)
    licenses_with_tags = _hop(SyncQueries.licenses_with_tags)
    holds_license_type = _hop(SyncQueries.holds_license_type)
    reported = _hop(SyncQueries.reported)
    all_licenses = _hop(SyncQueries.all_licenses)
    ensure_pool = _hop(SyncQueries.ensure_pool)
    set_quantity = _hop(SyncQueries.set_quantity)
    save_pool = _hop(SyncQueries.save_pool)
    pools_entering_enforcement = _hop(SyncQueries.pools_entering_enforcement)
    next_pool_enforcement = _hop(SyncQueries.next_pool_enforcement)
    set_enforcement_notified = _hop(SyncQueries.set_enforcement_notified)
    latest_usage = _hop(SyncQueries.latest_usage)
    pool_usage = _hop(SyncQueries.pool_usage)
    save_latest = _hop(SyncQueries.save_latest)
    delete_latest = _hop(SyncQueries.delete_latest)
    lock_pool = _hop(SyncQueries.lock_pool)
    unlock_pool = _hop(SyncQueries.unlock_pool)
    report_seen = _hop(SyncQueries.report_seen)
    insert_report = _hop(SyncQueries.insert_report)
    reports = _hop(SyncQueries.reports)
    set_instance_compliance = _hop(SyncQueries.set_instance_compliance)
    satellite = _hop(SyncQueries.satellite)
    save_satellite = _hop(SyncQueries.save_satellite)
    satellites_due = _hop(SyncQueries.satellites_due)
    next_satellite_check = _hop(SyncQueries.next_satellite_check)
    replace_satellite_instances = _hop(SyncQueries.replace_satellite_instances)
    satellite_instances = _hop(SyncQueries.satellite_instances)
    token = _hop(SyncQueries.token)
    tokens = _hop(SyncQueries.tokens)
    insert_token = _hop(SyncQueries.insert_token)
    use_token = _hop(SyncQueries.use_token)
    revoke_token = _hop(SyncQueries.revoke_token)
    instance = _hop(SyncQueries.instance)
    active_instance_by_sudi = _hop(SyncQueries.active_instance_by_sudi)
    instances = _hop(SyncQueries.instances)
    count_instances = _hop(SyncQueries.count_instances)
    instance_counts = _hop(SyncQueries.instance_counts)
    notification_counts = _hop(SyncQueries.notification_counts)
    insert_instance = _hop(SyncQueries.insert_instance)
    mark_removed = _hop(SyncQueries.mark_removed)
    set_authorized = _hop(SyncQueries.set_authorized)
    touch = _hop(SyncQueries.touch)
    renew_certificate = _hop(SyncQueries.renew_certificate)
    forget_previous_key = _hop(SyncQueries.forget_previous_key)
    watch_due = _hop(SyncQueries.watch_due)
    next_watch = _hop(SyncQueries.next_watch)
    set_watch = _hop(SyncQueries.set_watch)
    notify = _hop(SyncQueries.notify)
    notifications = _hop(SyncQueries.notifications)
    remember_nonce = _hop(SyncQueries.remember_nonce)
    forget_nonces_before = _hop(SyncQueries.forget_nonces_before)
    add_event = _hop(SyncQueries.add_event)
    events = _hop(SyncQueries.events)
