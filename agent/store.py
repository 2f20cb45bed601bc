"""The agent's persisted state: one SQLite file (WAL, 0600: it holds ID-certificate keys).

Per product instance: its ``InstanceState`` (msgspec JSON), its ID key and certificate. Plus an
event log of transitions and a settings table (clock). Each save is one committed transaction.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import aiosqlite
import msgspec

from plumbing import sqlite
from plumbing.sqlite import run_in_connection, transaction
from shared.clock import epoch
from shared.lifecycle import InstanceState
from shared.usage import UsageState

SCHEMA = (
    """
CREATE TABLE instances (
    name TEXT PRIMARY KEY,
    state BLOB NOT NULL,
    usage BLOB,
    key_pem BLOB,
    cert_pem TEXT,
    updated_at INTEGER NOT NULL
);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    instance TEXT NOT NULL,
    kind TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX events_at ON events (at);
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
)
""",
)

_state_decoder = msgspec.json.Decoder(InstanceState)
_usage_decoder = msgspec.json.Decoder(UsageState)


@dataclass(frozen=True, slots=True)
class Stored:
    state: InstanceState
    usage: UsageState
    key_pem: bytes | None
    cert_pem: str | None


@dataclass(frozen=True, slots=True)
class AgentEvent:
    at: int
    instance: str
    kind: str
    message: str


class AgentStore:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._c = conn
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> AgentStore:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():  # noqa: ASYNC240 - once, at startup
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        os.chmod(path, 0o600)
        conn = await aiosqlite.connect(str(path), isolation_level=None)
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = FULL")
        await conn.execute("PRAGMA busy_timeout = 10000")
        async with conn.execute("PRAGMA user_version") as cur:
            row = await cur.fetchone()
        version = int(row[0]) if row else 0
        if version > len(SCHEMA):
            await conn.close()
            raise RuntimeError(f"{path} has schema {version}, newer than this smart-agent ({len(SCHEMA)})")
        for n, script in enumerate(SCHEMA[version:], start=version + 1):
            await conn.execute("BEGIN IMMEDIATE")
            for stmt in script.split(";\n"):
                if stmt.strip():
                    await conn.execute(stmt)
            await conn.execute(f"PRAGMA user_version = {n}")
            await conn.execute("COMMIT")
        return cls(conn)

    async def close(self) -> None:
        await self._c.close()

    async def load(self, name: str) -> Stored | None:
        async with self._c.execute(
            "SELECT state, usage, key_pem, cert_pem FROM instances WHERE name = ?", (name,)
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        usage = _usage_decoder.decode(row[1]) if row[1] else UsageState()
        return Stored(_state_decoder.decode(row[0]), usage, bytes(row[2]) if row[2] else None, row[3])

    async def save(
        self,
        state: InstanceState,
        now: datetime,
        *,
        key_pem: bytes | None = None,
        cert_pem: str | None = None,
        clear_credentials: bool = False,
        usage: UsageState | None = None,
        events: Sequence[tuple[int, str, str]] = (),
    ) -> None:
        """Persist ``state`` (and, when given, the ID key and certificate) in one transaction,
        with the events (instant, kind, message) that led to it."""
        blob = msgspec.json.encode(state)
        usage_blob = msgspec.json.encode(usage) if usage is not None else None
        t = epoch(now)
        rows = [(at, state.name, kind, message) for at, kind, message in events]

        def body(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO instances (name, state, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
                (state.name, blob, t),
            )
            if usage_blob is not None:
                c.execute("UPDATE instances SET usage = ? WHERE name = ?", (usage_blob, state.name))
            if clear_credentials:
                c.execute("UPDATE instances SET key_pem = NULL, cert_pem = NULL WHERE name = ?", (state.name,))
            if key_pem is not None:
                c.execute("UPDATE instances SET key_pem = ? WHERE name = ?", (key_pem, state.name))
            if cert_pem is not None:
                c.execute("UPDATE instances SET cert_pem = ? WHERE name = ?", (cert_pem, state.name))
            if rows:
                c.executemany("INSERT INTO events (at, instance, kind, message) VALUES (?, ?, ?, ?)", rows)

        async with self._lock:
            await run_in_connection(self._c, lambda c: transaction(c, body))

    async def events(self, *, limit: int = 100, instance: str | None = None) -> list[AgentEvent]:
        sql = "SELECT at, instance, kind, message FROM events"
        args: tuple[object, ...] = ()
        if instance:
            sql += " WHERE instance = ?"
            args = (instance,)
        sql += " ORDER BY at DESC, id DESC LIMIT ?"
        async with self._c.execute(sql, (*args, limit)) as cur:
            rows = await cur.fetchall()
        return [AgentEvent(r[0], r[1], r[2], r[3]) for r in reversed(list(rows))]

    async def backup_to(self, target: Path) -> None:
        """A consistent copy of the agent's database (SQLite's backup API), mode 0600."""
        async with self._lock:
            await run_in_connection(self._c, lambda raw: sqlite.backup(raw, target))

    async def restore_from(self, source: Path) -> None:
        async with self._lock:
            await run_in_connection(self._c, lambda raw: sqlite.restore(raw, source))

    async def reset(self) -> int:
        """Forget every instance and event (keep the clock): the next start is a first start."""

        def wipe(raw: sqlite3.Connection) -> int:
            return sum(raw.execute(f"DELETE FROM {t}").rowcount for t in ("instances", "events"))  # noqa: S608

        async with self._lock:
            return await run_in_connection(self._c, lambda raw: transaction(raw, wipe))

    async def setting(self, key: str) -> str | None:
        async with self._c.execute("SELECT value FROM settings WHERE key = ?", (key,)) as cur:
            row = await cur.fetchone()
        return str(row[0]) if row else None

    async def set_setting(self, key: str, value: str) -> None:
        async with self._lock:
            await self._c.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
