"""The SSM's embedded store: SQLite in WAL mode through aiosqlite, schema versioned.

Two connections, each with its unit of work (``server.store.uow``):

- ``read(fn)``: ``fn(uow)`` runs in the reader's thread inside one read transaction, so it sees
  one committed snapshot; one hand-off from the event loop whatever it reads.
- ``write(fn)``: ``fn(uow)`` holds a whole write transaction and runs in the writer's thread.
  Bodies queued while a batch is being written are committed together (group commit: one fsync
  for many requests), each inside a SAVEPOINT, so one body's error rolls back that body alone.
  It returns once the body is committed: every change is durable before it is acknowledged.

Domain time is stored as integer epoch seconds; SQLite's own clock is never used. This module owns
the connections, the schema's migrations and the commits; SQL lives in the repositories.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from plumbing import sqlite
from plumbing.sqlite import run_in_connection, transaction
from server.store.schema import MIGRATIONS
from server.store.uow import UnitOfWork
from shared.errors import Conflict, NotFound

T = TypeVar("T")
Body = Callable[[UnitOfWork], T]


class StoreError(Exception):
    """The database file cannot be used (newer schema, unreadable file)."""


async def _connect(path: str) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = aiosqlite.Row
    await conn.execute("PRAGMA busy_timeout = 10000")
    await conn.execute("PRAGMA foreign_keys = ON")
    await conn.execute("PRAGMA synchronous = FULL")
    # SQLite's default page cache is 2 MiB: with thousands of instances every report's lookups
    # miss it and read pages through the OS again. 64 MiB per connection, and reads mapped.
    await conn.execute("PRAGMA cache_size = -65536")
    await conn.execute("PRAGMA mmap_size = 268435456")
    return conn


def _uow(conn: aiosqlite.Connection) -> UnitOfWork:
    return UnitOfWork(conn._conn)


class Store:
    """Connections to one SSM database file."""

    def __init__(self, path: str, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._write_uow = _uow(writer)
        self._read_uow = _uow(reader)
        self._lock = asyncio.Lock()
        self._pending: list[tuple[Body[Any], asyncio.Future[Any]]] = []
        self._pump: asyncio.Task[None] | None = None
        self.batches = 0  # group commits done (a figure for the benchmark)
        self.batched = 0  # bodies committed in them

    @classmethod
    async def open(cls, path: str | Path) -> Store:
        """Open (creating if needed) and migrate the database at ``path``; file mode 0600. A
        ``postgresql://`` URL opens that database instead (``server.store.pg``)."""
        if is_postgres(path):
            from server.store.pg import PgStore  # psycopg only when asked for

            return await PgStore.open(str(path))
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        if not p.exists():  # noqa: ASYNC240 - once, at startup
            fd = os.open(p, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        writer = await _connect(str(p))
        try:
            await writer.execute("PRAGMA journal_mode = WAL")
            await _migrate(writer)
            reader = await _connect(str(p))
        except BaseException:
            await writer.close()
            raise
        return cls(str(p), writer, reader)

    async def close(self) -> None:
        if self._pump is not None:
            await asyncio.gather(self._pump, return_exceptions=True)
        await self._disconnect()

    async def _disconnect(self) -> None:
        await self._reader.close()
        await self._writer.close()

    async def read(self, fn: Body[T]) -> T:
        """``fn(uow)`` over one committed snapshot, in the reader's thread."""
        uow = self._read_uow

        def snapshot(raw: sqlite3.Connection) -> T:
            raw.execute("BEGIN")
            try:
                return fn(uow)
            finally:
                raw.execute("COMMIT")

        return await run_in_connection(self._reader, snapshot)

    async def write(self, fn: Body[T]) -> T:
        """Run ``fn(uow)`` as one transaction in the writer's thread; return once it is committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((fn, future))
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:_BATCH_MAX], self._pending[_BATCH_MAX:]
            bodies = [b for b, _ in batch]
            async with self._lock:
                try:
                    outcomes = await self._commit(bodies)
                except BaseException as exc:  # the COMMIT itself failed: nothing of the batch stands
                    outcomes = [(False, exc)] * len(batch)
            self.batches += 1
            self.batched += len(batch)
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    async def lead_housekeeping(self) -> bool:
        """Whether this process keeps house (the watch, nonce pruning, sync) for the database. A
        SQLite file is one machine's: its ``--workers`` decide (the first one does)."""
        return True

    async def _commit(self, bodies: list[Body[Any]]) -> list[tuple[bool, Any]]:
        """Run ``bodies`` in one transaction and commit it: each body's (ok, value or error)."""
        return await run_in_connection(
            self._writer, functools.partial(_commit_batch, uow=self._write_uow, bodies=bodies)
        )

    async def backup_to(self, target: Path) -> None:
        """A consistent copy of the database (SQLite's backup API), mode 0600."""
        async with self._lock:
            await run_in_connection(self._writer, lambda raw: sqlite.backup(raw, target))

    async def restore_from(self, source: Path) -> None:
        """Replace the whole database with a backup, while serving (schema versions must match).

        Raises:
            Conflict: ``snapshot_schema_mismatch``: a snapshot of another schema version.
        """
        async with self._lock:
            try:
                await run_in_connection(self._writer, lambda raw: sqlite.restore(raw, source, schema=len(MIGRATIONS)))
            except ValueError as exc:
                raise Conflict(
                    str(exc),
                    code="snapshot_schema_mismatch",
                    fix="take the snapshot again with this version of ssmlab (snapshots follow the schema)",
                ) from None

    async def reset(self, account_domain: str | None) -> int:
        """Forget everything (but the clock and settings), or one Smart Account and all it holds."""

        def wipe(raw: sqlite3.Connection) -> int:
            if account_domain is None:
                return sum(raw.execute(sql).rowcount for sql in RESET_ALL)
            return sum(raw.execute(sql, (account_id(raw, account_domain),)).rowcount for sql in ACCOUNT_RESET)

        async with self._lock:
            return await run_in_connection(self._writer, lambda raw: transaction(raw, wipe))


def is_postgres(target: object) -> bool:
    """Whether a ``--db`` names a PostgreSQL database (a ``postgresql://`` URL) rather than a file."""
    return str(target).startswith(("postgresql://", "postgres://"))


_BATCH_MAX = 256
#: Every table but settings and api_clients (a reset keeps scripts' credentials), children before
#: the tables their foreign keys name.
_CHILDREN_FIRST = (
    "usage_latest",
    "usage_reports",
    "nonces",
    "satellite_instances",
    "satellites",
    "events",
    "notifications",
    "tokens",
    "reservations",
    "instances",
    "pool_history",
    "license_terms",
    "licenses",
    "virtual_accounts",
    "delivery_attempts",
    "deliveries",
    "webhooks",
    "notify_addresses",
    "accounts",
)
RESET_ALL = tuple("DELETE FROM " + table for table in _CHILDREN_FIRST)
_VAS = "(SELECT id FROM virtual_accounts WHERE account_id = ?1)"
_PIIDS = "(SELECT piid FROM instances WHERE virtual_account_id IN " + _VAS + ")"
#: One account and everything it holds, children first (?1 is the account id).
ACCOUNT_RESET = (
    "DELETE FROM usage_latest WHERE piid IN " + _PIIDS,
    "DELETE FROM usage_reports WHERE piid IN " + _PIIDS,
    "DELETE FROM nonces WHERE piid IN " + _PIIDS,
    "DELETE FROM satellite_instances WHERE satellite IN " + _PIIDS,
    "DELETE FROM satellites WHERE piid IN " + _PIIDS,
    "DELETE FROM instances WHERE virtual_account_id IN " + _VAS,
    "DELETE FROM tokens WHERE virtual_account_id IN " + _VAS,
    "DELETE FROM reservations WHERE virtual_account_id IN " + _VAS,
    "DELETE FROM pool_history WHERE license_id IN (SELECT id FROM licenses WHERE virtual_account_id IN " + _VAS + ")",
    "DELETE FROM license_terms WHERE license_id IN (SELECT id FROM licenses WHERE virtual_account_id IN " + _VAS + ")",
    "DELETE FROM licenses WHERE virtual_account_id IN " + _VAS,
    "DELETE FROM events WHERE virtual_account_id IN " + _VAS,
    "DELETE FROM notifications WHERE virtual_account_id IN " + _VAS,
    "DELETE FROM virtual_accounts WHERE account_id = ?1",
    "DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE account_id = ?1)",
    "DELETE FROM deliveries WHERE account_id = ?1",
    "DELETE FROM webhooks WHERE account_id = ?1",
    "DELETE FROM notify_addresses WHERE account_id = ?1",
    "DELETE FROM accounts WHERE id = ?1",
)


def account_id(raw: Any, domain: str) -> int:
    """The id of a Smart Account to reset (either engine's connection)."""
    row = raw.execute("SELECT id FROM accounts WHERE domain = ?", (domain,)).fetchone()
    if row is None:
        raise NotFound(
            f"no Smart Account {domain!r}", code="account_not_found", fix="list them: ssm-server account list"
        )
    return int(row[0])


def _commit_batch(raw: sqlite3.Connection, *, uow: UnitOfWork, bodies: list[Body[Any]]) -> list[tuple[bool, Any]]:
    """One transaction for many bodies, each in its own SAVEPOINT; one COMMIT (one fsync)."""
    raw.execute("BEGIN IMMEDIATE")
    try:
        outcomes = run_bodies(raw, uow, bodies)
    except BaseException:
        raw.execute("ROLLBACK")
        raise
    raw.execute("COMMIT")
    return outcomes


def run_bodies(
    raw: Any, uow: UnitOfWork, bodies: list[Body[Any]], *, abort: tuple[type[BaseException], ...] = ()
) -> list[tuple[bool, Any]]:
    """Each body in its SAVEPOINT, inside the caller's transaction (either engine's connection):
    one body's error rolls back that body alone; an ``abort`` error aborts them all (a retry)."""
    outcomes: list[tuple[bool, Any]] = []
    for body in bodies:
        raw.execute("SAVEPOINT body")
        try:
            value = body(uow)
        except abort:
            raise
        except Exception as exc:
            raw.execute("ROLLBACK TO SAVEPOINT body")
            raw.execute("RELEASE SAVEPOINT body")
            outcomes.append((False, exc))
            continue
        raw.execute("RELEASE SAVEPOINT body")
        outcomes.append((True, value))
    return outcomes


async def _migrate(conn: aiosqlite.Connection) -> None:
    async with conn.execute("PRAGMA user_version") as cur:
        row = await cur.fetchone()
    version = int(row[0]) if row else 0
    if version > len(MIGRATIONS):
        raise StoreError(
            f"the database has schema version {version}, newer than this ssm-server "
            f"understands ({len(MIGRATIONS)}); upgrade ssmlab or use another --db"
        )
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        await conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in script.split(";\n"):
                if statement.strip():
                    await conn.execute(statement)
            await conn.execute(f"PRAGMA user_version = {number}")
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
