"""Outbound deliveries: each account's notification addresses and webhook subscriptions, the
deliveries (an e-mail per notification, a webhook call per event and subscription) and their
attempts. The states and the retry rule are ``shared.delivery``'s; this module only stores them.
"""

from __future__ import annotations

import sqlite3

from server.store.repos.base import Repository
from server.store.rows import Delivery, DeliveryAttempt, Webhook
from shared.delivery import Channel, DeliveryStatus

_ENQUEUE_EVENT = (
    "INSERT INTO deliveries (channel, account_id, webhook_id, event_id, status, next_attempt_at, created_at) "
    "SELECT 'webhook', w.account_id, w.id, ?, 'pending', ?, ? FROM webhooks w "
    "JOIN virtual_accounts v ON v.account_id = w.account_id WHERE v.id = ? AND w.removed_at IS NULL"
)
#: Open: not delivered, not dropped, and not of a removed subscription; without an SMTP server
#: the e-mails wait, so only webhook calls are due.
_DUE = {
    True: "SELECT d.* FROM deliveries d LEFT JOIN webhooks w ON w.id = d.webhook_id "
    "WHERE d.status <> 'delivered' AND d.next_attempt_at <= ? AND w.removed_at IS NULL "
    "ORDER BY d.next_attempt_at, d.id LIMIT ?",
    False: "SELECT d.* FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id "
    "WHERE d.status <> 'delivered' AND d.next_attempt_at <= ? AND w.removed_at IS NULL "
    "ORDER BY d.next_attempt_at, d.id LIMIT ?",
}
_NEXT_DUE = {
    True: "SELECT MIN(d.next_attempt_at) AS t FROM deliveries d LEFT JOIN webhooks w ON w.id = d.webhook_id "
    "WHERE d.status <> 'delivered' AND w.removed_at IS NULL",
    False: "SELECT MIN(d.next_attempt_at) AS t FROM deliveries d JOIN webhooks w ON w.id = d.webhook_id "
    "WHERE d.status <> 'delivered' AND w.removed_at IS NULL",
}
_ATTEMPTS = (
    "SELECT a.id, a.delivery_id, a.at, a.ok, a.status_code, a.error, d.channel, d.webhook_id, "
    "COALESCE(e.kind, n.subject, '') AS what FROM delivery_attempts a JOIN deliveries d ON d.id = a.delivery_id "
    "LEFT JOIN events e ON e.id = d.event_id LEFT JOIN notifications n ON n.id = d.notification_id "
)


def _attempt(r: sqlite3.Row) -> DeliveryAttempt:
    return DeliveryAttempt(
        r["id"], r["delivery_id"], r["at"], bool(r["ok"]), r["status_code"], r["error"], r["channel"],
        r["webhook_id"], r["what"],
    )  # fmt: skip


