"""License pools: the purchased, reserved and in-use quantities of each license of a virtual
account, with the pool's compliance state (``shared.compliance.PoolState``)."""

from __future__ import annotations

import sqlite3

from server.store.repos.base import Repository
from server.store.rows import License, PoolSample
from shared import ledger
from shared.compliance import PoolState
from shared.states import LicenseType, UsageMode


def _license(r: sqlite3.Row) -> License:
    return License(
        r["id"],
        r["virtual_account_id"],
        r["name"],
        LicenseType(r["license_type"]),
        UsageMode(r["usage_mode"]),
        r["tag"],
        r["quantity"],
        PoolState(
            in_use=r["in_use"],
            actual=r["actual"],
            last_interval=r["last_interval"],
            interval_over=bool(r["interval_over"]),
            count_before=r["count_before"],
            ooc_since=r["ooc_since"],
        ),
        bool(r["enforcement_notified"]),
        r["reserved"],
        r["purchased_at"],
    )


#: Stored text -> enum member by a dict lookup (an Enum call costs a report's path about a microsecond each).
_TYPES = {str(t): t for t in LicenseType}
_MODES = {str(m): m for m in UsageMode}


class Pools(Repository):
    __slots__ = ()

    def of(self, va_id: int) -> list[License]:
        """Every pool of a virtual account."""
        rows = self._all(
            "SELECT * FROM licenses WHERE virtual_account_id = ? ORDER BY license_type, usage_mode, name", (va_id,)
        )
        return [_license(r) for r in rows]

    def books_of(self, va_id: int) -> dict[str, ledger.Pool]:
        """Every pool of a virtual account as the ledger reads it, by tag (the report path: one
        query, one object per pool)."""
        rows = self._c.execute(
            "SELECT tag, name, license_type, usage_mode, quantity, reserved, in_use, actual, last_interval, "
            "interval_over, count_before, ooc_since FROM licenses WHERE virtual_account_id = ? "
            "ORDER BY license_type, usage_mode, name",
            (va_id,),
        ).fetchall()
        return {
            r[0]: ledger.Pool(
                r[0],
                r[1],
                _TYPES[r[2]],
                _MODES[r[3]],
                r[4],
                r[5],
                PoolState(r[6], r[7], r[8], bool(r[9]), r[10], r[11]),
                exists=True,
            )
            for r in rows
        }

    def all(self) -> list[License]:
        rows = self._all("SELECT * FROM licenses ORDER BY virtual_account_id, license_type, usage_mode, name")
        return [_license(r) for r in rows]

    def get(self, license_id: int) -> License | None:
        row = self._one("SELECT * FROM licenses WHERE id = ?", (license_id,))
        return _license(row) if row else None

    def by_tag(self, va_id: int, tag: str) -> License | None:
        row = self._one("SELECT * FROM licenses WHERE virtual_account_id = ? AND tag = ?", (va_id, tag))
        return _license(row) if row else None

    def ensure(self, *, va_id: int, name: str, license_type: LicenseType, usage_mode: UsageMode, tag: str) -> None:
        """The pool of ``tag`` in a virtual account, created with 0 purchased if it has none."""
        self._exec(
            "INSERT INTO licenses (virtual_account_id, name, license_type, usage_mode, tag, quantity) "
            "VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (virtual_account_id, tag) DO NOTHING",
            (va_id, name, str(license_type), str(usage_mode), tag),
        )

    def purchase(
        self,
        *,
        va_id: int,
        name: str,
        license_type: LicenseType,
        usage_mode: UsageMode,
        tag: str,
        quantity: int,
        at: int | None = None,
    ) -> int:
        """Add purchased licenses (creating the pool) at domain instant ``at``; the pool's new quantity."""
        self._exec(
            "INSERT INTO licenses (virtual_account_id, name, license_type, usage_mode, tag, quantity, purchased_at) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, CASE WHEN ?6 > 0 THEN CAST(?7 AS INTEGER) END) "
            "ON CONFLICT (virtual_account_id, tag) "
            "DO UPDATE SET quantity = licenses.quantity + excluded.quantity, "
            "purchased_at = COALESCE(licenses.purchased_at, excluded.purchased_at)",
            (va_id, name, str(license_type), str(usage_mode), tag, quantity, at),
        )
        row = self._one("SELECT quantity FROM licenses WHERE virtual_account_id = ? AND tag = ?", (va_id, tag))
        assert row is not None
        return int(row[0])

    def set_quantity(
        self,
        *,
        va_id: int,
        name: str,
        license_type: LicenseType,
        usage_mode: UsageMode,
        tag: str,
        quantity: int,
        at: int | None = None,
    ) -> None:
        """Set (not add) the purchased quantity of a pool, creating it if needed (a re-judged account);
        its first purchase dates from ``at``."""
        self.ensure(va_id=va_id, name=name, license_type=license_type, usage_mode=usage_mode, tag=tag)
        self._exec(
            "UPDATE licenses SET quantity = ?1, "
            "purchased_at = COALESCE(purchased_at, CASE WHEN ?1 > 0 THEN CAST(?4 AS INTEGER) END) "
            "WHERE virtual_account_id = ?2 AND tag = ?3",
            (quantity, va_id, tag, at),
        )

    def reserve(self, license_id: int, delta: int) -> None:
        """Hold (positive) or give back (negative) licenses for a Specific License Reservation."""
        self._exec("UPDATE licenses SET reserved = reserved + ? WHERE id = ?", (delta, license_id))

    def save_state(self, va_id: int, tag: str, pool: PoolState, *, sample: bool = True) -> None:
        """The pool's compliance state after a decision (Enforcement is notified again after a new
        Out-of-Compliance period), and a sample of its history when its quantities changed."""
        self._exec(
            "UPDATE licenses SET in_use = ?, actual = ?, last_interval = ?, interval_over = ?, count_before = ?, "
            "ooc_since = ?, "
            "enforcement_notified = CASE WHEN CAST(? AS INTEGER) IS NULL THEN 0 ELSE enforcement_notified END "
            "WHERE virtual_account_id = ? AND tag = ?",
            (
                pool.in_use,
                pool.actual,
                pool.last_interval,
                int(pool.interval_over),
                pool.count_before,
                pool.ooc_since,
                pool.ooc_since,
                va_id,
                tag,
            ),
        )
        if sample:  # (a report's decision sampled the pool after each interval already)
            self.sample(va_id, tag)

    # -- history (the portal's chart) ---------------------------------------------------------------
    def sample(self, va_id: int, tag: str, *, at: int | None = None, in_use: int | None = None) -> None:
        """Append (in use, purchased) at ``at`` (default: the pool's as they stand, at its last
        reporting interval), unless the pool's last sample says the same: a pool at rest costs no row."""
        self._exec(
            "INSERT INTO pool_history (license_id, at, in_use, purchased) "
            "SELECT l.id, COALESCE(?3, l.last_interval), COALESCE(?4, l.in_use), l.quantity FROM licenses l "
            "WHERE l.virtual_account_id = ?1 AND l.tag = ?2 AND COALESCE(?3, l.last_interval) IS NOT NULL "
            "AND NOT EXISTS (SELECT 1 FROM (SELECT in_use, purchased FROM pool_history WHERE license_id = l.id "
            "ORDER BY at DESC, id DESC LIMIT 1) h "
            "WHERE h.in_use = COALESCE(?4, l.in_use) AND h.purchased = l.quantity)",
            (va_id, tag, at, in_use),
        )

    def history(self, license_id: int, *, since: int | None = None, limit: int = 2000) -> list[PoolSample]:
        """A pool's samples, oldest first: the last ``limit`` ones, with the one in force at ``since``."""
        rows = self._all(
            "SELECT at, in_use, purchased FROM pool_history WHERE license_id = ?1 AND at >= COALESCE(("
            "SELECT MAX(at) FROM pool_history WHERE license_id = ?1 AND at <= ?2), ?2, 0) "
            "ORDER BY at DESC, id DESC LIMIT ?3",
            (license_id, since, limit),
        )
        return [PoolSample(r["at"], r["in_use"], r["purchased"]) for r in reversed(rows)]

    # -- Enforcement (Out-of-Compliance expiry) -----------------------------------------------------
    def entering_enforcement(self, t: int, grace: int) -> list[License]:
        rows = self._all(
            "SELECT * FROM licenses WHERE ooc_since IS NOT NULL AND enforcement_notified = 0 AND ooc_since + ? <= ?",
            (grace, t),
        )
        return [_license(r) for r in rows]

    def next_enforcement(self, grace: int) -> int | None:
        row = self._one(
            "SELECT MIN(ooc_since) + ? FROM licenses WHERE ooc_since IS NOT NULL AND enforcement_notified = 0",
            (grace,),
        )
        return int(row[0]) if row and row[0] is not None else None

    def set_enforcement_notified(self, license_id: int) -> None:
        self._exec("UPDATE licenses SET enforcement_notified = 1 WHERE id = ?", (license_id,))
