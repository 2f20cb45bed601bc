"""Virtual Accounts: the Smart Account's virtual accounts (product instances, licenses, open
alerts of each; live) and "New Virtual Account" (``server.accounts.create_virtual_account``)."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from plumbing.web import pages
from server import accounts, keys
from server.store import UnitOfWork
from server.web import outbox
from server.web.common import Scope, action, done, form, layout, now, page, scope_of
from shared.clock import epoch


class NewVirtualAccount(msgspec.Struct, kw_only=True):
    name: str = ""
    description: str = ""


LABELS = {"name": "Name", "description": "Description"}


async def _listing(request: web.Request, scope: Scope) -> dict[str, Any]:
    policy = request.app[keys.SETTINGS].policy
    t = epoch(now(request))

    def body(uow: UnitOfWork) -> list[dict[str, Any]]:
        alerts = outbox.alerts(uow, scope.account, policy, t)
        rows = []
        for va in uow.accounts.virtual_accounts(scope.account.id):
            pools = uow.pools.of(va.id)
            major, minor = outbox.counts(alerts, va.name)
            rows.append(
                {
                    "va": va,
                    "instances": uow.instances.count(va.id),
                    "purchased": sum(p.quantity for p in pools),
                    "in_use": sum(p.pool.in_use for p in pools),
                    "ooc": sum(p.pool.ooc_since is not None for p in pools),
                    "major": major,
                    "minor": minor,
                }
            )
        return rows

    return {"scope": scope, "rows": await request.app[keys.STORE].read(body)}


@page
async def listing(request: web.Request) -> web.Response:
    """The Virtual Accounts page."""
    scope = await scope_of(request)
    ctx = await layout(request, scope, active="vas", title="Virtual Accounts")
    ctx.update(await _listing(request, scope))
    return pages.render("vaccounts.html", request, ctx)


@action
async def fragment(request: web.Request) -> web.Response:
    """The virtual accounts (live)."""
    return pages.fragment("_vaccounts.html", request, await _listing(request, await scope_of(request)))


@action
async def create(request: web.Request) -> web.Response:
    """New Virtual Account's Create."""
    scope = await scope_of(request)
    f = await form(request, NewVirtualAccount, LABELS)
    va = await accounts.create_virtual_account(
        request.app[keys.STORE], account=scope.account, name=f.name, description=f.description, now=now(request)
    )
    notice = f"Virtual account {va.name} created in {scope.account.name}."
    return done(request, notice, [("vaccounts", "_vaccounts.html", await _listing(request, scope))])
