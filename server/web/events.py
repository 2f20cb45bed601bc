"""Inventory > Event Log: what happened in the virtual account (tokens, registrations, usage
verdicts, purchases, transfers, reservations), newest first, with a filter on the message; live."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from plumbing.web import pages
from server import keys
from server.web.common import Scope, action, layout, page, scope_of

#: How many of the latest events the tab reads.
LIMIT = 200


async def _events(request: web.Request, scope: Scope) -> dict[str, Any]:
    q = request.query.get("q", "").strip()
    rows = await request.app[keys.STORE].read(lambda uow: uow.events.recent(limit=LIMIT, va_id=scope.va.id))
    shown = [e for e in reversed(rows) if q.casefold() in e.message.casefold()] if q else list(reversed(rows))
    return {"scope": scope, "events": shown, "q": q}


@page
async def event_log(request: web.Request) -> web.Response:
    """Inventory > Event Log."""
    scope = await scope_of(request)
    ctx = await layout(request, scope, active="inventory", title=f"Event Log: {scope.va.name}", tab="events")
    ctx.update(await _events(request, scope))
    return pages.render("events.html", request, ctx)


@action
async def fragment(request: web.Request) -> web.Response:
    """The event log (live)."""
    return pages.fragment("_events.html", request, await _events(request, await scope_of(request)))
