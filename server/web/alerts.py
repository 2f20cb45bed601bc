"""Alerts: the Smart Account's alerts (Severity | Message | Source | Action Due), Major and Minor,
live; and the top bar's domain clock."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from plumbing.web import pages
from server import keys
from server.web import outbox
from server.web.common import Scope, action, layout, now, page, scope_of
from shared.clock import epoch


async def _alerts(request: web.Request, scope: Scope) -> dict[str, Any]:
    policy = request.app[keys.SETTINGS].policy
    t = epoch(now(request))
    rows = await request.app[keys.STORE].read(lambda uow: outbox.alerts(uow, scope.account, policy, t))
    only = request.query.get("only", "")
    shown = [r for r in rows if not r.resolved] if only == "open" else rows
    return {"scope": scope, "alerts": shown, "only": only, "total": len(rows)}


@page
async def page_alerts(request: web.Request) -> web.Response:
    """The Alerts page."""
    scope = await scope_of(request)
    ctx = await layout(request, scope, active="alerts", title="Alerts")
    ctx.update(await _alerts(request, scope))
    return pages.render("alerts.html", request, ctx)


@action
async def fragment(request: web.Request) -> web.Response:
    """The alerts table (live)."""
    return pages.fragment("_alerts.html", request, await _alerts(request, await scope_of(request)))


async def clock(request: web.Request) -> web.Response:
    """The top bar's domain time (live; 204 while the minute shown is the same)."""
    return pages.fragment("_clock.html", request, {"now": now(request)})
