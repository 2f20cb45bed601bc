"""Usage: each instance's latest line per license (what the pools add up) and every report
stored as received (idempotent by report id)."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from server.store.repos.base import Repository, marks
from server.store.rows import Latest, StoredReport


def _latest(r: sqlite3.Row) -> Latest:
    return Latest(r["piid"], r["tag"], r["virtual_account_id"], r["interval_end"], r["peak"], r["locked"])


class Usage(Repository):
    __slots__ = ()

    def latest(self, piid: str) -> list[Latest]:
        return [_latest(r) for r in self._all("SELECT * FROM usage_latest WHERE piid = ? ORDER BY tag", (piid,))]

    def in_account(self, va_id: int) -> list[Latest]:
        """The latest lines of every instance of a virtual account."""
        sql = "SELECT * FROM usage_latest WHERE virtual_account_id = ? ORDER BY piid, tag"
        return [_latest(r) for r in self._all(sql, (va_id,))]

    def save(self, rows: Sequence[Latest]) -> None:
        self._many(
            "INSERT INTO usage_latest (piid, tag, virtual_account_id, interval_end, peak, locked) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (piid, tag) DO UPDATE SET virtual_account_id = excluded."
            "virtual_account_id, interval_end = excluded.interval_end, peak = excluded.peak, locked = excluded.locked",
            [(x.piid, x.tag, x.virtual_account_id, x.interval_end, x.peak, x.locked) for x in rows],
        )

    def drop(self, piid: str) -> None:
        self._exec("DELETE FROM usage_latest WHERE piid = ?", (piid,))

    def lock(self, va_id: int, tag: str) -> None:
        """Out of Compliance: each instance's reported quantity is locked at its current peak."""
        self._exec(
            "UPDATE usage_latest "
            "SET locked = CASE WHEN peak > COALESCE(locked, 0) THEN peak ELSE COALESCE(locked, 0) END "
            "WHERE virtual_account_id = ? AND tag = ?",
            (va_id, tag),
        )

    def unlock(self, va_id: int, tag: str) -> None:
        """Back In Compliance: the locks are released."""
        self._exec("UPDATE usage_latest SET locked = NULL WHERE virtual_account_id = ? AND tag = ?", (va_id, tag))

    # -- reports as received --------------------------------------------------------------------------
    def seen(self, report_ids: Sequence[str]) -> dict[str, str]:
        """Which of these report ids are stored, and for which instance."""
        if not report_ids:
            return {}
        rows = self._all(
            f"SELECT report_id, piid FROM usage_reports WHERE report_id IN ({marks(len(report_ids))})",  # noqa: S608
            list(report_ids),
        )
        return {r[0]: r[1] for r in rows}

    def store(self, reports: Sequence[StoredReport]) -> None:
        self._many(
            "INSERT INTO usage_reports (report_id, piid, interval_start, interval_end, received_at, lines) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [(r.report_id, r.piid, r.interval_start, r.interval_end, r.received_at, r.lines) for r in reports],
        )

    def reports(self, piid: str, *, limit: int = 100) -> list[StoredReport]:
        rows = self._all("SELECT * FROM usage_reports WHERE piid = ? ORDER BY interval_end DESC LIMIT ?", (piid, limit))
        return [StoredReport(**dict(r)) for r in rows]

    def between(self, start: int, end: int, va_id: int | None, *, limit: int) -> list[tuple[StoredReport, str, int]]:
        """Reports of intervals starting in ``[start, end)`` (of one virtual account's instances, or
        all), with each instance's name and virtual account id; at most ``limit``, oldest first."""
        if va_id is None:
            rows = self._all(_BETWEEN, (start, end, limit))
        else:
            rows = self._all(_BETWEEN_VA, (start, end, limit, va_id))
        return [(StoredReport(r[0], r[1], r[2], r[3], r[4], r[5]), r[6], r[7]) for r in rows]


#: The period by the index on interval_end (an interval starting at or after ?1 ends after it).
_BETWEEN = (
    "SELECT r.report_id, r.piid, r.interval_start, r.interval_end, r.received_at, r.lines, i.name, "
    "i.virtual_account_id FROM usage_reports r JOIN instances i ON i.piid = r.piid "
    "WHERE r.interval_end > ?1 AND r.interval_start >= ?1 AND r.interval_start < ?2 "
    "ORDER BY r.interval_start, r.piid LIMIT ?3"
)
_BETWEEN_VA = (
    "SELECT r.report_id, r.piid, r.interval_start, r.interval_end, r.received_at, r.lines, i.name, "
    "i.virtual_account_id FROM usage_reports r JOIN instances i ON i.piid = r.piid "
    "WHERE r.interval_end > ?1 AND r.interval_start >= ?1 AND r.interval_start < ?2 AND i.virtual_account_id = ?4 "
    "ORDER BY r.interval_start, r.piid LIMIT ?3"
)
