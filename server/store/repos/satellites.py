"""SSM On-Prem instances seen from the cloud: their synchronizations, deadlines and inventory."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from server.store.repos.base import NO_LIMIT, Repository
from server.store.rows import BehindOnPrem, Satellite, SatelliteInstance

_INVENTORY = tuple(SatelliteInstance.__dataclass_fields__)
#: The inventories of the On-Prems, with each On-Prem's name, virtual account and removal.
_FROM = (
    "FROM satellite_instances s JOIN instances i ON i.piid = s.satellite "
    "WHERE (CAST(?1 AS INTEGER) IS NULL OR i.virtual_account_id = ?1) AND (?2 = 1 OR i.removed_at IS NULL)"
)
_BEHIND = (
    "SELECT s.*, i.name AS onprem_name, i.virtual_account_id AS onprem_va, i.removed_at AS onprem_removed_at "
    + _FROM
    + " ORDER BY i.registered_at, s.satellite, s.name, s.piid LIMIT ?3 OFFSET ?4"
)
_COUNT = "SELECT COUNT(*) " + _FROM


def _satellite(r: sqlite3.Row) -> Satellite:
    return Satellite(r["piid"], r["sequence"], r["last_sync"], frozenset(json.loads(r["alerted"])), r["next_check"])


class Satellites(Repository):
    __slots__ = ()

    def get(self, piid: str) -> Satellite | None:
        row = self._one("SELECT * FROM satellites WHERE piid = ?", (piid,))
        return _satellite(row) if row else None

    def save(self, sat: Satellite) -> None:
        self._exec(
            "INSERT INTO satellites (piid, sequence, last_sync, alerted, next_check) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (piid) DO UPDATE SET sequence = excluded.sequence, last_sync = excluded.last_sync, "
            "alerted = excluded.alerted, next_check = excluded.next_check",
            (sat.piid, sat.sequence, sat.last_sync, json.dumps(sorted(sat.alerted)), sat.next_check),
        )

    def due(self, t: int) -> list[Satellite]:
        rows = self._all("SELECT * FROM satellites WHERE next_check IS NOT NULL AND next_check <= ?", (t,))
        return [_satellite(r) for r in rows]

    def next_check(self) -> int | None:
        row = self._one("SELECT MIN(next_check) FROM satellites WHERE next_check IS NOT NULL")
        return int(row[0]) if row and row[0] is not None else None

    def replace_inventory(self, satellite: str, rows: Sequence[SatelliteInstance]) -> None:
        self._exec("DELETE FROM satellite_instances WHERE satellite = ?", (satellite,))
        self._many(
            "INSERT INTO satellite_instances (satellite, piid, name, product, udi_pid, serial_number, "
            "virtual_account, status, last_contact_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    satellite,
                    r.piid,
                    r.name,
                    r.product,
                    r.udi_pid,
                    r.serial_number,
                    r.virtual_account,
                    r.status,
                    r.last_contact_at,
                )
                for r in rows
            ],
        )

    def inventory(self, satellite: str) -> list[SatelliteInstance]:
        rows = self._all("SELECT * FROM satellite_instances WHERE satellite = ? ORDER BY name, piid", (satellite,))
        return [SatelliteInstance(**dict(r)) for r in rows]

    def behind(
        self, *, va_id: int | None = None, include_removed: bool = False, limit: int | None = None, offset: int = 0
    ) -> list[BehindOnPrem]:
        """The product instances of every On-Prem registered (or ever registered, with
        ``include_removed``), in the On-Prems' registration order (a page with ``limit``)."""
        rows = self._all(_BEHIND, (va_id, int(include_removed), NO_LIMIT if limit is None else limit, offset))
        return [
            BehindOnPrem(
                SatelliteInstance(**{k: r[k] for k in _INVENTORY}),
                r["onprem_name"],
                r["onprem_va"],
                r["onprem_removed_at"],
            )
            for r in rows
        ]

    def count_behind(self, *, include_removed: bool = False) -> int:
        row = self._one(_COUNT, (None, int(include_removed)))
        return int(row[0]) if row else 0