class Deliveries(Repository):
    __slots__ = ()

    # -- notification addresses -----------------------------------------------------------------
    def addresses(self, account_id: int) -> list[str]:
        rows = self._all("SELECT address FROM notify_addresses WHERE account_id = ? ORDER BY address", (account_id,))
        return [str(r["address"]) for r in rows]

    def add_address(self, account_id: int, address: str, at: int) -> bool:
        """False when the account has it already."""
        sql = (
            "INSERT INTO notify_addresses (account_id, address, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (account_id, address) DO NOTHING"
        )
        return self._count(sql, (account_id, address, at)) == 1

    def remove_address(self, account_id: int, address: str) -> bool:
        sql = "DELETE FROM notify_addresses WHERE account_id = ? AND address = ?"
        return self._count(sql, (account_id, address)) == 1

    # -- webhook subscriptions ------------------------------------------------------------------
    def add_webhook(self, account_id: int, url: str, secret: str, at: int) -> int:
        sql = "INSERT INTO webhooks (account_id, url, secret, created_at) VALUES (?, ?, ?, ?)"
        return self._insert(sql, (account_id, url, secret, at))

    def webhook(self, webhook_id: int) -> Webhook | None:
        row = self._one("SELECT * FROM webhooks WHERE id = ?", (webhook_id,))
        return Webhook(**dict(row)) if row else None

    def webhooks(self, account_id: int | None = None) -> list[Webhook]:
        """The live subscriptions (of one account)."""
        sql = (
            "SELECT * FROM webhooks WHERE removed_at IS NULL AND (CAST(?1 AS INTEGER) IS NULL OR account_id = ?1) "
            "ORDER BY id"
        )
        return [Webhook(**dict(r)) for r in self._all(sql, (account_id,))]

    def remove_webhook(self, webhook_id: int, at: int) -> bool:
        """Stop a subscription (its undelivered calls stop with it; its log stays)."""
        sql = "UPDATE webhooks SET removed_at = ? WHERE id = ? AND removed_at IS NULL"
        return self._count(sql, (at, webhook_id)) == 1

    # -- enqueueing (in the transaction that records the event or notification) -----------------
    def enqueue_event(self, event_id: int, va_id: int, at: int) -> None:
        """A webhook call of the event to each live subscription of its virtual account's account."""
        self._exec(_ENQUEUE_EVENT, (event_id, at, at, va_id))

    def enqueue_mail(self, notification_id: int, va_id: int, at: int) -> None:
        """An e-mail of the notification to its account's addresses (none: nothing to send)."""
        row = self._one("SELECT account_id FROM virtual_accounts WHERE id = ?", (va_id,))
        if row is None:
            return
        to = self.addresses(int(row["account_id"]))
        if to:
            self._exec(
                "INSERT INTO deliveries (channel, account_id, notification_id, recipients, status, next_attempt_at, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (Channel.MAIL, row["account_id"], notification_id, ",".join(to), DeliveryStatus.PENDING, at, at),
            )

    # -- the dispatcher's reads and writes --------------------------------------------------------
    def due(self, t: int, *, mail: bool, limit: int = 100) -> list[Delivery]:
        """Open deliveries whose next attempt is due at ``t``, the earliest first (e-mails too?)."""
        return [Delivery(**dict(r)) for r in self._all(_DUE[mail], (t, limit))]

    def next_due(self, *, mail: bool) -> int | None:
        row = self._one(_NEXT_DUE[mail])
        return int(row["t"]) if row and row["t"] is not None else None

    def get(self, delivery_id: int) -> Delivery | None:
        row = self._one("SELECT * FROM deliveries WHERE id = ?", (delivery_id,))
        return Delivery(**dict(row)) if row else None

    def attempting(self, delivery_id: int, *, next_at: int) -> None:
        """Count an attempt about to be made, its retry already scheduled (a crash mid-send retries)."""
        sql = "UPDATE deliveries SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?"
        self._exec(sql, (next_at, delivery_id))

    def record(self, delivery_id: int, *, at: int, ok: bool, status_code: int | None, error: str) -> None:
        """The attempt's outcome: delivered (no next attempt), or failed (the one scheduled stands)."""
        self._exec(
            "INSERT INTO delivery_attempts (delivery_id, at, ok, status_code, error) VALUES (?, ?, ?, ?, ?)",
            (delivery_id, at, int(ok), status_code, error),
        )
        if ok:
            sql = (
                "UPDATE deliveries SET status = ?, delivered_at = ?, next_attempt_at = NULL, last_error = '' "
                "WHERE id = ?"
            )
            self._exec(sql, (DeliveryStatus.DELIVERED, at, delivery_id))
        else:
            self._exec(
                "UPDATE deliveries SET status = ?, last_error = ? WHERE id = ?",
                (DeliveryStatus.FAILED, error, delivery_id),
            )

    def drop(self, delivery_id: int) -> None:
        """No next attempt: what it would send is gone (a reset took its notification)."""
        self._exec(
            "UPDATE deliveries SET status = ?, next_attempt_at = NULL WHERE id = ?",
            (DeliveryStatus.FAILED, delivery_id),
        )

    # -- what the CLI, the admin API and the portal show ----------------------------------------
    def listing(self, *, channel: str, account_id: int | None = None, limit: int = 100) -> list[Delivery]:
        """The latest deliveries of a channel (of one account), newest first."""
        sql = (
            "SELECT * FROM deliveries WHERE channel = ?1 AND (CAST(?2 AS INTEGER) IS NULL OR account_id = ?2) "
            "ORDER BY id DESC LIMIT ?3"
        )
        return [Delivery(**dict(r)) for r in self._all(sql, (channel, account_id, limit))]

    def log(
        self, *, webhook_id: int | None = None, channel: str | None = None, limit: int = 100
    ) -> list[DeliveryAttempt]:
        """The latest attempts (of one subscription, of one channel), newest first."""
        sql = _ATTEMPTS + (
            "WHERE (CAST(?1 AS INTEGER) IS NULL OR d.webhook_id = ?1) AND (CAST(?2 AS TEXT) IS NULL OR d.channel = ?2) "
            "ORDER BY a.id DESC LIMIT ?3"
        )
        return [_attempt(r) for r in self._all(sql, (webhook_id, channel, limit))]

    def counts(self, channel: str) -> dict[str, int]:
        rows = self._all("SELECT status, COUNT(*) AS n FROM deliveries WHERE channel = ? GROUP BY status", (channel,))
        return {str(r["status"]): int(r["n"]) for r in rows}
