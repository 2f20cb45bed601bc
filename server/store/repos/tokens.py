"""Product Instance Registration Tokens (only the hash of each secret)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from server.store.repos.base import Repository
from shared.clock import epoch, utc
from shared.tokens import TokenRecord


def _token(r: sqlite3.Row) -> TokenRecord:
    return TokenRecord(
        token_id=r["id"],
        secret_hash=r["secret_hash"],
        virtual_account_id=r["virtual_account_id"],
        description=r["description"],
        created_at=utc(r["created_at"]),
        expires_at=utc(r["expires_at"]),
        max_uses=r["max_uses"],
        uses=r["uses"],
        export_controlled=bool(r["export_controlled"]),
        revoked_at=utc(r["revoked_at"]) if r["revoked_at"] is not None else None,
        created_by=r["created_by"],
    )


class Tokens(Repository):
    __slots__ = ()

    def get(self, token_id: str) -> TokenRecord | None:
        row = self._one("SELECT * FROM tokens WHERE id = ?", (token_id,))
        return _token(row) if row else None

    def of(self, va_id: int | None = None) -> list[TokenRecord]:
        rows = self._all(
            "SELECT * FROM tokens WHERE (CAST(?1 AS INTEGER) IS NULL OR virtual_account_id = ?1) "
            "ORDER BY created_at, id",
            (va_id,),
        )
        return [_token(r) for r in rows]

    def add(self, record: TokenRecord) -> None:
        self._exec(
            "INSERT INTO tokens (id, virtual_account_id, secret_hash, description, created_at, "
            "expires_at, max_uses, uses, export_controlled, revoked_at, created_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                record.token_id,
                record.virtual_account_id,
                record.secret_hash,
                record.description,
                epoch(record.created_at),
                epoch(record.expires_at),
                record.max_uses,
                record.uses,
                int(record.export_controlled),
                None,
                record.created_by,
            ),
        )

    def use(self, token_id: str) -> None:
        self._exec("UPDATE tokens SET uses = uses + 1 WHERE id = ?", (token_id,))

    def revoke(self, token_id: str, now: datetime) -> bool:
        sql = "UPDATE tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"
        return self._count(sql, (epoch(now), token_id)) > 0
