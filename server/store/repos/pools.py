"""License pools: the purchased, reserved and in-use quantities of each license of a virtual
account, with the pool's compliance state (``shared.compliance.PoolState``)."""

from __future__ import annotations

import sqlite3

from server.store.repos.base import Repository
from server.store.rows import License
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
    )


class Pools(Repository):
    __slots__ = ()

    def of(self, va_id: int) -> list[License]:
        """Every pool of a virtual account."""
        rows = self._all(
            "SELECT * FROM licenses WHERE virtual_account_id = ? ORDER BY license_type, usage_mode, name", (va_id,)
        )
        return [_license(r) for r in rows]

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
        self, *, va_id: int, name: str, license_type: LicenseType, usage_mode: UsageMode, tag: str, quantity: int
    ) -> int:
        """Add purchased licenses (creating the pool); the pool's new quantity."""
        self._exec(
            "INSERT INTO licenses (virtual_account_id, name, license_type, usage_mode, tag, quantity) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (virtual_account_id, tag) "
            "DO UPDATE SET quantity = quantity + excluded.quantity",
            (va_id, name, str(license_type), str(usage_mode), tag, quantity),
        )
        row = self._one("SELECT quantity FROM licenses WHERE virtual_account_id = ? AND tag = ?", (va_id, tag))
        assert row is not None
        return int(row[0])

    def set_quantity(
        self, *, va_id: int, name: str, license_type: LicenseType, usage_mode: UsageMode, tag: str, quantity: int
    ) -> None:
        """Set (not add) the purchased quantity of a pool, creating it if needed (a re-judged account)."""
        self.ensure(va_id=va_id, name=name, license_type=license_type, usage_mode=usage_mode, tag=tag)
        self._exec("UPDATE licenses SET quantity = ? WHERE virtual_account_id = ? AND tag = ?", (quantity, va_id, tag))

    def reserve(self, license_id: int, delta: int) -> None:
        """Hold (positive) or give back (negative) licenses for a Specific License Reservation."""
        self._exec("UPDATE licenses SET reserved = reserved + ? WHERE id = ?", (delta, license_id))

    def save_state(self, va_id: int, tag: str, pool: PoolState) -> None:
        """The pool's compliance state after a decision (Enforcement is notified again after a new
        Out-of-Compliance period)."""
        self._exec(
            "UPDATE licenses SET in_use = ?, actual = ?, last_interval = ?, interval_over = ?, count_before = ?, "
            "ooc_since = ?, enforcement_notified = CASE WHEN ? IS NULL THEN 0 ELSE enforcement_notified END "
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
