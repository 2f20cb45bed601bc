"""Key-value settings of one SSM (its clock, TLS drill mode, an On-Prem's link) and the admin
API's clients (kept across lab resets)."""

from __future__ import annotations

from datetime import datetime

from server.store.repos.base import Repository
from server.store.rows import ApiClient
from shared.clock import epoch


class Settings(Repository):
    __slots__ = ()

    def get(self, key: str) -> str | None:
        row = self._one("SELECT value FROM settings WHERE key = ?", (key,))
        return str(row["value"]) if row else None

    def set(self, key: str, value: str) -> None:
        self._exec(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


class ApiClients(Repository):
    __slots__ = ()

    def add(self, *, client_id: str, secret_hash: str, name: str, now: datetime) -> None:
        self._exec(
            "INSERT INTO api_clients (client_id, secret_hash, name, created_at) VALUES (?, ?, ?, ?)",
            (client_id, secret_hash, name, epoch(now)),
        )

    def get(self, client_id: str) -> ApiClient | None:
        row = self._one("SELECT * FROM api_clients WHERE client_id = ?", (client_id,))
        return ApiClient(**dict(row)) if row else None

    def all(self) -> list[ApiClient]:
        return [ApiClient(**dict(r)) for r in self._all("SELECT * FROM api_clients ORDER BY created_at, client_id")]

    def revoke(self, client_id: str, now: datetime) -> bool:
        sql = "UPDATE api_clients SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL"
        return self._count(sql, (epoch(now), client_id)) == 1

    def used(self, client_id: str, now: datetime) -> None:
        self._exec("UPDATE api_clients SET last_token_at = ? WHERE client_id = ?", (epoch(now), client_id))
