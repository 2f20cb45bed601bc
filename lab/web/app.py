"""The lab console's application: its route table (the web plane, plus a probe), the page guards,
and the backend and scenario runner it owns (started and stopped with it).

It binds loopback only; every route but the probe goes through ``pages.guard`` (the Host must be
this listener's, a state-changing request must come from the page with its CSRF token).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp_jinja2
from aiohttp import web
from aiohttp.typedefs import Handler
from markupsafe import escape

from lab.processes import Lab
from lab.web import actions, cards, views
from lab.web.backend import Backend
from lab.web.keys import BACKEND, RUNNER
from lab.web.runner import Runner
from plumbing.clients.lab import LabError
from plumbing.web import pages
from plumbing.web.middleware import request_context
from plumbing.web.routes import Plane, Route, install

TEMPLATES = Path(__file__).parent / "templates"
W = Plane.WEB
act = actions.action

#: The console's route table.
ROUTES: list[Route] = [
    Route("GET", "/_lab/health", views.health, Plane.PROBE),
    Route("GET", "/", views.console_page, W),
    Route("GET", "/timeline", views.timeline_page, W),
    Route("GET", "/journal", views.journal_page, W),
    Route("GET", "/scenarios", views.scenarios_page, W),
    Route("GET", "/tls/ca.pem", views.ca_pem, W),
    Route("GET", "/live/top", views.live_top, W),
    Route("GET", "/live/clocks", views.live_clocks, W),
    Route("GET", "/live/clock-job", views.live_clock_job, W),
    Route("GET", "/live/tls", views.live_tls, W),
    Route("GET", "/live/faults", views.live_faults, W),
    Route("GET", "/live/timeline", views.live_timeline, W, query=views.TimelineQuery),
    Route("GET", "/live/journal", views.live_journal, W, query=views.JournalQuery),
    Route("GET", "/live/run", views.live_run, W),
    Route("POST", "/clock/advance", act("clock", actions.advance), W),
    Route("POST", "/clock/stop", act("clock", actions.stop_advance), W),
    Route("POST", "/clock/rate", act("clock", actions.set_rate), W),
    Route("POST", "/tls", act("tls", actions.set_tls), W),
    Route("POST", "/mtls", act("pki", actions.set_mtls), W),
    Route("POST", "/id-cert", act("pki", actions.id_cert), W),
    Route("POST", "/pki/rollover", act("pki", actions.start_rollover), W),
    Route("POST", "/pki/cutover", act("pki", actions.cutover), W),
    Route("POST", "/faults", act("faults", actions.add_fault), W),
    Route("POST", "/faults/clear", act("faults", actions.clear_faults), W),
    Route("POST", "/faults/{id}/remove", act("faults", actions.remove_fault), W),
    Route("POST", "/snapshots/save", act("snapshots", actions.save_snapshot), W),
    Route("POST", "/snapshots/load", act("snapshots", actions.load_snapshot), W),
    Route("POST", "/reset", act("snapshots", actions.reset), W),
    Route("POST", "/scenarios/run", act("scenarios", actions.run_scenario), W),
    Route("POST", "/scenarios/stop", act("scenarios", actions.stop_scenario), W),
    *pages.STATIC_ROUTES,
]
#: Form posts are small: a fault's fields at most.
MAX_FORM = 16 * 1024


@web.middleware
async def unreachable(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A process the console cannot reach (or that refuses a read) answers a page saying so, not a 500."""
    try:
        return await handler(request)
    except LabError as exc:
        page = (
            "<!doctype html><html lang=en><meta charset=utf-8><title>Lab unreachable</title>"
            f"<h1>502 {escape(exc.code or 'lab_error')}</h1><p>{escape(exc.message)}</p>"
            f"<p><strong>Fix:</strong> {escape(exc.fix or 'start the lab: ssmlab up')}</p></html>"
        )
        return web.Response(text=page, status=502, content_type="text/html")


def csrf_token(folder: Path) -> str:
    """The pages' CSRF token, kept in the lab folder (mode 0600): a tab left open while the lab
    restarts still works, instead of every button failing on a token it cannot know is stale."""
    path = folder / "console-csrf"
    token = path.read_text().strip() if path.exists() else ""
    if len(token) < 32:
        token = secrets.token_urlsafe(32)
        with os.fdopen(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600), "w") as f:
            f.write(token)
    return token


def create_app(lab: Lab, *, certs: Path | None = None) -> web.Application:
    """The console of ``lab`` (its scenarios' private labs use ``certs``, by default the lab's)."""
    app = web.Application(
        middlewares=[request_context("lab.console"), pages.guard(["127.0.0.1", "localhost"]), unreachable],
        client_max_size=MAX_FORM,
    )
    pages.setup(app, TEMPLATES)
    aiohttp_jinja2.get_env(app).filters["rate"] = cards.rate_words
    app[pages.CSRF] = csrf_token(lab.folder)
    app[BACKEND] = Backend(lab)
    app[RUNNER] = Runner(certs or lab.certs)

    async def jobs(app: web.Application) -> AsyncIterator[None]:
        yield
        await app[RUNNER].close()
        await app[BACKEND].close()

    app.cleanup_ctx.append(jobs)
    install(app, ROUTES)
    return app
