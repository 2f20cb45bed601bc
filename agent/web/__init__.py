"""The product's "Smart License Management" page (Unified CCE Administration: Overview >
Infrastructure Settings > License Management), served by ``smart-agent`` at ``/`` of its local
API listener: one page per product instance, a picker (the License Compliance report) when it
hosts several, and the Connection page (Transport Settings, diagnosis, truststore).

- ``views``: the GET routes and the live fragments they poll;
- ``actions``: the instance's actions (Register, License Type, the Action menu, Specific License
  Reservation, the lab's usage input);
- ``connection``: Transport Settings, diagnose, the truststore;
- ``context``: what the templates show, gathered from the agent (no rule decided here);
- ``respond``: reading forms and answering htmx or a plain form post.

Every action goes through ``agent.daemon.Agent`` and ``agent.instance.InstanceRunner``, the
methods the JSON local API calls. ``ROUTES`` is the page's route table (``Plane.WEB``);
``agent.api.create_api`` installs it with ``plumbing.web.pages`` (templates, guard, static files).
Must not import ``agent.api``.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from agent.web import actions, connection, views
from plumbing.web import pages
from plumbing.web.routes import Plane, Route, route_of
from shared.clock import utc
from shared.errors import SmartLicensingError

TEMPLATES = Path(__file__).parent / "templates"

W = Plane.WEB
ONE = "/instances/{name}"

#: The page's route table.
ROUTES: list[Route] = [
    Route("GET", "/", views.home, W),
    Route("GET", "/compliance", views.compliance, W),
    Route("GET", "/live", views.picker_live, W),
    Route("GET", "/live/chrome", views.chrome_live, W),
    Route("GET", ONE, views.instance_page, W),
    Route("GET", ONE + "/live", views.instance_live, W),
    Route("POST", ONE + "/register", actions.register, W),
    Route("POST", ONE + "/reregister", actions.reregister, W),
    Route("POST", ONE + "/renew-authorization", actions.renew_authorization, W),
    Route("POST", ONE + "/renew-registration", actions.renew_registration, W),
    Route("POST", ONE + "/deregister", actions.deregister, W),
    Route("POST", ONE + "/license-type", actions.license_type, W),
    Route("POST", ONE + "/usage", actions.usage, W),
    Route("POST", ONE + "/agents", actions.add_agents, W),
    Route("POST", ONE + "/enable", actions.enable, W),
    Route("POST", ONE + "/serial", actions.serial, W),
    Route("POST", ONE + "/reservation/request", actions.reservation_request, W),
    Route("POST", ONE + "/reservation/install", actions.reservation_install, W),
    Route("POST", ONE + "/reservation/return", actions.reservation_return, W),
    Route("POST", ONE + "/reservation/cancel", actions.reservation_cancel, W),
    Route("GET", "/connection", connection.connection_page, W),
    Route("POST", "/transport", connection.transport, W),
    Route("POST", "/diagnose", connection.diagnose, W),
    Route("POST", "/trust", connection.trust_import, W),
    Route("POST", "/trust/{alias}/remove", connection.trust_remove, W),
]


def setup(app: web.Application) -> None:
    """The page's templates (before the shared ones) and the filter ``instant``: an instant
    stored as epoch seconds, shown as ``when`` shows the others."""
    pages.setup(app, TEMPLATES)
    env = aiohttp_jinja2.get_env(app)
    when = env.filters["when"]
    env.filters["instant"] = lambda ts: when(utc(ts) if ts is not None else None)


def listener_names(host: str) -> list[str]:
    """The Host names the page answers to: the listener's address (IPv6 in brackets, as a Host
    header carries it); the guard adds the loopback names."""
    return [f"[{host.strip('[]')}]" if ":" in host else host]


@web.middleware
async def refusals(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A page route's refusal (an unknown instance, say) as a page with its code and fix, not JSON."""
    try:
        return await handler(request)
    except SmartLicensingError as err:
        route = route_of(request)
        if route is None or route.plane is not Plane.WEB:
            raise
        return pages.render("refused.html", request, {"error": err, "title": "Refused"}, status=err.http_status)


def middlewares(host: str) -> list[Middleware]:
    """The page's middlewares, inside the API's request context: the guard, then refusals as pages."""
    return [pages.guard(listener_names(host)), refusals]
