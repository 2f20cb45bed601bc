"""What one delivery sends: a notification as an e-mail, an event as a webhook's body and headers.

Both are built from the stored rows at each attempt, the same bytes every time (a receiver may
deduplicate on the event's ``id``); only the signature's timestamp is the attempt's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from server.store import UnitOfWork
from server.store.rows import Delivery
from shared import delivery
from shared.clock import utc

DEFAULT_FROM = "ssm@ssmlab.invalid"


@dataclass(frozen=True, slots=True)
class WebhookCall:
    url: str
    body: bytes
    secret: str
    kind: str


def mail(uow: UnitOfWork, d: Delivery, sender: str) -> EmailMessage | None:
    """The e-mail of a mail delivery (None: its notification is gone, e.g. after a lab reset)."""
    n = uow.events.notification(d.notification_id or 0)
    if n is None:
        return None
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(d.recipients.split(","))
    msg["Subject"] = n.subject
    msg["Date"] = format_datetime(utc(n.at))  # the domain instant it was raised
    msg["Message-ID"] = make_msgid(f"notification-{n.id}", domain="ssmlab.invalid")
    msg["X-SSMlab-Kind"] = n.kind
    msg["X-SSMlab-Severity"] = n.severity
    msg.set_content(n.body + "\n")
    return msg


def webhook_call(uow: UnitOfWork, d: Delivery) -> WebhookCall | None:
    """The body of a webhook delivery (None: its event or subscription is gone)."""
    event = uow.events.get(d.event_id or 0)
    hook = uow.deliveries.webhook(d.webhook_id or 0)
    account = uow.accounts.get(d.account_id)
    if event is None or hook is None or account is None:
        return None
    va = uow.accounts.virtual_account(event.virtual_account_id) if event.virtual_account_id else None
    payload = {
        "id": f"evt_{event.id}",
        "type": event.kind,
        "created": event.at,
        "created_at": utc(event.at).isoformat(),
        "smart_account": account.domain,
        "virtual_account": va.name if va else None,
        "product_instance": event.piid,
        "message": event.message,
    }
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return WebhookCall(hook.url, body, hook.secret, event.kind)


def webhook_headers(call: WebhookCall, delivery_id: int, t: int) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "ssmlab-webhooks/1",
        delivery.SIGNATURE_HEADER: delivery.sign(call.secret, t, call.body),
        delivery.EVENT_HEADER: call.kind,
        delivery.DELIVERY_HEADER: str(delivery_id),
    }
