"""The SSM's store on PostgreSQL: the same ``Store`` API, repositories and group commit as SQLite's,
shared by several ``ssm-server`` processes (on several machines) through one database.

Driver: psycopg 3's synchronous connections, each driven from its own thread, as aiosqlite drives
SQLite's: the repositories are synchronous code run inside one transaction in the connection's
thread, so they stay one source for both engines (``server.store.dialect`` rewrites placeholders)
and a whole transaction costs one hand-off from the event loop. psycopg's async API would have made
every repository a coroutine, for no gain here.

Write transactions hold one lock of the whole database (a transaction-scoped advisory lock) taken
as their first statement, then run READ COMMITTED: every worker's batch sees every batch committed
before it, so whatever a body reads and decides (a pool's over-usage and locks, a token's uses, an
instance's state) is exact, as under SQLite's single writer (``BEGIN IMMEDIATE``), without naming
the rows each path must lock. What scales out is the rest of a request (TLS, signatures, HTTP),
most of its cost; group commit makes each hold of the lock serve many requests. SERIALIZABLE was
tried first: two workers' batches touch the same pool rows, so most of them aborted and retried
until some ran out of retries (docs/scale-out.md). A deadlock or serialization failure still runs
the whole batch again (bodies are pure functions of what they read). Replay protection is the
nonces table's primary key (``ON CONFLICT DO NOTHING``).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from psycopg import errors

from server.store.dialect import ddl_to_pg, pg_args, row_factory, statements, to_pg
from server.store.engine import ACCOUNT_RESET, RESET_ALL, Body, Store, StoreError, account_id, run_bodies
from server.store.location import redacted
from server.store.schema import MIGRATIONS
from server.store.uow import UnitOfWork
from shared.errors import Conflict

T = TypeVar("T")

#: What PostgreSQL asks to retry: the batch runs again from its first body.
RETRY = (errors.SerializationFailure, errors.DeadlockDetected)
ATTEMPTS = 30
#: Any numbers, the same in every process: the migrations' lock (one worker migrates, the others
#: wait) and the writers' (one write transaction at a time in the whole database).
_MIGRATION_LOCK = 0x55A1AB
_WRITE_LOCK = 0x55A1AC
#: The housekeeper's lock, one per schema (the tests' SSMs share a database, each in its schema).
_HOUSEKEEPER = "SELECT pg_try_advisory_lock(hashtext(current_schema() || ' ssmlab housekeeping'))"


class Connection:
    """A psycopg connection that takes SQLite's SQL (what the repositories call)."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def execute(self, sql: str, args: Any = ()) -> psycopg.Cursor[Any]:
        query, numbered = to_pg(sql)
        cur = self.conn.cursor(row_factory=row_factory)
        return cur.execute(query, pg_args(numbered, args))

    def executemany(self, sql: str, rows: Any) -> None:
        query, numbered = to_pg(sql)
        with self.conn.cursor() as cur:
            cur.executemany(query, [pg_args(numbered, r) for r in rows])


class _Worker:
    """One connection and the one thread that uses it."""

    def __init__(self, url: str) -> None:
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="pg")
        self.url = url
        self.raw: Connection | None = None

    async def open(self) -> Connection:
        def connect() -> Connection:
            return Connection(psycopg.connect(self.url, autocommit=True))

        self.raw = await self.run(lambda: connect())
        return self.raw

    async def run(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self.pool, fn)

    async def close(self) -> None:
        if self.raw is not None:
            raw, self.raw = self.raw, None
            await self.run(raw.conn.close)
        self.pool.shutdown()


