"""The one-hop transaction helper: it runs in aiosqlite's own thread (so it relies on aiosqlite's
private statement queue: this test fails loudly if a release changes it) and rolls back on error."""

from __future__ import annotations

import threading
from pathlib import Path

import aiosqlite
import pytest

from plumbing.sqlite import run_in_connection, transaction


async def test_runs_in_the_connection_thread_and_commits(tmp_path: Path) -> None:
    """The function runs in the connection's thread, not the event loop's, and its writes commit."""
    async with aiosqlite.connect(tmp_path / "t.db", isolation_level=None) as conn:
        await conn.execute("CREATE TABLE t (x INTEGER)")
        loop_thread = threading.get_ident()

        def body(c):  # type: ignore[no-untyped-def]
            c.execute("INSERT INTO t VALUES (1)")
            return threading.get_ident()

        ran_in = await run_in_connection(conn, lambda c: transaction(c, body))
        assert ran_in != loop_thread
        assert await conn.execute_fetchall("SELECT x FROM t") == [(1,)]


async def test_an_error_rolls_back(tmp_path: Path) -> None:
    """An exception in the body rolls the whole transaction back and reaches the caller."""
    async with aiosqlite.connect(tmp_path / "t.db", isolation_level=None) as conn:
        await conn.execute("CREATE TABLE t (x INTEGER)")

        def body(c):  # type: ignore[no-untyped-def]
            c.execute("INSERT INTO t VALUES (1)")
            raise ValueError("boom")

        with pytest.raises(ValueError, match="boom"):
            await run_in_connection(conn, lambda c: transaction(c, body))
        assert await conn.execute_fetchall("SELECT x FROM t") == []
