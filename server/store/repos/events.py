"""The SSM's event log and its outbox of notifications (the e-mails it would send)."""

from __future__ import annotations

from server.store.repos.base import Repository
from server.store.repos.deliveries import Deliveries
from server.store.rows import Event, Notification
from shared.clock import real_stamp


class Events(Repository):
    __slots__ = ()

    def add(self, *, at: int, kind: str, message: str, va_id: int | None = None, piid: str | None = None) -> None:
        """Record an event; an event of a virtual account is queued for its account's webhooks."""
        event_id = self._insert(
            "INSERT INTO events (at, kind, virtual_account_id, piid, message, recorded_ns) VALUES (?, ?, ?, ?, ?, ?)",
            (at, kind, va_id, piid, message, real_stamp()),
        )
        if va_id is not None:
            Deliveries(self._c).enqueue_event(event_id, va_id, at)

    def get(self, event_id: int) -> Event | None:
        row = self._one("SELECT * FROM events WHERE id = ?", (event_id,))
        return Event(**dict(row)) if row else None

    def recent(self, *, limit: int = 100, piid: str | None = None, va_id: int | None = None) -> list[Event]:
        """The latest ``limit`` events (of one instance, of one virtual account), oldest first."""
        rows = self._all(
            "SELECT * FROM events WHERE (CAST(?1 AS TEXT) IS NULL OR piid = ?1) "
            "AND (CAST(?3 AS INTEGER) IS NULL OR virtual_account_id = ?3) "
            "ORDER BY at DESC, id DESC LIMIT ?2",
            (piid, limit, va_id),
        )
        return [Event(**dict(r)) for r in reversed(rows)]

    # -- the outbox ----------------------------------------------------------------------------------
    def notify(
        self,
        *,
        at: int,
        kind: str,
        severity: str,
        subject: str,
        body: str,
        va_id: int | None = None,
        piid: str | None = None,
    ) -> None:
        """Put a notification in the outbox; one of a virtual account is queued as an e-mail to its
        account's notification addresses."""
        notification_id = self._insert(
            "INSERT INTO notifications (at, kind, severity, virtual_account_id, piid, subject, body) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (at, kind, severity, va_id, piid, subject, body),
        )
        if va_id is not None:
            Deliveries(self._c).enqueue_mail(notification_id, va_id, at)

    def notification(self, notification_id: int) -> Notification | None:
        row = self._one("SELECT * FROM notifications WHERE id = ?", (notification_id,))
        return Notification(**dict(row)) if row else None

    def outbox(self, *, limit: int = 100, kind: str | None = None) -> list[Notification]:
        """The latest ``limit`` notifications (of one kind), oldest first."""
        rows = self._all(
            "SELECT * FROM notifications WHERE (CAST(?1 AS TEXT) IS NULL OR kind = ?1) "
            "ORDER BY at DESC, id DESC LIMIT ?2",
            (kind or None, limit),
        )
        return [Notification(**dict(r)) for r in reversed(rows)]

    def notification_counts(self) -> list[tuple[str, int]]:
        rows = self._all("SELECT kind, COUNT(*) AS n FROM notifications GROUP BY kind")
        return [(str(r["kind"]), int(r["n"])) for r in rows]
