"""Several workers on one database (two ``Store`` instances, each with its own connections, as two
``ssm-server`` processes have): a pool's count and replay protection stay exact under concurrent
writes; the schema is migrated once when workers start together; snapshots round-trip on both
engines; and the dialect seam's rewrites."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from plumbing import pgcluster
from server.store import Store, UnitOfWork
from server.store.dialect import ddl_to_pg, pg_args, to_pg
from server.store.location import PgUrl, db_location, redacted
from server.store.schema import MIGRATIONS
from shared.errors import Conflict
from shared.states import LicenseType, UsageMode

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
TAG = "regid.premium"


def _setup(uow: UnitOfWork) -> int:
    account = uow.accounts.add(domain="d.example", name="d", export_control_allowed=True, now=NOW)
    va = uow.accounts.add_virtual_account(account_id=account, name="DEFAULT", description="", is_default=True, now=NOW)
    uow.pools.purchase(
        va_id=va, name="Premium", license_type=LicenseType.FLEX, usage_mode=UsageMode.PRODUCTION, tag=TAG, quantity=5
    )
    return va


def _take_one(va: int):  # type: ignore[no-untyped-def]
    """What a report's decision does to a pool: read its books, decide, write the new state."""

    def body(uow: UnitOfWork) -> int:
        pool = uow.pools.books_of(va)[TAG]
        state = dataclasses.replace(pool.state, in_use=pool.state.in_use + 1)
        uow.pools.save_state(va, TAG, state, sample=False)
        return state.in_use

    return body


async def test_two_workers_writing_one_pool_lose_no_update(ssm_db: Path | PgUrl) -> None:
    first = await Store.open(ssm_db)
    second = await Store.open(ssm_db)
    try:
        va = await first.write(_setup)
        writes = [store.write(_take_one(va)) for _ in range(40) for store in (first, second)]
        seen = await asyncio.gather(*writes)
        assert sorted(seen) == list(range(1, 81))  # every decision saw the one before it
        pool = await second.read(lambda uow: uow.pools.books_of(va)[TAG])
        assert pool.state.in_use == 80
    finally:
        await first.close()
        await second.close()


async def test_a_nonce_is_accepted_by_one_worker_only(ssm_db: Path | PgUrl) -> None:
    first = await Store.open(ssm_db)
    second = await Store.open(ssm_db)
    try:
        answers = await asyncio.gather(
            *(
                store.write(lambda uow, n=n: uow.instances.remember_nonce("piid-1", f"nonce-{n}", 100))
                for n in range(20)
                for store in (first, second)
            )
        )
        assert sorted(answers) == [False] * 20 + [True] * 20  # each nonce once, whoever came first
    finally:
        await first.close()
        await second.close()


async def test_a_snapshot_brings_every_row_back_and_new_rows_get_new_ids(ssm_db: Path | PgUrl, tmp_path: Path) -> None:
    store = await Store.open(ssm_db)
    try:
        va = await store.write(_setup)
        await store.write(lambda uow: uow.settings.set("k", "before"))
        await store.backup_to(tmp_path / "snap")
        await store.write(lambda uow: uow.settings.set("k", "after"))
        await store.write(lambda uow: uow.events.add(at=1, kind="x", message="m"))
        await store.restore_from(tmp_path / "snap")
        assert await store.read(lambda uow: uow.settings.get("k")) == "before"
        assert await store.read(lambda uow: uow.events.recent()) == []
        again = await store.write(
            lambda uow: uow.accounts.add_virtual_account(
                account_id=1, name="second", description="", is_default=False, now=NOW
            )
        )
        assert again == va + 1
    finally:
        await store.close()


async def test_postgresql_refuses_a_sqlite_snapshot_and_changes_nothing(
    pg_cluster: pgcluster.Cluster, tmp_path: Path
) -> None:
    sqlite3.connect(tmp_path / "other.db").close()
    store = await Store.open(await _fresh(pg_cluster, "refuse"))
    try:
        await store.write(lambda uow: uow.settings.set("k", "kept"))
        with pytest.raises(Conflict) as refused:
            await store.restore_from(tmp_path / "other.db")
        assert refused.value.code == "snapshot_schema_mismatch"
        assert await store.read(lambda uow: uow.settings.get("k")) == "kept"
    finally:
        await store.close()


async def test_workers_starting_together_migrate_once(pg_cluster: pgcluster.Cluster) -> None:
    url = await _fresh(pg_cluster, "together")
    stores = await asyncio.gather(*(Store.open(url) for _ in range(3)))
    for store in stores:
        await store.close()
    with psycopg.connect(url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == list(range(1, len(MIGRATIONS) + 1))


async def _fresh(cluster: pgcluster.Cluster, schema: str) -> PgUrl:
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    return PgUrl(f"{cluster.url()}?options=-csearch_path%3D{schema}")


# -- the dialect seam -------------------------------------------------------------------------------
def test_placeholders_in_order_and_by_number() -> None:
    assert to_pg("SELECT * FROM t WHERE a = ? AND b = ?") == ("SELECT * FROM t WHERE a = %s AND b = %s", False)
    sql, numbered = to_pg("SELECT * FROM t WHERE (CAST(?1 AS INTEGER) IS NULL OR a = ?1) LIMIT ?2")
    assert sql == "SELECT * FROM t WHERE (CAST(%(p1)s AS BIGINT) IS NULL OR a = %(p1)s) LIMIT %(p2)s"
    assert numbered and pg_args(numbered, ("x", 5)) == {"p1": "x", "p2": 5}


def test_literals_and_percent_signs_are_left_as_written() -> None:
    assert to_pg("SELECT '?', a FROM t WHERE b LIKE '%x' AND c = ?")[0] == (
        "SELECT '?', a FROM t WHERE b LIKE '%x' AND c = %s"
    )
    assert to_pg("SELECT a % 2 FROM t")[0] == "SELECT a %% 2 FROM t"
    with pytest.raises(ValueError, match="mixes"):
        to_pg("SELECT ?1, ?")


def test_the_schema_in_postgresql_type_names() -> None:
    ddl = ddl_to_pg("CREATE TABLE x (\n    id INTEGER PRIMARY KEY,\n    k BLOB NOT NULL, n INTEGER\n) WITHOUT ROWID")
    assert ddl == (
        "CREATE TABLE x (\n    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,\n"
        "    k BYTEA NOT NULL, n BIGINT\n)"
    )


def test_a_database_password_is_never_shown() -> None:
    assert redacted("postgresql://ssm:s3cret@db.example:5432/ssm") == "postgresql://ssm:***@db.example:5432/ssm"
    assert redacted("postgresql://ssm@db.example:5432/ssm") == "postgresql://ssm@db.example:5432/ssm"
    assert redacted(Path("var/ssm/ssm.db")) == "var/ssm/ssm.db"


def test_db_option_tells_a_file_from_a_database() -> None:
    assert db_location("var/ssm/ssm.db") == Path("var/ssm/ssm.db")
    url = db_location("postgresql://ssm@db.example/ssm")
    assert isinstance(url, PgUrl) and url == "postgresql://ssm@db.example/ssm" and url.parent == Path("var/ssm")
