"""The agent's persisted state: one SQLite file (WAL, 0600: it holds ID-certificate keys).

Per product instance: its ``InstanceState`` and its ``UsageState`` (msgspec JSON), its ID key and
certificate, and its queue of usage reports waiting to be sent, one row per report. Plus an event
log of transitions and a settings table (clock). Each save is one committed transaction.

The report queue can hold thousands of reports while the SSM is unreachable, and every usage
interval changes it: a save writes only the reports that joined the queue and deletes those that
left it (``QueueMirror``), never the whole queue again.
"""

from __future__ import annotations

import asyncio
import collections
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import aiosqlite
import msgspec

from plumbing import sqlite
from plumbing.sqlite import run_in_connection, transaction
from shared.clock import epoch, real_stamp
from shared.lifecycle import InstanceState
from shared.messages import UsageReport
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
    # The report queue leaves the usage blob for a table of its own (issue 16, item 18): each
    # interval appended one report and rewrote them all. Queues saved before move over as they are.
    """
CREATE TABLE report_queue (
    instance TEXT NOT NULL,
    seq INTEGER NOT NULL,
    report_id TEXT NOT NULL,
    report TEXT NOT NULL,
    PRIMARY KEY (instance, seq)
);
INSERT INTO report_queue (instance, seq, report_id, report)
    SELECT i.name, q.key, json_extract(q.value, '$.report_id'), q.value
    FROM instances i, json_each(CAST(i.usage AS TEXT), '$.queue') q
    WHERE i.usage IS NOT NULL;
UPDATE instances SET usage = json_remove(CAST(usage AS TEXT), '$.queue') WHERE usage IS NOT NULL
""",
    # Each event's real-time stamp (``shared.clock.real_stamp``), as the SSM's: the lab's timeline
    # merges both sides' events of one domain instant in the order they happened.
    """
ALTER TABLE events ADD COLUMN recorded_ns INTEGER
""",
)

_state_decoder = msgspec.json.Decoder(InstanceState)
_usage_decoder = msgspec.json.Decoder(UsageState)
_report_decoder = msgspec.json.Decoder(UsageReport)


@dataclass
class QueueMirror:
    """The rows of one instance's stored queue, in order (report id, row number), and the next row
    number: what a save compares the new queue with, so it writes only the difference.

    Reports join a queue at its end and leave it from its start (sent and acknowledged, or dropped
    past the bound): finding the difference costs the reports that changed, not the queue's length.
    A queue changed otherwise (a report acknowledged out of order) is written again whole.
    """

    rows: collections.deque[tuple[str, int]] = field(default_factory=collections.deque)
    next_seq: int = 0

    def plan(self, queue: Sequence[UsageReport]) -> QueuePlan:
        """What turns the stored queue into ``queue``."""
        rows = self.rows
        gone = 0
        if queue:
            head = queue[0].report_id
            while gone < len(rows) and rows[gone][0] != head:
                gone += 1
        else:
            gone = len(rows)
        kept = len(rows) - gone
        if kept > len(queue) or (kept and queue[kept - 1].report_id != rows[-1][0]):
            return QueuePlan(True, len(rows), list(queue), self.next_seq)
        return QueuePlan(False, gone, list(queue[kept:]), self.next_seq)

    def apply(self, plan: QueuePlan) -> None:
        """The plan was committed."""
        if plan.rewrite:
            self.rows.clear()
        else:
            for _ in range(plan.gone):
                self.rows.popleft()
        self.rows.extend((r.report_id, plan.first_seq + i) for i, r in enumerate(plan.appended))
        self.next_seq = plan.first_seq + len(plan.appended)


@dataclass(frozen=True, slots=True)
class QueuePlan:
    #: delete every stored row first (the queue changed other than at its ends)
    rewrite: bool
    #: how many stored rows left from the start
    gone: int
    #: the reports to append, numbered from ``first_seq``
    appended: list[UsageReport]
    first_seq: int


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
    recorded_ns: int | None = None