class PgStore(Store):
    """Two connections to one PostgreSQL database (a writer and a reader), as ``Store``'s."""

    def __init__(self, url: str, writer: _Worker, reader: _Worker) -> None:
        assert writer.raw is not None and reader.raw is not None
        self.path = url
        self._pg_writer, self._pg_reader = writer, reader
        self._write_uow = UnitOfWork(writer.raw)  # type: ignore[arg-type]
        self._read_uow = UnitOfWork(reader.raw)  # type: ignore[arg-type]
        self._lock = asyncio.Lock()
        self._pending = []
        self._pump = None
        self.batches = 0
        self.batched = 0
        self.retries = 0  # batches run again after a serialization failure (a figure for the cluster run)
        self._house: _Worker | None = None

    @classmethod
    async def open(cls, path: str | Path) -> PgStore:
        url = str(path)
        writer, reader = _Worker(url), _Worker(url)
        try:
            raw = await writer.open()
            await writer.run(lambda: _migrate(raw))
            await reader.open()
        except psycopg.OperationalError as exc:
            await writer.close()
            await reader.close()
            raise StoreError(f"cannot use the PostgreSQL database {redacted(url)}: {exc}".strip()) from None
        except BaseException:
            await writer.close()
            await reader.close()
            raise
        return cls(url, writer, reader)

    async def _disconnect(self) -> None:
        await self._pg_reader.close()
        await self._pg_writer.close()
        if self._house is not None:
            await self._house.close()  # (the housekeeper's lock goes with its session)

    async def lead_housekeeping(self) -> bool:
        """Whether this process keeps house for the database: the one holding a session lock of it
        (kept on a connection of its own until the store closes or the process dies)."""
        if self._house is None:
            self._house = _Worker(self.path)
            await self._house.open()
        raw = self._house.raw
        assert raw is not None
        row = await self._house.run(lambda: raw.execute(_HOUSEKEEPER).fetchone())
        return bool(row and row[0])

    async def read(self, fn: Body[T]) -> T:
        uow, raw = self._read_uow, self._pg_reader.raw
        assert raw is not None

        def snapshot() -> T:
            raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                return fn(uow)
            finally:
                raw.execute("COMMIT")

        return await self._pg_reader.run(snapshot)

    async def _commit(self, bodies: list[Body[Any]]) -> list[tuple[bool, Any]]:
        raw = self._pg_writer.raw
        assert raw is not None
        return await self._pg_writer.run(functools.partial(self._write_batch, raw, bodies))

    def _write_batch(self, raw: Connection, bodies: list[Body[Any]]) -> list[tuple[bool, Any]]:
        """The batch in one write transaction, again from the start when PostgreSQL asks."""
        for attempt in range(ATTEMPTS):
            try:
                return _transaction(raw, lambda: run_bodies(raw, self._write_uow, bodies, abort=RETRY))
            except RETRY:
                if attempt == ATTEMPTS - 1:
                    raise
                self.retries += 1
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))  # noqa: S311 - jitter, not a secret
        raise AssertionError("unreachable")

    async def backup_to(self, target: Path) -> None:
        """Every table's rows as JSON in ``target`` (mode 0600), read from one snapshot."""
        raw = self._pg_reader.raw
        assert raw is not None

        def dump() -> dict[str, Any]:
            raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            try:
                return {"engine": "postgresql", "schema": _version(raw), "tables": _tables_dump(raw)}
            finally:
                raw.execute("COMMIT")

        document = json.dumps(await self._pg_reader.run(dump), default=_encode)
        await asyncio.to_thread(_write_private, target, document)

    async def restore_from(self, source: Path) -> None:
        """Replace every table's rows with a ``backup_to`` file's, in one transaction."""
        try:
            saved = json.loads(await asyncio.to_thread(source.read_bytes), object_hook=_decode)
        except (UnicodeDecodeError, ValueError):
            saved = {}
        found = saved.get("schema") if isinstance(saved, dict) and saved.get("engine") == "postgresql" else None
        if found != len(MIGRATIONS):
            what = "not a PostgreSQL snapshot" if found is None else f"the snapshot has schema {found}"
            raise Conflict(
                f"{what}, this database {len(MIGRATIONS)}",
                code="snapshot_schema_mismatch",
                fix="take the snapshot again with this version of ssmlab (snapshots follow the schema)",
            )
        raw = self._pg_writer.raw
        assert raw is not None
        async with self._lock:
            await self._pg_writer.run(lambda: _transaction(raw, lambda: _tables_load(raw, saved["tables"])))

    async def reset(self, account_domain: str | None) -> int:
        raw = self._pg_writer.raw
        assert raw is not None

        def wipe() -> int:
            if account_domain is None:
                return sum(raw.execute(sql).rowcount for sql in RESET_ALL)
            return sum(raw.execute(sql, (account_id(raw, account_domain),)).rowcount for sql in ACCOUNT_RESET)

        async with self._lock:
            return await self._pg_writer.run(lambda: _transaction(raw, wipe))


