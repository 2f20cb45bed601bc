"""Notification addresses and webhook subscriptions of a Smart Account: add, list, remove, and the
delivery log. Every change is one transaction, committed before it is reported.

A webhook's secret is minted here and shown once (on creation). It is stored as it is: it must
sign every delivery, so it cannot be kept as a hash; the database file is mode 0600.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from yarl import URL

from server import accounts
from server.store import Store, UnitOfWork
from server.store.rows import Delivery, DeliveryAttempt, Webhook
from shared.clock import epoch
from shared.delivery import SECRET_PREFIX, Channel
from shared.errors import BadRequest, NotFound

#: A plain mailbox (local@domain): what an SMTP envelope needs, nothing the header syntax allows more.
_ADDRESS = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$")
URL_MAX = 2048


def check_address(address: str) -> str:
    """Raises: BadRequest ``invalid_address``."""
    if not _ADDRESS.match(address):
        shown = address if len(address) <= 80 else address[:80] + "..."
        raise BadRequest(
            f"{shown!r} is not an e-mail address",
            code="invalid_address",
            fix="give one mailbox as local@domain, e.g. licensing@example.com",
        )
    return address.lower()


def check_url(url: str) -> str:
    """Raises: BadRequest ``invalid_webhook_url``."""
    try:
        parsed = URL(url)
        ok = len(url) <= URL_MAX and parsed.scheme in ("http", "https") and bool(parsed.host)
    except ValueError:
        ok = False
    if not ok:
        shown = url if len(url) <= 80 else url[:80] + "..."
        raise BadRequest(
            f"{shown!r} is not a webhook URL",
            code="invalid_webhook_url",
            fix=f"give an absolute http:// or https:// URL with a host (at most {URL_MAX} characters)",
        )
    return url


@dataclass(frozen=True, slots=True)
class Created:
    webhook: Webhook
    account_domain: str


async def addresses(store: Store, domain: str | None) -> tuple[str, list[str]]:
    account = await accounts.resolve_account(store, domain)
    return account.domain, await store.read(lambda uow: uow.deliveries.addresses(account.id))


async def add_address(store: Store, domain: str | None, address: str, now: datetime) -> bool:
    """False when the account had it already."""
    address = check_address(address)
    account = await accounts.resolve_account(store, domain)
    return await store.write(lambda uow: uow.deliveries.add_address(account.id, address, epoch(now)))


async def remove_address(store: Store, domain: str | None, address: str) -> None:
    """Raises: NotFound ``address_not_found``."""
    account = await accounts.resolve_account(store, domain)
    if not await store.write(lambda uow: uow.deliveries.remove_address(account.id, address.lower())):
        raise NotFound(
            f"{account.domain} has no notification address {address!r}",
            code="address_not_found",
            fix=f"list them: ssm-server notify-address list --account {account.domain}",
        )


async def add_webhook(store: Store, domain: str | None, url: str, now: datetime) -> Created:
    """A new subscription with its secret (shown once): it receives the account's events from now on."""
    url = check_url(url)
    account = await accounts.resolve_account(store, domain)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)

    def body(uow: UnitOfWork) -> Webhook:
        webhook_id = uow.deliveries.add_webhook(account.id, url, secret, epoch(now))
        uow.events.add(at=epoch(now), kind="webhook_added", message=f"webhook {webhook_id} subscribed: {url}")
        found = uow.deliveries.webhook(webhook_id)
        assert found is not None
        return found

    return Created(await store.write(body), account.domain)


def _webhook(uow: UnitOfWork, webhook_id: int, *, removed_too: bool = False) -> Webhook:
    found = uow.deliveries.webhook(webhook_id)
    if found is None or (found.removed_at is not None and not removed_too):
        raise NotFound(
            f"no webhook subscription {webhook_id}",
            code="webhook_not_found",
            fix="list them: ssm-server webhook list",
        )
    return found


async def webhooks(store: Store, domain: str | None = None) -> list[tuple[Webhook, str]]:
    """The live subscriptions (of one account, else of all) with their account's domain."""
    account_id = (await accounts.resolve_account(store, domain)).id if domain else None

    def body(uow: UnitOfWork) -> list[tuple[Webhook, str]]:
        domains = {a.id: a.domain for a in uow.accounts.all()}
        return [(w, domains.get(w.account_id, "?")) for w in uow.deliveries.webhooks(account_id)]

    return await store.read(body)


async def remove_webhook(store: Store, webhook_id: int, now: datetime) -> None:
    """Raises: NotFound ``webhook_not_found``."""

    def body(uow: UnitOfWork) -> None:
        _webhook(uow, webhook_id)
        uow.deliveries.remove_webhook(webhook_id, epoch(now))

    await store.write(body)


async def webhook_log(store: Store, webhook_id: int, *, limit: int = 100) -> list[DeliveryAttempt]:
    """The subscription's latest attempts, newest first. Raises: NotFound ``webhook_not_found``."""

    def body(uow: UnitOfWork) -> list[DeliveryAttempt]:
        _webhook(uow, webhook_id, removed_too=True)  # a removed subscription keeps its log
        return uow.deliveries.log(webhook_id=webhook_id, limit=limit)

    return await store.read(body)


async def mails(store: Store, *, limit: int = 100) -> list[Delivery]:
    """The latest e-mails of notifications and where each stands, newest first."""
    return await store.read(lambda uow: uow.deliveries.listing(channel=Channel.MAIL, limit=limit))


def attempt_view(a: DeliveryAttempt) -> dict[str, object]:
    return {
        "delivery": a.delivery_id,
        "at": a.at,
        "ok": a.ok,
        "status_code": a.status_code,
        "error": a.error,
        "what": a.what,
    }


def delivery_view(d: Delivery) -> dict[str, object]:
    return {
        "id": d.id,
        "channel": d.channel,
        "recipients": d.recipients.split(",") if d.recipients else [],
        "webhook": d.webhook_id,
        "event": d.event_id,
        "notification": d.notification_id,
        "status": d.status,
        "attempts": d.attempts,
        "next_attempt_at": d.next_attempt_at,
        "created_at": d.created_at,
        "delivered_at": d.delivered_at,
        "last_error": d.last_error,
    }


def webhook_view(w: Webhook, domain: str) -> dict[str, object]:
    """A subscription as listed: never its secret."""
    return {"id": w.id, "account": domain, "url": w.url, "created_at": w.created_at}
