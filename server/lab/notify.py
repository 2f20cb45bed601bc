"""Notification addresses, webhook subscriptions and what was delivered (issue 21), on the lab
plane: Cisco's API has no such operations, so, like the lab's other extensions, they live under
``/_lab`` (loopback, or the lab token) beside ``ssm-server notify-address`` and ``webhook``.

A new subscription's secret is in the answer to its creation only.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from plumbing.web.middleware import json_response
from plumbing.web.routes import LAB_TYPES, Body, Plane, Route
from server import keys
from server.notify import subscriptions
from shared.errors import BadRequest
from shared.limits import Domain

Limit = Annotated[int, msgspec.Meta(ge=1, le=1000)]
Address = Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
Url = Annotated[str, msgspec.Meta(min_length=1, max_length=subscriptions.URL_MAX)]


class AccountQuery(msgspec.Struct, frozen=True):
    account: Domain | None = None


class LimitQuery(msgspec.Struct, frozen=True):
    limit: Limit = 100


class AddressBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    address: Address
    account: Domain | None = None


class WebhookBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: Url
    account: Domain | None = None


async def list_addresses(request: web.Request, q: AccountQuery) -> web.Response:
    domain, addresses = await subscriptions.addresses(request.app[keys.STORE], q.account)
    return json_response({"account": domain, "addresses": addresses})


async def add_address(request: web.Request, body: AddressBody) -> web.Response:
    store = request.app[keys.STORE]
    added = await subscriptions.add_address(store, body.account, body.address, request.app[keys.CLOCK].now())
    domain, addresses = await subscriptions.addresses(store, body.account)
    return json_response({"account": domain, "addresses": addresses, "added": added}, status=201 if added else 200)


async def remove_address(request: web.Request, q: AccountQuery) -> web.Response:
    store = request.app[keys.STORE]
    await subscriptions.remove_address(store, q.account, request.match_info["address"])
    domain, addresses = await subscriptions.addresses(store, q.account)
    return json_response({"account": domain, "addresses": addresses})


async def list_webhooks(request: web.Request, q: AccountQuery) -> web.Response:
    rows = await subscriptions.webhooks(request.app[keys.STORE], q.account)
    return json_response([subscriptions.webhook_view(w, domain) for w, domain in rows])


async def add_webhook(request: web.Request, body: WebhookBody) -> web.Response:
    created = await subscriptions.add_webhook(
        request.app[keys.STORE], body.account, body.url, request.app[keys.CLOCK].now()
    )
    view = subscriptions.webhook_view(created.webhook, created.account_domain)
    return json_response({**view, "secret": created.webhook.secret}, status=201)


def _webhook_id(request: web.Request) -> int:
    text = request.match_info["id"]
    if not text.isdigit() or len(text) > 18:
        raise BadRequest(
            f"a webhook id is a number, got {text[:40]!r}",
            code="invalid_webhook_id",
            fix="use an id from GET /_lab/webhooks",
        )
    return int(text)


async def remove_webhook(request: web.Request) -> web.Response:
    webhook_id = _webhook_id(request)
    await subscriptions.remove_webhook(request.app[keys.STORE], webhook_id, request.app[keys.CLOCK].now())
    return json_response({"removed": webhook_id})


async def webhook_deliveries(request: web.Request, q: LimitQuery) -> web.Response:
    log = await subscriptions.webhook_log(request.app[keys.STORE], _webhook_id(request), limit=q.limit)
    return json_response([subscriptions.attempt_view(a) for a in log])


async def mail(request: web.Request, q: LimitQuery) -> web.Response:
    rows = await subscriptions.mails(request.app[keys.STORE], limit=q.limit)
    return json_response([subscriptions.delivery_view(d) for d in rows])


LAB = Plane.LAB
_SMALL = 4096
ROUTES: list[Route] = [
    Route("GET", "/_lab/notify-addresses", list_addresses, LAB, query=AccountQuery),
    Route(
        "POST",
        "/_lab/notify-addresses",
        add_address,
        LAB,
        body=Body(AddressBody, limit=_SMALL, types=LAB_TYPES, fix='send {"address": "noc@example.com"}'),
    ),
    Route("DELETE", "/_lab/notify-addresses/{address}", remove_address, LAB, query=AccountQuery),
    Route("GET", "/_lab/webhooks", list_webhooks, LAB, query=AccountQuery),
    Route(
        "POST",
        "/_lab/webhooks",
        add_webhook,
        LAB,
        body=Body(WebhookBody, limit=_SMALL, types=LAB_TYPES, fix='send {"url": "http://127.0.0.1:9000/hook"}'),
    ),
    Route("DELETE", "/_lab/webhooks/{id}", remove_webhook, LAB),
    Route("GET", "/_lab/webhooks/{id}/deliveries", webhook_deliveries, LAB, query=LimitQuery),
    Route("GET", "/_lab/mail", mail, LAB, query=LimitQuery),
]