def _transaction(raw: Connection, body: Callable[[], T]) -> T:
    """``body`` as the database's one write transaction of the moment (see the module's notes)."""
    raw.execute("BEGIN ISOLATION LEVEL READ COMMITTED")
    try:
        raw.execute("SELECT pg_advisory_xact_lock(?)", (_WRITE_LOCK,))
        result = body()
    except BaseException:
        raw.execute("ROLLBACK")
        raise
    raw.execute("COMMIT")
    return result


def _version(raw: Connection) -> int:
    row = raw.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _migrate(raw: Connection) -> None:
    """Bring the schema to ``len(MIGRATIONS)`` (one script per transaction, one process at a time)."""
    while True:
        raw.execute("BEGIN")
        try:
            raw.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            # (inside the lock: IF NOT EXISTS alone races another worker creating it)
            raw.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            version = _version(raw)
            if version > len(MIGRATIONS):
                raise StoreError(
                    f"the database has schema version {version}, newer than this ssm-server "
                    f"understands ({len(MIGRATIONS)}); upgrade ssmlab or use another --db"
                )
            if version == len(MIGRATIONS):
                raw.execute("COMMIT")
                return
            for statement in statements(ddl_to_pg(MIGRATIONS[version])):
                raw.conn.execute(statement)  # DDL: no placeholders
            raw.execute("INSERT INTO schema_version (version) VALUES (?)", (version + 1,))
        except BaseException:
            raw.execute("ROLLBACK")
            raise
        raw.execute("COMMIT")


#: The tables of the current schema in creation order (a table's foreign keys name older ones).
_TABLES = (
    "SELECT c.relname FROM pg_class c WHERE c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace "
    "AND c.relname <> 'schema_version' ORDER BY c.oid"
)


def _tables_dump(raw: Connection) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for (table,) in raw.execute(_TABLES).fetchall():
        cur = raw.execute(f'SELECT * FROM "{table}"')  # noqa: S608 - a name from the catalog
        out[table] = {"columns": [c.name for c in cur.description or ()], "rows": [list(r) for r in cur.fetchall()]}
    return out


def _tables_load(raw: Connection, tables: dict[str, dict[str, Any]]) -> None:
    names = [t for (t,) in raw.execute(_TABLES).fetchall()]
    raw.conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in names))
    for table in names:
        saved = tables.get(table, {"columns": [], "rows": []})
        if saved["rows"]:
            cols = ", ".join(f'"{c}"' for c in saved["columns"])
            marks = ", ".join("?" * len(saved["columns"]))
            raw.executemany(f'INSERT INTO "{table}" ({cols}) VALUES ({marks})', saved["rows"])  # noqa: S608
    identities = raw.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_identity = 'YES'"
    ).fetchall()
    for table, column in identities:
        raw.conn.execute(
            f"SELECT setval(pg_get_serial_sequence('\"{table}\"', '{column}'), "  # noqa: S608 - catalog names
            f'COALESCE((SELECT MAX("{column}") FROM "{table}"), 0) + 1, false)'
        )


def _write_private(target: Path, text: str) -> None:
    target.unlink(missing_ok=True)
    target.touch(mode=0o600)
    target.write_text(text)


def _encode(value: object) -> object:
    if isinstance(value, bytes | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode()}
    raise TypeError(f"cannot save {type(value).__name__} in a snapshot")


def _decode(obj: dict[str, Any]) -> object:
    return base64.b64decode(obj["$bytes"]) if obj.keys() == {"$bytes"} else obj
