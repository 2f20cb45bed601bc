"""What every repository stands on: one connection and five ways to run a statement.

The connection is ``sqlite3``'s or ``server.store.pg.Connection`` (psycopg's, taking the same SQL):
statements are written once, in SQL both engines accept (``server.store.dialect``).

Repositories are synchronous: they run inside a unit of work in the connection's own thread
(``Store.read`` / ``Store.write``), so a whole transaction costs one hand-off from the event loop.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence


class Repository:
    """Base of the repositories: the SQL helpers, nothing else."""

    __slots__ = ("_c",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._c = conn

    def _one(self, sql: str, args: Sequence[object] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._c.execute(sql, args).fetchone()
        return row

    def _all(self, sql: str, args: Sequence[object] = ()) -> list[sqlite3.Row]:
        return self._c.execute(sql, args).fetchall()

    def _exec(self, sql: str, args: Sequence[object] = ()) -> None:
        self._c.execute(sql, args)

    def _insert(self, sql: str, args: Sequence[object] = ()) -> int:
        """Run an INSERT into a table keyed by ``id``; the new row's id."""
        row = self._c.execute(sql + " RETURNING id", args).fetchone()
        assert row is not None
        return int(row[0])

    def _count(self, sql: str, args: Sequence[object] = ()) -> int:
        """Run a statement; how many rows it changed."""
        return self._c.execute(sql, args).rowcount

    def _many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        self._c.executemany(sql, rows)


#: ``LIMIT`` when no limit is asked for (SQLite's -1 is an error to PostgreSQL, and NULL to SQLite).
NO_LIMIT = 2**62


def marks(n: int) -> str:
    """``?, ?, ?`` for an ``IN (...)`` of ``n`` values."""
    return ", ".join("?" * n)
