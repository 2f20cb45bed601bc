"""What every repository stands on: one ``sqlite3.Connection`` and four ways to run a statement.

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

    def _exec(self, sql: str, args: Sequence[object] = ()) -> int:
        """Run a statement; the new row's id (0 when none)."""
        return self._c.execute(sql, args).lastrowid or 0

    def _count(self, sql: str, args: Sequence[object] = ()) -> int:
        """Run a statement; how many rows it changed."""
        return self._c.execute(sql, args).rowcount

    def _many(self, sql: str, rows: Sequence[Sequence[object]]) -> None:
        self._c.executemany(sql, rows)


def marks(n: int) -> str:
    """``?, ?, ?`` for an ``IN (...)`` of ``n`` values."""
    return ", ".join("?" * n)
