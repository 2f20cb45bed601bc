"""The agent's report queue on disk: one row per report, a save writes only what joined or left the
queue (issue 16, item 18: with the network cut, each interval rewrote the whole queue), and an
agent database of the schema before keeps its queue."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from agent.store import SCHEMA, AgentStore
from shared.lifecycle import InstanceState, new_instance
from shared.messages import Usage, UsageReport
from shared.states import LicenseType, UsageMode
from shared.usage import UsageState

NOW = datetime(2027, 1, 4, tzinfo=UTC)


def report(n: int) -> UsageReport:
    end = 1_800_000_000 + 900 * n
    return UsageReport(
        report_id=f"p-1:{end}", interval_start=end - 900, interval_end=end, usage=[Usage(tag="t", peak=n)]
    )


def rows(path: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(path) as db:
        return [(int(s), str(r)) for s, r in db.execute("SELECT seq, report_id FROM report_queue ORDER BY seq")]


def state() -> InstanceState:
    return new_instance(
        name="ucce-1",
        product="Unified CCE",
        udi_pid="UCCE",
        serial_number="FCH0000",
        hostname="ucce-1.lab.local",
        deployment_type="Unified CCE 2000 Agents",
        license_type=LicenseType.FLEX,
        usage_mode=UsageMode.PRODUCTION,
        now=NOW,
    )


async def test_a_save_appends_and_deletes_only_what_changed(tmp_path: Path) -> None:
    """Rows already stored keep their row numbers (they are not written again) while reports join
    at the end and leave from the start; the instance's usage blob no longer carries the queue."""
    path = tmp_path / "agent.db"
    store = await AgentStore.open(path)
    s = state()
    try:
        assert await store.load("ucce-1") is None
        queue = [report(n) for n in range(50)]
        await store.save(s, NOW, usage=UsageState(current={"Premium Agent": 5}, queue=queue))
        first = rows(path)
        assert [r for _, r in first] == [q.report_id for q in queue]
        queue = [*queue[3:], report(50), report(51)]  # three sent, two closed
        await store.save(s, NOW, usage=UsageState(current={"Premium Agent": 5}, queue=queue))
        second = rows(path)
        assert second[:47] == first[3:]  # the same rows, untouched
        assert [r for _, r in second] == [q.report_id for q in queue]
        with sqlite3.connect(path) as db:
            blob = db.execute("SELECT usage FROM instances").fetchone()[0]
        assert msgspec.json.decode(blob)["queue"] == []
        await store.save(s, NOW, usage=UsageState(queue=[queue[0], *queue[2:]]))
        assert [r for _, r in rows(path)] == [queue[0].report_id] + [q.report_id for q in queue[2:]]
        await store.save(s, NOW, usage=UsageState(queue=[]))
        assert rows(path) == []
        await store.save(s, NOW, usage=UsageState(queue=queue[:2]))
    finally:
        await store.close()
    again = await AgentStore.open(path)
    try:
        stored = await again.load("ucce-1")
        assert stored is not None and stored.usage.queue == queue[:2]
        await again.save(s, NOW, usage=UsageState(queue=[*queue[1:2], report(99)]))
        assert [r for _, r in rows(path)] == [queue[1].report_id, report(99).report_id]
    finally:
        await again.close()


async def test_a_database_of_the_schema_before_keeps_its_queue(tmp_path: Path) -> None:
    """The migration moves each instance's queued reports out of its usage blob, in order."""
    path = tmp_path / "agent.db"
    queue = [report(n) for n in range(3)]
    usage = UsageState(current={"Premium Agent": 7}, queue=queue, dropped=2)
    with sqlite3.connect(path) as db:
        db.executescript(SCHEMA[0])
        db.execute(
            "INSERT INTO instances (name, state, usage, updated_at) VALUES (?, ?, ?, 0)",
            ("ucce-1", msgspec.json.encode(state()), msgspec.json.encode(usage)),
        )
        db.execute("PRAGMA user_version = 1")
    store = await AgentStore.open(path)
    try:
        stored = await store.load("ucce-1")
        assert stored is not None
        assert stored.usage == usage
        assert [r for _, r in rows(path)] == [q.report_id for q in queue]
    finally:
        await store.close()


async def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {len(SCHEMA) + 1}")
    with pytest.raises(RuntimeError, match="newer than this smart-agent"):
        await AgentStore.open(path)
