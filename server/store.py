"""The SSM's embedded store: SQLite in WAL mode through aiosqlite, schema versioned.

Two connections: one writer, used only inside ``transaction()`` (``BEGIN IMMEDIATE`` under an
asyncio lock, committed before the caller acknowledges anything), and one reader, which in WAL
mode sees only committed data. Domain time is stored as integer epoch seconds; SQLite's own
clock (``CURRENT_TIMESTAMP``) is never used.

Typed queries live in ``server.queries``; this module owns connections and the schema.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from server.queries import Queries
from server.schema import MIGRATIONS


class StoreError(Exception):
    """The database file cannot be used (newer schema, unreadable file)."""


async def _connect(path: str) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = aiosqlite.Row
    await conn.execute("PRAGMA busy_timeout = 10000")
    await conn.execute("PRAGMA foreign_keys = ON")
    await conn.execute("PRAGMA synchronous = FULL")
    return conn


class Store:
    """Connections to one SSM database file."""

    def __init__(self, path: str, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._lock = asyncio.Lock()
        self.read = Queries(reader)

    @classmethod
    async def open(cls, path: str | Path) -> Store:
        """Open (creating if needed) and migrate the database at ``path``; file mode 0600."""
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
        await self._reader.close()
        await self._writer.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Queries]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        async with self._lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield Queries(self._writer)
            except BaseException:
                await self._writer.execute("ROLLBACK")
                raise
            await self._writer.execute("COMMIT")


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
