"""The store's unit-of-work API: one read snapshot, one committed write, a refused write that
changes nothing, and a database of an older schema brought up to date without losing its books."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.store import Store, UnitOfWork
from server.store.schema import MIGRATIONS
from shared.errors import Conflict

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


async def test_a_write_is_committed_before_it_returns_and_a_failed_one_leaves_nothing(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "ssm.db")
    try:
        await store.write(lambda uow: uow.settings.set("k", "1"))
        raw = sqlite3.connect(tmp_path / "ssm.db")  # another connection sees it at once
        assert raw.execute("SELECT value FROM settings WHERE key = 'k'").fetchone() == ("1",)

        def half(uow: UnitOfWork) -> None:
            uow.settings.set("k", "2")
            raise Conflict("no", code="refused")

        with pytest.raises(Conflict):
            await store.write(half)
        assert await store.read(lambda uow: uow.settings.get("k")) == "1"
        raw.close()
    finally:
        await store.close()


async def test_bodies_queued_together_commit_together_and_fail_alone(tmp_path: Path) -> None:
    import asyncio

    store = await Store.open(tmp_path / "ssm.db")
    try:

        def bad(uow: UnitOfWork) -> None:
            uow.settings.set("bad", "x")
            raise ValueError("boom")

        results = await asyncio.gather(
            *(store.write(lambda uow, n=n: uow.settings.set(f"k{n}", str(n))) for n in range(20)),  # type: ignore[misc]
            store.write(bad),
            return_exceptions=True,
        )
        assert isinstance(results[-1], ValueError)
        assert await store.read(lambda uow: [uow.settings.get(f"k{n}") for n in range(20)]) == [
            str(n) for n in range(20)
        ]
        assert await store.read(lambda uow: uow.settings.get("bad")) is None
        assert store.batches < 21  # several bodies shared a commit
    finally:
        await store.close()


async def test_an_older_schema_is_migrated_with_each_pools_actual_usage(tmp_path: Path) -> None:
    """Version 3 adds the pools' actual usage: it is computed from the lines of live instances."""
    db = tmp_path / "old.db"
    raw = sqlite3.connect(db)
    for script in MIGRATIONS[:2]:
        raw.executescript(script)
    raw.execute("PRAGMA user_version = 2")
    raw.execute("INSERT INTO accounts VALUES (1, 'd', 'n', 1, 0)")
    raw.execute("INSERT INTO virtual_accounts VALUES (1, 1, 'DEFAULT', '', 1, 0)")
    raw.execute(
        "INSERT INTO licenses (id, virtual_account_id, name, license_type, usage_mode, tag, quantity, in_use) "
        "VALUES (1, 1, 'Premium Agent', 'Flex', 'Production', 't', 100, 130)"
    )
    for piid, removed in (("a", None), ("b", None), ("gone", 5)):
        raw.execute(
            "INSERT INTO instances (piid, virtual_account_id, name, product, udi_pid, serial_number, hostname, "
            "deployment_type, license_type, usage_mode, export_controlled, public_key, cert_pem, cert_serial, "
            "registered_at, cert_issued_at, cert_expires_at, last_contact_at, removed_at) "
            "VALUES (?, 1, ?, 'Unified CCE', 'UCCE', ?, 'h', 'd', 'Flex', 'Production', 0, x'00', '', '1', "
            "0, 0, 9, 0, ?)",
            (piid, piid, piid, removed),
        )
    raw.executemany(
        "INSERT INTO usage_latest VALUES (?, 't', 1, 900, ?, ?)", [("a", 70, 100), ("b", 20, None), ("gone", 99, None)]
    )
    raw.commit()
    raw.close()

    store = await Store.open(db)
    try:
        pool = await store.read(lambda uow: uow.pools.get(1))
        assert pool is not None
        assert (pool.pool.in_use, pool.pool.actual) == (130, 90)
    finally:
        await store.close()
    assert sqlite3.connect(db).execute("PRAGMA user_version").fetchone() == (len(MIGRATIONS),)


async def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    from server.store import StoreError

    db = tmp_path / "new.db"
    raw = sqlite3.connect(db)
    raw.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    raw.close()
    with pytest.raises(StoreError, match="newer"):
        await Store.open(db)


async def test_version_6_dates_each_purchased_pool_from_its_virtual_account(tmp_path: Path) -> None:
    """Version 6 adds the pools' first purchase (a pool bought before it dates from its virtual
    account; one with nothing purchased has none yet) and the reservations' kind (SPECIFIC)."""
    db = tmp_path / "v5.db"
    raw = sqlite3.connect(db)
    for script in MIGRATIONS[:5]:
        raw.executescript(script)
    raw.execute("PRAGMA user_version = 5")
    raw.execute("INSERT INTO accounts VALUES (1, 'd', 'n', 1, 0)")
    raw.execute("INSERT INTO virtual_accounts VALUES (1, 1, 'DEFAULT', '', 1, 1234)")
    raw.executemany(
        "INSERT INTO licenses (id, virtual_account_id, name, license_type, usage_mode, tag, quantity) "
        "VALUES (?, 1, 'Premium Agent', 'Flex', 'Production', ?, ?)",
        [(1, "bought", 10), (2, "used-only", 0)],
    )
    raw.execute(
        "INSERT INTO reservations (virtual_account_id, request_code, udi_pid, serial_number, licenses, "
        "authorization_code, confirmation_code, return_code, status, created_at) "
        "VALUES (1, 'r', 'UCCE', 'SN', '[]', 'a', 'c', 'x', 'Reserved', 0)"
    )
    raw.commit()
    raw.close()

    store = await Store.open(db)
    try:
        pools = {p.tag: p.purchased_at for p in await store.read(lambda uow: uow.pools.of(1))}
        assert pools == {"bought": 1234, "used-only": None}
        found = await store.read(lambda uow: uow.reservations.active("UCCE", "SN"))
        assert found is not None and found.kind == "SPECIFIC" and not found.universal
    finally:
        await store.close()