class AgentStore:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._c = conn
        self._lock = asyncio.Lock()
        #: Each loaded instance's stored report queue (filled by ``load``).
        self._queues: dict[str, QueueMirror] = {}

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
        try:
            await run_in_connection(conn, _migrate_sync)
        except RuntimeError as exc:
            await conn.close()
            raise RuntimeError(f"{path}: {exc}") from None
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
        async with self._c.execute(
            "SELECT seq, report FROM report_queue WHERE instance = ? ORDER BY seq", (name,)
        ) as cur:
            queued = list(await cur.fetchall())
        queue = [_report_decoder.decode(r[1]) for r in queued]
        rows = collections.deque((report.report_id, int(r[0])) for report, r in zip(queue, queued, strict=True))
        self._queues[name] = QueueMirror(rows, (int(queued[-1][0]) + 1) if queued else 0)
        usage = _usage_decoder.decode(row[1]) if row[1] else UsageState()
        usage = msgspec.structs.replace(usage, queue=queue)
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
        """Persist ``state`` (and, when given, the ID key and certificate, and the usage with its
        report queue) in one transaction, with the events (instant, kind, message) that led to it."""
        blob = msgspec.json.encode(state)
        usage_blob = msgspec.json.encode(msgspec.structs.replace(usage, queue=[])) if usage is not None else None
        t = epoch(now)
        stamp = real_stamp()
        rows = [(at, state.name, kind, message, stamp) for at, kind, message in events]
        mirror = self._queues.get(state.name)
        plan: QueuePlan | None = None
        if usage is not None and mirror is None:  # not loaded by this store: write it whole
            mirror = self._queues[state.name] = QueueMirror()
            plan = QueuePlan(True, 0, list(usage.queue), 0)
        elif usage is not None and mirror is not None:
            plan = mirror.plan(usage.queue)

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
                c.executemany(
                    "INSERT INTO events (at, instance, kind, message, recorded_ns) VALUES (?, ?, ?, ?, ?)", rows
                )
            if plan is not None and mirror is not None:
                _write_queue(c, state.name, mirror, plan)

        async with self._lock:
            await run_in_connection(self._c, lambda c: transaction(c, body))
        if plan is not None and mirror is not None:
            mirror.apply(plan)  # once committed: a failed save leaves the mirror as the file is

    async def events(self, *, limit: int = 100, instance: str | None = None) -> list[AgentEvent]:
        sql = "SELECT at, instance, kind, message, recorded_ns FROM events"
        args: tuple[object, ...] = ()
        if instance:
            sql += " WHERE instance = ?"
            args = (instance,)
        sql += " ORDER BY at DESC, id DESC LIMIT ?"
        async with self._c.execute(sql, (*args, limit)) as cur:
            rows = await cur.fetchall()
        return [AgentEvent(r[0], r[1], r[2], r[3], r[4]) for r in reversed(list(rows))]

    async def backup_to(self, target: Path) -> None:
        """A consistent copy of the agent's database (SQLite's backup API), mode 0600."""
        async with self._lock:
            await run_in_connection(self._c, lambda raw: sqlite.backup(raw, target))

    async def restore_from(self, source: Path) -> None:
        def copy(raw: sqlite3.Connection) -> None:
            sqlite.restore(raw, source)
            _migrate_sync(raw)  # a snapshot made by an older smart-agent

        async with self._lock:
            await run_in_connection(self._c, copy)
            self._queues.clear()  # the instances are loaded again

    async def reset(self) -> int:
        """Forget every instance and event (keep the clock): the next start is a first start."""

        def wipe(raw: sqlite3.Connection) -> int:
            tables = ("report_queue", "instances", "events")
            return sum(raw.execute(f"DELETE FROM {t}").rowcount for t in tables)  # noqa: S608

        async with self._lock:
            removed = await run_in_connection(self._c, lambda raw: transaction(raw, wipe))
            self._queues.clear()
            return removed

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


def _write_queue(c: sqlite3.Connection, name: str, mirror: QueueMirror, plan: QueuePlan) -> None:
    """The queue's difference (``QueueMirror.plan``) as one delete and the inserts."""
    if plan.rewrite:
        c.execute("DELETE FROM report_queue WHERE instance = ?", (name,))
    elif plan.gone:
        # The rows left from the start: every row before the first one kept.
        first_kept = mirror.rows[plan.gone][1] if plan.gone < len(mirror.rows) else plan.first_seq
        c.execute("DELETE FROM report_queue WHERE instance = ? AND seq < ?", (name, first_kept))
    if plan.appended:
        c.executemany(
            "INSERT INTO report_queue (instance, seq, report_id, report) VALUES (?, ?, ?, ?)",
            [
                (name, plan.first_seq + i, r.report_id, msgspec.json.encode(r).decode())
                for i, r in enumerate(plan.appended)
            ],
        )


def _migrate_sync(raw: sqlite3.Connection) -> None:
    """Bring the database to this smart-agent's schema (``PRAGMA user_version`` counts the scripts).

    Raises:
        RuntimeError: the database was written by a newer smart-agent.
    """
    version = int(raw.execute("PRAGMA user_version").fetchone()[0])
    if version > len(SCHEMA):
        raise RuntimeError(f"the database has schema {version}, newer than this smart-agent ({len(SCHEMA)})")
    for n, script in enumerate(SCHEMA[version:], start=version + 1):
        raw.execute("BEGIN IMMEDIATE")
        try:
            for stmt in script.split(";\n"):
                if stmt.strip():
                    raw.execute(stmt)
            raw.execute(f"PRAGMA user_version = {n}")
        except BaseException:
            raw.execute("ROLLBACK")
            raise
        raw.execute("COMMIT")
