"""The page's GET routes: the picker (the License Compliance report), one instance's License
Management page, and the live fragments the pages poll (the Connection page is in ``connection``).

A live fragment answers 204 while its rendering is unchanged (``pages.fragment``); it carries
the banner, the Alerts button and the domain time as out-of-band swaps, so one request a second
keeps the whole page current.
"""

from __future__ import annotations

from aiohttp import web

from agent.instance import InstanceRunner
from agent.keys import AGENT
from agent.web import context
from agent.web.respond import Flash
from plumbing.web import pages


def runner_of(request: web.Request) -> InstanceRunner:
    """The instance the path names (``NotFound`` naming the ones this agent hosts)."""
    return request.app[AGENT].runner(request.match_info["name"])


async def home(request: web.Request) -> web.Response:
    """One instance: its page; several: the picker."""
    agent = request.app[AGENT]
    if len(agent.runners) == 1:
        raise web.HTTPFound(f"/instances/{next(iter(agent.runners))}")
    ctx = {**context.picker(agent), "title": "Product instances", "section": "picker", "alerts_href": "#alerts"}
    return pages.render("picker.html", request, ctx)


async def compliance(request: web.Request) -> web.Response:
    """The License Compliance report ("Learn More" on the banner)."""
    ctx = {**context.picker(request.app[AGENT]), "section": "compliance", "alerts_href": "#alerts"}
    return pages.render("picker.html", request, {**ctx, "title": "License Compliance report"})


async def picker_live(request: web.Request) -> web.Response:
    return pages.fragment("picker_live.html", request, context.picker(request.app[AGENT]))


async def instance_page(request: web.Request, flash: Flash | None = None) -> web.Response:
    """Overview > Infrastructure Settings > License Management, for one product instance."""
    agent = request.app[AGENT]
    runner = runner_of(request)
    ctx = {
        **context.instance(agent, runner),
        "flash": flash,
        "title": f"License Management — {runner.name}",
        "section": "instance",
        "alerts_href": "#alerts",
    }
    return pages.render("instance.html", request, ctx)


async def instance_live(request: web.Request) -> web.Response:
    return pages.fragment("live.html", request, context.live(request.app[AGENT], runner_of(request)))


async def chrome_live(request: web.Request) -> web.Response:
    """The banner, the Alerts button and the domain time alone (the Connection page)."""
    return pages.fragment("chrome_live.html", request, context.chrome(request.app[AGENT]))
