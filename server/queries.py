"""Typed queries over the SSM database. SQL stays here; callers get dataclasses.

A ``Queries`` wraps one connection: the reader for reads, or the writer inside
``Store.transaction()``. Times in and out are aware datetimes / epoch seconds of domain time.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import aiosqlite

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


def _satellite(r: aiosqlite.Row) -> Satellite:
    return Satellite(r["piid"], r["sequence"], r["last_sync"], frozenset(json.loads(r["alerted"])), r["next_check"])


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    at: int
    kind: str
    virtual_account_id: int | None
    piid: str | None
    message: str


def _account(r: aiosqlite.Row) -> Account:
    return Account(r["id"], r["domain"], r["name"], bool(r["export_control_allowed"]), utc(r["created_at"]))


def _va(r: aiosqlite.Row) -> VirtualAccount:
    return VirtualAccount(r["id"], r["account_id"], r["name"], r["description"], bool(r["is_default"]))


def _license(r: aiosqlite.Row) -> License:
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
    )


def _latest(r: aiosqlite.Row) -> Latest:
    return Latest(r["piid"], r["tag"], r["virtual_account_id"], r["interval_end"], r["peak"], r["locked"])


def _token(r: aiosqlite.Row) -> TokenRecord:
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


def _instance(r: aiosqlite.Row) -> Instance:
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


class Queries:
    """Queries bound to one connection."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._c = conn

    async def _one(self, sql: str, args: Sequence[object] = ()) -> aiosqlite.Row | None:
        async with self._c.execute(sql, args) as cur:
            row: aiosqlite.Row | None = await cur.fetchone()
            return row

    async def _all(self, sql: str, args: Sequence[object] = ()) -> list[aiosqlite.Row]:
        async with self._c.execute(sql, args) as cur:
            return list(await cur.fetchall())

    async def _exec(self, sql: str, args: Sequence[object] = ()) -> int:
        async with self._c.execute(sql, args) as cur:
            return cur.lastrowid or 0

    # -- settings --------------------------------------------------------------------------------
    async def setting(self, key: str) -> str | None:
        row = await self._one("SELECT value FROM settings WHERE key = ?", (key,))
        return str(row["value"]) if row else None

    async def set_setting(self, key: str, value: str) -> None:
        await self._exec(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    # -- accounts --------------------------------------------------------------------------------
    async def accounts(self) -> list[Account]:
        return [_account(r) for r in await self._all("SELECT * FROM accounts ORDER BY id")]

    async def account(self, account_id: int) -> Account | None:
        row = await self._one("SELECT * FROM accounts WHERE id = ?", (account_id,))
        return _account(row) if row else None

    async def account_by_domain(self, domain: str) -> Account | None:
        row = await self._one("SELECT * FROM accounts WHERE domain = ?", (domain,))
        return _account(row) if row else None

    async def insert_account(self, *, domain: str, name: str, export_control_allowed: bool, now: datetime) -> int:
        return await self._exec(
            "INSERT INTO accounts (domain, name, export_control_allowed, created_at) VALUES (?, ?, ?, ?)",
            (domain, name, int(export_control_allowed), epoch(now)),
        )

    async def virtual_accounts(self, account_id: int) -> list[VirtualAccount]:
        rows = await self._all("SELECT * FROM virtual_accounts WHERE account_id = ? ORDER BY id", (account_id,))
        return [_va(r) for r in rows]

    async def virtual_account(self, va_id: int) -> VirtualAccount | None:
        row = await self._one("SELECT * FROM virtual_accounts WHERE id = ?", (va_id,))
        return _va(row) if row else None

    async def virtual_account_by_name(self, account_id: int, name: str) -> VirtualAccount | None:
        row = await self._one("SELECT * FROM virtual_accounts WHERE account_id = ? AND name = ?", (account_id, name))
        return _va(row) if row else None

    async def insert_virtual_account(
        self, *, account_id: int, name: str, description: str, is_default: bool, now: datetime
    ) -> int:
        return await self._exec(
            "INSERT INTO virtual_accounts (account_id, name, description, is_default, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (account_id, name, description, int(is_default), epoch(now)),
        )

    # -- licenses --------------------------------------------------------------------------------
    async def licenses(self, va_id: int) -> list[License]:
        rows = await self._all(
            "SELECT * FROM licenses WHERE virtual_account_id = ? ORDER BY license_type, usage_mode, name",
            (va_id,),
        )
        return [_license(r) for r in rows]

    async def add_license(
        self,
        *,
        va_id: int,
        name: str,
        license_type: LicenseType,
        usage_mode: UsageMode,
        tag: str,
        quantity: int,
    ) -> None:
        await self._exec(
            "INSERT INTO licenses (virtual_account_id, name, license_type, usage_mode, tag, quantity) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (virtual_account_id, tag) "
            "DO UPDATE SET quantity = quantity + excluded.quantity",
            (va_id, name, str(license_type), str(usage_mode), tag, quantity),
        )

    async def license_by_tag(self, va_id: int, tag: str) -> License | None:
        row = await self._one("SELECT * FROM licenses WHERE virtual_account_id = ? AND tag = ?", (va_id, tag))
        return _license(row) if row else None

    async def all_licenses(self) -> list[License]:
        rows = await self._all("SELECT * FROM licenses ORDER BY virtual_account_id, license_type, usage_mode, name")
        return [_license(r) for r in rows]

    async def ensure_pool(
        self, *, va_id: int, name: str, license_type: LicenseType, usage_mode: UsageMode, tag: str
    ) -> License:
        """The pool for ``tag`` in a virtual account, created with 0 purchased if it has none."""
        await self._exec(
            "INSERT INTO licenses (virtual_account_id, name, license_type, usage_mode, tag, quantity) "
            "VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (virtual_account_id, tag) DO NOTHING",
            (va_id, name, str(license_type), str(usage_mode), tag),
        )
        pool = await self.license_by_tag(va_id, tag)
        assert pool is not None
        return pool

    async def set_quantity(
        self, *, va_id: int, name: str, license_type: LicenseType, usage_mode: UsageMode, tag: str, quantity: int
    ) -> None:
        """Set (not add) the purchased quantity of a pool, creating it if needed (On-Prem sync)."""
        pool = await self.ensure_pool(va_id=va_id, name=name, license_type=license_type, usage_mode=usage_mode, tag=tag)
        await self._exec("UPDATE licenses SET quantity = ? WHERE id = ?", (quantity, pool.id))

    async def save_pool(self, license_id: int, pool: PoolState) -> None:
        await self._exec(
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

    async def pools_entering_enforcement(self, t: int, grace: int) -> list[License]:
        rows = await self._all(
            "SELECT * FROM licenses WHERE ooc_since IS NOT NULL AND enforcement_notified = 0 AND ooc_since + ? <= ?",
            (grace, t),
        )
        return [_license(r) for r in rows]

    async def next_pool_enforcement(self, grace: int) -> int | None:
        row = await self._one(
            "SELECT MIN(ooc_since) + ? AS t FROM licenses WHERE ooc_since IS NOT NULL AND enforcement_notified = 0",
            (grace,),
        )
        return int(row["t"]) if row and row["t"] is not None else None

    async def set_enforcement_notified(self, license_id: int) -> None:
        await self._exec("UPDATE licenses SET enforcement_notified = 1 WHERE id = ?", (license_id,))

    # -- usage -----------------------------------------------------------------------------------
    async def latest_usage(self, piid: str) -> list[Latest]:
        return [_latest(r) for r in await self._all("SELECT * FROM usage_latest WHERE piid = ? ORDER BY tag", (piid,))]

    async def pool_usage(self, va_id: int, tag: str) -> list[Latest]:
        rows = await self._all(
            "SELECT u.* FROM usage_latest u JOIN instances i ON i.piid = u.piid AND i.removed_at IS NULL "
            "WHERE u.virtual_account_id = ? AND u.tag = ? ORDER BY u.piid",
            (va_id, tag),
        )
        return [_latest(r) for r in rows]

    async def save_latest(self, latest: Latest) -> None:
        await self._exec(
            "INSERT INTO usage_latest (piid, tag, virtual_account_id, interval_end, peak, locked) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (piid, tag) DO UPDATE SET virtual_account_id = excluded."
            "virtual_account_id, interval_end = excluded.interval_end, peak = excluded.peak, locked = excluded.locked",
            (latest.piid, latest.tag, latest.virtual_account_id, latest.interval_end, latest.peak, latest.locked),
        )

    async def delete_latest(self, piid: str) -> None:
        await self._exec("DELETE FROM usage_latest WHERE piid = ?", (piid,))

    async def lock_pool(self, va_id: int, tag: str) -> None:
        """Out of Compliance: each instance's reported quantity is locked at its current peak."""
        await self._exec(
            "UPDATE usage_latest SET locked = MAX(peak, COALESCE(locked, 0)) WHERE virtual_account_id = ? AND tag = ?",
            (va_id, tag),
        )

    async def unlock_pool(self, va_id: int, tag: str) -> int:
        """Back In Compliance: locks released; returns the pool's in-use quantity (actual peaks)."""
        await self._exec("UPDATE usage_latest SET locked = NULL WHERE virtual_account_id = ? AND tag = ?", (va_id, tag))
        row = await self._one(
            "SELECT COALESCE(SUM(u.peak), 0) AS s FROM usage_latest u JOIN instances i ON i.piid = u.piid "
            "AND i.removed_at IS NULL WHERE u.virtual_account_id = ? AND u.tag = ?",
            (va_id, tag),
        )
        return int(row["s"]) if row else 0

    async def report_seen(self, report_id: str) -> bool:
        return await self._one("SELECT 1 FROM usage_reports WHERE report_id = ?", (report_id,)) is not None

    async def insert_report(
        self, *, report_id: str, piid: str, interval_start: int, interval_end: int, received_at: int, lines: str
    ) -> None:
        await self._exec(
            "INSERT INTO usage_reports (report_id, piid, interval_start, interval_end, received_at, lines) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (report_id, piid, interval_start, interval_end, received_at, lines),
        )

    async def reports(self, piid: str, *, limit: int = 100) -> list[aiosqlite.Row]:
        return await self._all(
            "SELECT * FROM usage_reports WHERE piid = ? ORDER BY interval_end DESC LIMIT ?", (piid, limit)
        )

    async def set_instance_compliance(self, piid: str, *, status: AuthorizationStatus, ooc_since: int | None) -> None:
        await self._exec(
            "UPDATE instances SET status = ?, ooc_since = ? WHERE piid = ?", (str(status), ooc_since, piid)
        )

    # -- SSM On-Prem instances seen from the cloud ----------------------------------------------
    async def satellite(self, piid: str) -> Satellite | None:
        row = await self._one("SELECT * FROM satellites WHERE piid = ?", (piid,))
        return _satellite(row) if row else None

    async def save_satellite(self, sat: Satellite) -> None:
        await self._exec(
            "INSERT INTO satellites (piid, sequence, last_sync, alerted, next_check) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (piid) DO UPDATE SET sequence = excluded.sequence, last_sync = excluded.last_sync, "
            "alerted = excluded.alerted, next_check = excluded.next_check",
            (sat.piid, sat.sequence, sat.last_sync, json.dumps(sorted(sat.alerted)), sat.next_check),
        )

    async def satellites_due(self, t: int) -> list[Satellite]:
        rows = await self._all("SELECT * FROM satellites WHERE next_check IS NOT NULL AND next_check <= ?", (t,))
        return [_satellite(r) for r in rows]

    async def next_satellite_check(self) -> int | None:
        row = await self._one("SELECT MIN(next_check) AS t FROM satellites WHERE next_check IS NOT NULL")
        return int(row["t"]) if row and row["t"] is not None else None

    async def replace_satellite_instances(self, satellite: str, rows: list[tuple[object, ...]]) -> None:
        await self._exec("DELETE FROM satellite_instances WHERE satellite = ?", (satellite,))
        if rows:
            await self._c.executemany(
                "INSERT INTO satellite_instances (satellite, piid, name, product, udi_pid, serial_number, "
                "virtual_account, status, last_contact_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(satellite, *r) for r in rows],
            )

    async def satellite_instances(self, satellite: str) -> list[aiosqlite.Row]:
        return await self._all(
            "SELECT * FROM satellite_instances WHERE satellite = ? ORDER BY name, piid", (satellite,)
        )

    # -- tokens ----------------------------------------------------------------------------------
    async def token(self, token_id: str) -> TokenRecord | None:
        row = await self._one("SELECT * FROM tokens WHERE id = ?", (token_id,))
        return _token(row) if row else None

    async def tokens(self, va_id: int | None = None) -> list[TokenRecord]:
        if va_id is None:
            rows = await self._all("SELECT * FROM tokens ORDER BY created_at, id")
        else:
            rows = await self._all(
                "SELECT * FROM tokens WHERE virtual_account_id = ? ORDER BY created_at, id", (va_id,)
            )
        return [_token(r) for r in rows]

    async def insert_token(self, record: TokenRecord, *, created_by: str) -> None:
        await self._exec(
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

    async def use_token(self, token_id: str) -> None:
        await self._exec("UPDATE tokens SET uses = uses + 1 WHERE id = ?", (token_id,))

    async def revoke_token(self, token_id: str, now: datetime) -> bool:
        async with self._c.execute(
            "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
            (epoch(now), token_id),
        ) as cur:
            return cur.rowcount > 0

    # -- instances -------------------------------------------------------------------------------
    async def instance(self, piid: str) -> Instance | None:
        row = await self._one("SELECT * FROM instances WHERE piid = ?", (piid,))
        return _instance(row) if row else None

    async def active_instance_by_sudi(self, udi_pid: str, serial_number: str) -> Instance | None:
        row = await self._one(
            "SELECT * FROM instances WHERE udi_pid = ? AND serial_number = ? AND removed_at IS NULL",
            (udi_pid, serial_number),
        )
        return _instance(row) if row else None

    async def instances(self, va_id: int | None = None, *, include_removed: bool = False) -> list[Instance]:
        where = [] if include_removed else ["removed_at IS NULL"]
        args: list[object] = []
        if va_id is not None:
            where.append("virtual_account_id = ?")
            args.append(va_id)
        sql = "SELECT * FROM instances"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [_instance(r) for r in await self._all(sql + " ORDER BY registered_at, piid", args)]

    async def insert_instance(self, i: Instance) -> None:
        await self._exec(
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

    async def mark_removed(self, piid: str, now: datetime, reason: str) -> bool:
        async with self._c.execute(
            "UPDATE instances SET removed_at = ?, removed_reason = ?, next_check_at = NULL "
            "WHERE piid = ? AND removed_at IS NULL",
            (epoch(now), reason, piid),
        ) as cur:
            return cur.rowcount > 0

    async def set_authorized(
        self,
        piid: str,
        now: datetime,
        *,
        status: AuthorizationStatus,
        ooc_since: int | None,
        next_check_at: int | None,
    ) -> None:
        t = epoch(now)
        await self._exec(
            "UPDATE instances SET authorized_at = ?, last_contact_at = ?, status = ?, ooc_since = ?, "
            "next_check_at = ? WHERE piid = ?",
            (t, t, str(status), ooc_since, next_check_at, piid),
        )

    async def touch(self, piid: str, now: datetime, *, next_check_at: int | None) -> None:
        """A successful contact other than an authorization."""
        await self._exec(
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

    async def renew_certificate(
        self, piid: str, *, public_key: bytes, cert_pem: str, cert_serial: str, issued_at: int, expires_at: int
    ) -> None:
        await self._exec(
            "UPDATE instances SET prev_public_key = public_key, public_key = ?, cert_pem = ?, cert_serial = ?, "
            "cert_issued_at = ?, cert_expires_at = ? WHERE piid = ?",
            (public_key, cert_pem, cert_serial, issued_at, expires_at, piid),
        )

    async def forget_previous_key(self, piid: str) -> None:
        await self._exec("UPDATE instances SET prev_public_key = NULL WHERE piid = ?", (piid,))

    async def watch_due(self, t: int, limit: int = 1000) -> list[Instance]:
        rows = await self._all(
            "SELECT * FROM instances WHERE removed_at IS NULL AND next_check_at <= ? ORDER BY next_check_at LIMIT ?",
            (t, limit),
        )
        return [_instance(r) for r in rows]

    async def next_watch(self) -> int | None:
        row = await self._one("SELECT MIN(next_check_at) AS t FROM instances WHERE removed_at IS NULL")
        return int(row["t"]) if row and row["t"] is not None else None

    async def set_watch(
        self, piid: str, *, status: AuthorizationStatus, renew_alerted_at: int | None, next_check_at: int | None
    ) -> None:
        await self._exec(
            "UPDATE instances SET status = ?, renew_alerted_at = ?, next_check_at = ? WHERE piid = ?",
            (str(status), renew_alerted_at, next_check_at, piid),
        )

    # -- notifications (the "emails" the SSM would send) ----------------------------------------
    async def notify(
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
        await self._exec(
            "INSERT INTO notifications (at, kind, severity, virtual_account_id, piid, subject, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (epoch(at), kind, severity, va_id, piid, subject, body),
        )

    async def notifications(self, *, limit: int = 100, kind: str | None = None) -> list[Notification]:
        sql = "SELECT * FROM notifications"
        args: list[object] = []
        if kind:
            sql += " WHERE kind = ?"
            args.append(kind)
        rows = await self._all(sql + " ORDER BY at DESC, id DESC LIMIT ?", [*args, limit])
        return [
            Notification(
                r["id"], r["at"], r["kind"], r["severity"], r["virtual_account_id"], r["piid"], r["subject"], r["body"]
            )
            for r in reversed(rows)
        ]

    # -- replay protection -----------------------------------------------------------------------
    async def remember_nonce(self, piid: str, nonce: str, sent_at: int) -> bool:
        """Record a request nonce; False when it was seen before (a replay)."""
        try:
            await self._exec("INSERT INTO nonces (piid, nonce, sent_at) VALUES (?, ?, ?)", (piid, nonce, sent_at))
        except sqlite3.IntegrityError:
            return False
        return True

    async def forget_nonces_before(self, cutoff: int) -> int:
        async with self._c.execute("DELETE FROM nonces WHERE sent_at < ?", (cutoff,)) as cur:
            return cur.rowcount

    # -- events ----------------------------------------------------------------------------------
    async def add_event(
        self,
        *,
        at: datetime,
        kind: str,
        message: str,
        va_id: int | None = None,
        piid: str | None = None,
    ) -> None:
        await self._exec(
            "INSERT INTO events (at, kind, virtual_account_id, piid, message) VALUES (?, ?, ?, ?, ?)",
            (epoch(at), kind, va_id, piid, message),
        )

    async def events(self, *, limit: int = 100, piid: str | None = None) -> list[Event]:
        if piid is None:
            rows = await self._all("SELECT * FROM events ORDER BY at DESC, id DESC LIMIT ?", (limit,))
        else:
            rows = await self._all(
                "SELECT * FROM events WHERE piid = ? ORDER BY at DESC, id DESC LIMIT ?", (piid, limit)
            )
        return [
            Event(r["id"], r["at"], r["kind"], r["virtual_account_id"], r["piid"], r["message"]) for r in reversed(rows)
        ]
