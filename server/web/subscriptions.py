"""Inventory > Licenses > Subscriptions: the Flex subscription terms of the virtual account (start,
end, days left, expired) with their Renew (one more year, ``server.subscriptions.renew``, as
``ssm-server license renew``)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from server import keys, subscriptions
from server.store import UnitOfWork
from server.web.common import Scope, action, done, now, scope_of
from shared import terms
from shared.clock import epoch
from shared.errors import NotFound

#: The terms the Add Licenses dialog offers: (form value, label); none: the licenses stay.
TERMS = (("", "None (they stay)"), ("1y", "1 year"), ("3y", "3 years"), ("5y", "5 years"))


async def context(request: web.Request, scope: Scope) -> dict[str, Any]:
    t = epoch(now(request))

    def body(uow: UnitOfWork) -> list[dict[str, object]]:
        pools = {p.id: p for p in uow.pools.of(scope.va.id)}
        return [
            subscriptions.term_view(r, pools[r.license_id], scope.va.name, t) for r in uow.terms.in_account(scope.va.id)
        ]

    return {"scope": scope, "terms": await request.app[keys.STORE].read(body)}


@action
async def renew(request: web.Request) -> web.Response:
    """A subscription's Renew: one more year from its current end (a term of the virtual account shown)."""
    scope = await scope_of(request)
    sub = request.match_info["subscription"]
    store = request.app[keys.STORE]

    def owner(uow: UnitOfWork) -> int | None:
        row = uow.terms.by_subscription(sub)
        pool = uow.pools.get(row.license_id) if row else None
        return pool.virtual_account_id if pool else None

    if await store.read(owner) != scope.va.id:
        raise NotFound(
            f"virtual account {scope.va.name} has no subscription {sub!r}",
            code="subscription_not_found",
            fix="renew it from the list of its own virtual account",
        )
    row = await subscriptions.renew(store, sub, terms.Length(years=1), now(request))
    request.app[keys.REGISTRY].poke_watch()
    notice = f"Subscription {sub} renewed: valid until {terms.end_date(row.ends_at).isoformat()}."
    return done(request, notice, [("subscriptions", "_subscriptions.html", await context(request, scope))])
