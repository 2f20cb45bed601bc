"""Notifications: where the Smart Account's notifications are e-mailed and its events POSTed
(issue 21), and what was delivered: the e-mails with their state, the webhook delivery log.

Every action calls ``server.notify.subscriptions``, as ``ssm-server notify-address`` / ``webhook``
and the lab plane do. A new subscription's signing secret is shown once, in the notice.
"""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from plumbing.web import pages
from server import keys
from server.notify import subscriptions
from server.store import UnitOfWork
from server.web.common import Scope, action, done, form, html, layout, now, page, scope_of
from shared.delivery import Channel
from shared.errors import NotFound

#: How many of the latest e-mails and webhook attempts the page shows.
LIMIT = 50


class NewAddress(msgspec.Struct, kw_only=True):
    address: str = ""


class NewWebhook(msgspec.Struct, kw_only=True):
    url: str = ""


LABELS = {"address": "E-mail address", "url": "Webhook URL"}


async def _state(request: web.Request, scope: Scope) -> dict[str, Any]:
    account_id = scope.account.id

    def body(uow: UnitOfWork) -> dict[str, Any]:
        hooks = uow.deliveries.webhooks(account_id)
        log = [a for h in hooks for a in uow.deliveries.log(webhook_id=h.id, limit=LIMIT)]
        log.sort(key=lambda a: a.id, reverse=True)
        return {
            "addresses": uow.deliveries.addresses(account_id),
            "webhooks": hooks,
            "mails": uow.deliveries.listing(channel=Channel.MAIL, account_id=account_id, limit=LIMIT),
            "log": log[:LIMIT],
            "smtp": request.app[keys.SETTINGS].smtp,
        }

    return {"scope": scope, **await request.app[keys.STORE].read(body)}


@page
async def notifications_page(request: web.Request) -> web.Response:
    """The Notifications page."""
    scope = await scope_of(request)
    ctx = await layout(request, scope, active="notify", title="Notifications")
    ctx.update(await _state(request, scope))
    return pages.render("notifications.html", request, ctx)


@action
async def fragment(request: web.Request) -> web.Response:
    """The addresses, subscriptions, e-mails and delivery log (live)."""
    return pages.fragment("_notifications.html", request, await _state(request, await scope_of(request)))


async def _refresh(request: web.Request, scope: Scope, notice: Any) -> web.Response:
    return done(request, notice, [("notify-state", "_notifications.html", await _state(request, scope))])


@action
async def add_address(request: web.Request) -> web.Response:
    scope = await scope_of(request)
    f = await form(request, NewAddress, LABELS)
    store = request.app[keys.STORE]
    added = await subscriptions.add_address(store, scope.account.domain, f.address, now(request))
    shown = subscriptions.check_address(f.address)
    notice = f"{shown} {'will receive' if added else 'already receives'} the notifications of {scope.account.name}."
    return await _refresh(request, scope, notice)


@action
async def remove_address(request: web.Request) -> web.Response:
    scope = await scope_of(request)
    address = request.match_info["address"]
    await subscriptions.remove_address(request.app[keys.STORE], scope.account.domain, address)
    return await _refresh(request, scope, f"{address} no longer receives the notifications.")


@action
async def add_webhook(request: web.Request) -> web.Response:
    scope = await scope_of(request)
    f = await form(request, NewWebhook, LABELS)
    created = await subscriptions.add_webhook(request.app[keys.STORE], scope.account.domain, f.url, now(request))
    return await _refresh(request, scope, html(request, "_webhook_created.html", {"created": created}))


@action
async def remove_webhook(request: web.Request) -> web.Response:
    scope = await scope_of(request)
    text = request.match_info["webhook_id"]
    store = request.app[keys.STORE]
    hook = await store.read(lambda uow: uow.deliveries.webhook(int(text))) if text.isdigit() else None
    if hook is None or hook.account_id != scope.account.id or hook.removed_at is not None:
        raise NotFound(
            f"{scope.account.domain} has no webhook subscription {text[:20]!r}",
            code="webhook_not_found",
            fix="pick one from the list on this page",
        )
    await subscriptions.remove_webhook(store, hook.id, now(request))
    return await _refresh(request, scope, f"Webhook {hook.id} ({hook.url}) removed; its delivery log is kept.")
