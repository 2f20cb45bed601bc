"""The console's pages and live fragments (every GET).

Pages: ``/`` (the clock, the TLS drill, faults, snapshots and reset, the last events), ``/timeline``,
``/journal`` and ``/scenarios``. Each live part of a page polls its fragment every second
(``pages.fragment``: 204 while it shows the same), which reads from the processes through the
backend's shared reads: one call per fragment per second, however many tabs are open.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import msgspec
from aiohttp import web

from lab.web import cards
from lab.web.keys import BACKEND, RUNNER
from plumbing.web import pages
from plumbing.web.middleware import json_response

Limit = Annotated[int, msgspec.Meta(ge=1, le=500)]


class TimelineQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    limit: Limit = 200
    routine: str | None = None
    compact: str | None = None


class JournalQuery(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    limit: Limit = 100
    lab: str | None = None


def now() -> float:
    """The console's own (monotonic) time: how long a job has run, never domain time."""
    return asyncio.get_running_loop().time()


# -- pages ----------------------------------------------------------------------------------------


async def _console(request: web.Request) -> dict[str, Any]:
    b = request.app[BACKEND]
    clock, tls, pki, faults, snapshots, timeline = await asyncio.gather(
        cards.clock_card(b, now()),
        cards.tls_card(b),
        cards.pki_card(b),
        cards.faults_card(b),
        cards.snapshots_card(b),
        cards.timeline(b, limit=12, routine=False, compact=True),
    )
    return {"clock": clock, "tls": tls, "pki": pki, "faults": faults, "snapshots": snapshots, "timeline": timeline}


async def _timeline(request: web.Request) -> dict[str, Any]:
    routine = request.query.get("routine") == "on"
    return {"timeline": await cards.timeline(request.app[BACKEND], limit=200, routine=routine)}


async def _journal(request: web.Request) -> dict[str, Any]:
    lab = request.query.get("lab") == "on"
    return {"journal": await cards.journal(request.app[BACKEND], limit=100, lab=lab)}


async def _scenarios(request: web.Request) -> dict[str, Any]:
    return {"scenarios": cards.scenarios_card(request.app[RUNNER], now())}


#: Each page: its template (``<name>.html``) and what it shows.
PAGES: dict[str, Callable[[web.Request], Awaitable[dict[str, Any]]]] = {
    "console": _console,
    "timeline": _timeline,
    "journal": _journal,
    "scenarios": _scenarios,
}
#: Each page's heading (its title and its place in the navigation).
HEADINGS = {"console": "Lab", "timeline": "Timeline", "journal": "Journal", "scenarios": "Scenarios"}
#: Where each card lives (an action answered without htmx goes back there).
PAGE_OF = {"clock": "/", "tls": "/", "pki": "/", "faults": "/", "snapshots": "/", "scenarios": "/scenarios"}


async def page(
    request: web.Request, name: str, override: dict[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    """Page ``name``; ``override`` replaces a card's context (a refused form, shown with its error)."""
    b = request.app[BACKEND]
    ctx = {
        "page": name,
        "heading": HEADINGS[name],
        "top": await cards.clocks(b, ("ssm",)),
        "ssm_portal": f"{b.lab.ssm_url}/",
        "agent_page": f"{b.lab.agent_url}/",
        **await PAGES[name](request),
        **(override or {}),
    }
    return pages.render(f"{name}.html", request, ctx, status=status)


async def console_page(request: web.Request) -> web.Response:
    """The lab console: clock, TLS drill, faults, snapshots and reset, the last events."""
    return await page(request, "console")


async def timeline_page(request: web.Request) -> web.Response:
    """SSM and agent events merged in domain-time order."""
    return await page(request, "timeline")


async def journal_page(request: web.Request) -> web.Response:
    """The SSM's request journal."""
    return await page(request, "journal")


async def scenarios_page(request: web.Request) -> web.Response:
    """The built-in scenarios and the runner."""
    return await page(request, "scenarios")


# -- live fragments ---------------------------------------------------------------------------------


async def live_top(request: web.Request) -> web.Response:
    """The SSM's domain time in the top bar."""
    return pages.fragment("_top.html", request, {"top": await cards.clocks(request.app[BACKEND], ("ssm",))})


async def live_clocks(request: web.Request) -> web.Response:
    """Both processes' clocks."""
    return pages.fragment("_clocks.html", request, {"part": await cards.clocks(request.app[BACKEND])})


async def live_clock_job(request: web.Request) -> web.Response:
    """The advance in progress (or the last one)."""
    return pages.fragment("_clock_job.html", request, {"part": cards.clock_job(request.app[BACKEND], now())})


async def live_tls(request: web.Request) -> web.Response:
    """The TLS drill the SSM serves."""
    return pages.fragment("_tls_now.html", request, {"part": await cards.tls_now(request.app[BACKEND])})


async def live_faults(request: web.Request) -> web.Response:
    """The active faults."""
    return pages.fragment("_fault_list.html", request, {"part": await cards.fault_list(request.app[BACKEND])})


async def live_timeline(request: web.Request, q: TimelineQuery) -> web.Response:
    """The merged timeline, newest first."""
    live = await cards.timeline(
        request.app[BACKEND], limit=q.limit, routine=q.routine == "on", compact=q.compact == "on"
    )
    return pages.fragment("_timeline_rows.html", request, {"part": live})


async def live_journal(request: web.Request, q: JournalQuery) -> web.Response:
    """The journal, newest first."""
    live = await cards.journal(request.app[BACKEND], limit=q.limit, lab=q.lab == "on")
    return pages.fragment("_journal_rows.html", request, {"part": live})


async def live_run(request: web.Request) -> web.Response:
    """The scenario playing (or the last one played), its checks as they come."""
    return pages.fragment("_run.html", request, {"part": cards.run(request.app[RUNNER], now())})


# -- plain answers ------------------------------------------------------------------------------------


async def health(_request: web.Request) -> web.Response:
    """The console answers (the launcher waits for this at start)."""
    return json_response({"status": "ok", "service": "ssmlab lab console"})


async def ca_pem(request: web.Request) -> web.Response:
    """The CA an agent imports to trust the SSM's current TLS drill (from the SSM's lab plane)."""
    tls = await request.app[BACKEND].ssm("GET", "/_lab/tls")
    mode = re.sub(r"[^a-z0-9-]", "", str(tls["mode"]))
    return web.Response(
        text=tls["ca"]["pem"],
        content_type="application/x-pem-file",
        headers={"Content-Disposition": f'attachment; filename="ssmlab-{mode}-ca.pem"'},
    )
