"""The SSM portal: Cisco's Smart Software Licensing pages, served by ``ssm-server`` at ``/`` (a
cloud SSM on its one listener; an On-Prem on its admin listener, as its Licensing workspace).

Pages (``Plane.WEB`` routes, server-rendered templates in ``templates/``, live lists polled as
fragments that answer 204 while unchanged):

- ``alerts``: the Smart Account's alerts from the outbox (``outbox`` reads them);
- ``general``, ``licenses`` (with ``chart`` and ``subscriptions``), ``instances``, ``events``: Inventory's four tabs;
- ``vaccounts``: virtual accounts; ``reservations``: Specific License Reservation;
- ``sync``: an On-Prem's synchronization with the cloud;
- ``reports`` (with ``consumptionchart``): the License Consumption report, its chart and CSV.

Every module under ~400 lines; ``common`` holds what they share. No rule is decided here: each
action calls the service the CLI and the admin API call, and a refusal shows the same code,
message and fix.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
from aiohttp import web

from plumbing.web import pages
from plumbing.web.routes import Plane, Route
from server.pki_files import LabPki
from server.settings import ServerSettings
from server.tlsdrills import lab_hosts
from server.web import (
    alerts,
    events,
    general,
    instances,
    licenses,
    reports,
    reservations,
    subscriptions,
    sync,
    vaccounts,
)
from shared.clock import utc

TEMPLATES = Path(__file__).parent / "templates"
W = Plane.WEB


async def home(request: web.Request) -> web.Response:
    """``/``: the Inventory of the picked virtual account."""
    query = f"?{request.query_string}" if request.query_string else ""
    raise web.HTTPSeeOther("/inventory/general" + query)


ROUTES: list[Route] = [
    Route("GET", "/", home, W),
    Route("GET", "/fragments/clock", alerts.clock, W),
    Route("GET", "/alerts", alerts.page_alerts, W),
    Route("GET", "/fragments/alerts", alerts.fragment, W),
    Route("GET", "/inventory/general", general.general, W),
    Route("GET", "/fragments/tokens", general.tokens_fragment, W),
    Route("POST", "/inventory/tokens", general.create_token, W),
    Route("POST", "/inventory/tokens/{token_id}/revoke", general.revoke_token, W),
    Route("GET", "/inventory/licenses", licenses.licenses_page, W),
    Route("GET", "/fragments/licenses", licenses.table_fragment, W),
    Route("GET", "/fragments/charts", licenses.charts_fragment, W),
    Route("POST", "/inventory/licenses", licenses.add, W),
    Route("POST", "/inventory/subscriptions/{subscription}/renew", subscriptions.renew, W),
    Route("GET", "/inventory/instances", instances.listing, W),
    Route("GET", "/fragments/instances", instances.listing_fragment, W),
    Route("GET", "/inventory/instances/{piid}", instances.details, W),
    Route("GET", "/fragments/instances/{piid}", instances.details_fragment, W),
    Route("POST", "/inventory/instances/{piid}/remove", instances.remove, W),
    Route("POST", "/inventory/instances/{piid}/transfer", instances.transfer, W),
    Route("GET", "/inventory/events", events.event_log, W),
    Route("GET", "/fragments/events", events.fragment, W),
    Route("GET", "/virtual-accounts", vaccounts.listing, W),
    Route("GET", "/fragments/virtual-accounts", vaccounts.fragment, W),
    Route("POST", "/virtual-accounts", vaccounts.create, W),
    Route("GET", "/reservations", reservations.listing, W),
    Route("GET", "/fragments/reservations", reservations.fragment, W),
    Route("GET", "/reservations/new", reservations.wizard, W),
    Route("POST", "/reservations/new/licenses", reservations.choose, W),
    Route("POST", "/reservations/new/code", reservations.generate, W),
    Route("GET", "/reservations/{rid}/authorization-code", reservations.download, W),
    Route("POST", "/reservations/confirm", reservations.confirm, W),
    Route("POST", "/reservations/return", reservations.give_back, W),
    Route("GET", "/reports/consumption", reports.consumption_page, W),
    Route("GET", "/reports/consumption.csv", reports.consumption_csv, W),
    Route("GET", "/synchronization", sync.status_page, W),
    Route("GET", "/fragments/synchronization", sync.fragment, W),
    Route("POST", "/synchronization/now", sync.now_, W),
    Route("POST", "/synchronization/request", sync.request_file, W),
    Route("POST", "/synchronization/response", sync.response_file, W),
    *pages.STATIC_ROUTES,
]


def _instant(value: int | None) -> str:
    """A domain instant stored as epoch seconds, as the pages show instants."""
    return "—" if value is None else utc(value).strftime("%Y-%m-%d %H:%M UTC")


def setup(app: web.Application) -> None:
    """The portal's templates (before the shared ones) and its filters."""
    pages.setup(app, TEMPLATES)
    aiohttp_jinja2.get_env(app).filters["instant"] = _instant


def hosts(settings: ServerSettings, lab_pki: LabPki) -> list[str]:
    """The names a browser may reach the portal by: the addresses the SSM binds and the names of
    its certificate (a page served under any other Host is refused: DNS rebinding)."""
    names = [settings.host, settings.admin_host, *lab_hosts(lab_pki)]
    return [f"[{n}]" if ":" in n else n for n in names if n not in ("0.0.0.0", "::", "")]  # noqa: S104
