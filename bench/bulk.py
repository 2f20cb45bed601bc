"""A store of N registered product instances, built directly (registering a million instances
through the protocol would take the better part of an hour): the real schema, realistic rows."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from pathlib import Path

from server.accounts import seed_lab
from server.store import Store
from shared.catalog import LicenseKey
from shared.clock import utc
from shared.states import LicenseType, UsageMode

PREMIUM = LicenseKey("Premium Agent", LicenseType.FLEX, UsageMode.PRODUCTION).tag


async def _schema(db: Path, now: int) -> None:
    store = await Store.open(db)
    await seed_lab(store, utc(now))
    await store.close()


def populate(db: Path, count: int, *, batch: int = 50_000) -> None:
    now = int(time.time())
    asyncio.run(_schema(db, now))
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA synchronous = OFF")
    cert = "-----BEGIN CERTIFICATE-----\nsynthetic bench row\n-----END CERTIFICATE-----\n"
    key = bytes(91)
    for start in range(0, count, batch):
        rows = []
        usage = []
        for i in range(start, min(count, start + batch)):
            piid = str(uuid.UUID(int=i + 1))
            at = now - (count - i)
            rows.append(
                (
                    piid,
                    1,
                    f"inst-{i}",
                    "CVP",
                    "CVP",
                    f"BLK{i:010d}",
                    f"inst-{i}.bench",
                    "CVP",
                    "Flex",
                    "Production",
                    "",
                    0,
                    None,
                    key,
                    cert,
                    format(i, "x"),
                    at,
                    at,
                    at + 365 * 86400,
                    at,
                    at,
                    "Authorized",
                    at + 31 * 86400,
                )
            )
            usage.append((piid, PREMIUM, 1, at, i % 3, None))
        conn.executemany(
            "INSERT INTO instances (piid, virtual_account_id, name, product, udi_pid, serial_number, hostname, "
            "deployment_type, license_type, usage_mode, software_version, export_controlled, token_id, public_key, "
            "cert_pem, cert_serial, registered_at, cert_issued_at, cert_expires_at, authorized_at, last_contact_at, "
            "status, next_check_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        conn.executemany(
            "INSERT INTO usage_latest (piid, tag, virtual_account_id, interval_end, peak, locked) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            usage,
        )
        conn.commit()
    total = conn.execute("SELECT COALESCE(SUM(peak), 0) FROM usage_latest WHERE tag = ?", (PREMIUM,)).fetchone()[0]
    conn.execute(
        "UPDATE licenses SET in_use = ?1, actual = ?1 WHERE tag = ?2 AND virtual_account_id = 1", (total, PREMIUM)
    )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
