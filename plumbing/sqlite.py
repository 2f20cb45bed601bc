"""Running a whole transaction in an aiosqlite connection's own thread, in one hop.

aiosqlite executes each statement in its connection's thread and hands the result back to the
event loop: a transaction of a dozen statements pays a dozen thread hand-offs (about 0.2 ms each
on this kind of machine), far more than SQLite's own work. ``run_in_connection`` queues one
function that receives the underlying ``sqlite3.Connection`` and runs every statement there.

It relies on aiosqlite's ``Connection._execute`` (its statement queue), stable across releases;
``tests/test_sqlite_hop.py`` fails loudly if that ever changes.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import aiosqlite

T = TypeVar("T")


async def run_in_connection(conn: aiosqlite.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """Run ``fn(sqlite3_connection)`` in ``conn``'s thread and return its result (or raise)."""
    raw: sqlite3.Connection = conn._conn
    result: T = await conn._execute(fn, raw)  # type: ignore[no-untyped-call]
    return result


def transaction(raw: sqlite3.Connection, body: Callable[[sqlite3.Connection], T]) -> T:
    """``BEGIN IMMEDIATE``, ``body``, ``COMMIT`` (or ``ROLLBACK`` and re-raise), in this thread."""
    raw.execute("BEGIN IMMEDIATE")
    try:
        result = body(raw)
    except BaseException:
        raw.execute("ROLLBACK")
        raise
    raw.execute("COMMIT")
    return result


def backup(raw: sqlite3.Connection, target: Path) -> None:
    """A consistent copy of the database (SQLite's backup API) into ``target``, mode 0600."""
    target.unlink(missing_ok=True)
    os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))
    dest = sqlite3.connect(target)
    try:
        raw.backup(dest)
    finally:
        dest.close()


def restore(raw: sqlite3.Connection, source: Path, *, schema: int | None = None) -> None:
    """Replace the whole database with a backup, while connected. With ``schema``, refuse a backup
    of another schema version (``ValueError`` naming both)."""
    src = sqlite3.connect(source)
    try:
        if schema is not None:
            found = src.execute("PRAGMA user_version").fetchone()[0]
            if found != schema:
                raise ValueError(f"the snapshot has schema {found}, this database {schema}")
        src.backup(raw)
    finally:
        src.close()
