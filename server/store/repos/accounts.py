"""Smart Accounts and their virtual accounts."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from server.store.repos.base import Repository
from server.store.rows import Account, VirtualAccount
from shared.clock import epoch, utc


def _account(r: sqlite3.Row) -> Account:
    return Account(r["id"], r["domain"], r["name"], bool(r["export_control_allowed"]), utc(r["created_at"]))


def _va(r: sqlite3.Row) -> VirtualAccount:
    return VirtualAccount(r["id"], r["account_id"], r["name"], r["description"], bool(r["is_default"]))


class Accounts(Repository):
    __slots__ = ()

    def all(self) -> list[Account]:
        return [_account(r) for r in self._all("SELECT * FROM accounts ORDER BY id")]

    def get(self, account_id: int) -> Account | None:
        row = self._one("SELECT * FROM accounts WHERE id = ?", (account_id,))
        return _account(row) if row else None

    def by_domain(self, domain: str) -> Account | None:
        row = self._one("SELECT * FROM accounts WHERE domain = ?", (domain,))
        return _account(row) if row else None

    def add(self, *, domain: str, name: str, export_control_allowed: bool, now: datetime) -> int:
        return self._insert(
            "INSERT INTO accounts (domain, name, export_control_allowed, created_at) VALUES (?, ?, ?, ?)",
            (domain, name, int(export_control_allowed), epoch(now)),
        )

    # -- virtual accounts ---------------------------------------------------------------------------
    def virtual_accounts(self, account_id: int) -> list[VirtualAccount]:
        rows = self._all("SELECT * FROM virtual_accounts WHERE account_id = ? ORDER BY id", (account_id,))
        return [_va(r) for r in rows]

    def all_virtual_accounts(self) -> dict[int, VirtualAccount]:
        return {r["id"]: _va(r) for r in self._all("SELECT * FROM virtual_accounts ORDER BY id")}

    def virtual_account(self, va_id: int) -> VirtualAccount | None:
        row = self._one("SELECT * FROM virtual_accounts WHERE id = ?", (va_id,))
        return _va(row) if row else None

    def virtual_account_named(self, account_id: int, name: str) -> VirtualAccount | None:
        row = self._one("SELECT * FROM virtual_accounts WHERE account_id = ? AND name = ?", (account_id, name))
        return _va(row) if row else None

    def add_virtual_account(
        self, *, account_id: int, name: str, description: str, is_default: bool, now: datetime
    ) -> int:
        return self._insert(
            "INSERT INTO virtual_accounts (account_id, name, description, is_default, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (account_id, name, description, int(is_default), epoch(now)),
        )
