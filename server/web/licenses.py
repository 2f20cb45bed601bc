"""Inventory > Licenses: each license of the virtual account by type and usage mode (Purchased, In
Use, Reserved, Balance, Out of Compliance since), a chart of usage against purchased over domain
time per license in use, the Add Licenses dialog (the purchase, ``server.accounts``, with a Flex
subscription term or none) and the subscriptions (``subscriptions``)."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from plumbing.web import pages
from server import accounts, keys, views
from server.reservations import display_name
from server.store import UnitOfWork
from server.web import chart, subscriptions
from server.web.common import Scope, action, done, form, layout, now, page, scope_of
from shared import terms
from shared.catalog import all_license_keys
from shared.clock import epoch
from shared.errors import BadRequest
from shared.states import LicenseType, UsageMode


class AddLicenses(msgspec.Struct, kw_only=True):
    license: str
    quantity: int
    term: str | None = None


LABELS = {"license": "License", "quantity": "Quantity", "term": "Term"}


def offered() -> list[tuple[str, str]]:
    """The licenses one can buy: (form value, label), as the catalog declares them."""
    return [
        (f"{k.license_type}|{k.usage_mode}|{k.name}", f"{k.name} ({k.license_type}, {k.usage_mode})")
        for k in all_license_keys()
    ]


async def _table(request: web.Request, scope: Scope) -> dict[str, Any]:
    policy = request.app[keys.SETTINGS].policy
    rows = await views.pools(
        request.app[keys.STORE], va_id=scope.va.id, policy_intervals=policy.ooc_consecutive_intervals
    )
    return {"scope": scope, "pools": rows}


async def _charts(request: web.Request, scope: Scope) -> dict[str, Any]:
    t = epoch(now(request))

    def body(uow: UnitOfWork) -> list[chart.Chart]:
        out = []
        for p in uow.pools.of(scope.va.id):
            history = uow.pools.history(p.id)
            if history or p.pool.in_use:
                out.append(chart.draw(display_name(p), history, now=t, in_use=p.pool.in_use, purchased=p.quantity))
        return out

    return {"scope": scope, "charts": await request.app[keys.STORE].read(body)}


@page
async def licenses_page(request: web.Request) -> web.Response:
    """Inventory > Licenses."""
    scope = await scope_of(request)
    ctx = await layout(request, scope, active="inventory", title=f"Licenses: {scope.va.name}", tab="licenses")
    ctx.update(await _table(request, scope), offered=offered(), policy=request.app[keys.SETTINGS].policy)
    ctx.update(charts=(await _charts(request, scope))["charts"], term_choices=subscriptions.TERMS)
    ctx.update(terms=(await subscriptions.context(request, scope))["terms"])
    return pages.render("licenses.html", request, ctx)


@action
async def table_fragment(request: web.Request) -> web.Response:
    """The licenses table (live)."""
    return pages.fragment("_licenses.html", request, await _table(request, await scope_of(request)))


@action
async def charts_fragment(request: web.Request) -> web.Response:
    """The usage charts (live)."""
    return pages.fragment("_charts.html", request, await _charts(request, await scope_of(request)))


def _license(value: str) -> tuple[LicenseType, UsageMode, str]:
    kind, _, rest = value.partition("|")
    mode, _, name = rest.partition("|")
    try:
        return LicenseType(kind), UsageMode(mode), name
    except ValueError:
        raise BadRequest(
            f"License: {value!r} is not a license of the catalog",
            code="unknown_license",
            fix="choose a license from the list",
        ) from None


@action
async def add(request: web.Request) -> web.Response:
    """The Add Licenses dialog: a purchase into the virtual account's pool."""
    scope = await scope_of(request)
    f = await form(request, AddLicenses, LABELS)
    license_type, usage_mode, name = _license(f.license)
    length = terms.parse_length(f.term)
    total = await accounts.add_licenses(
        request.app[keys.STORE],
        account=scope.account,
        va_name=scope.va.name,
        license_type=license_type,
        usage_mode=usage_mode,
        name=name,
        quantity=f.quantity,
        now=now(request),
        length=length,
    )
    notice = f"{f.quantity} {name} ({license_type}, {usage_mode}) added to {scope.va.name}: {total} purchased."
    refresh = [("licenses", "_licenses.html", await _table(request, scope))]
    if length is not None:
        request.app[keys.REGISTRY].poke_watch()
        notice += f" Subscription term {length}."
        refresh.append(("subscriptions", "_subscriptions.html", await subscriptions.context(request, scope)))
    return done(request, notice, refresh)
