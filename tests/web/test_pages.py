"""The pages' shared plumbing: templates escape what they show, htmx and the stylesheet come from
the package, a foreign Host is refused (DNS rebinding), a state-changing request needs the page's
CSRF token, a live fragment answers 204 while nothing changed — and a real browser uses it all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from plumbing.web import pages
from plumbing.web.routes import Plane, Route, install
from plumbing.web.serve import start
from tests.web.conftest import Shoot

PAGE = """{% extends "base.html" %}
{% from "macros.html" import pill %}
{% block main %}
<h1>Hello {{ name }}</h1>
{{ pill("Out of Compliance") }}
<div id="count" {{ "" }}hx-get="/frag" hx-trigger="every 200ms">{% include "frag.html" %}</div>
<button hx-post="/bump" hx-target="#count" id="bump">Bump</button>
{% endblock %}
"""


@pytest.fixture
async def site(tmp_path: Path) -> Any:
    (tmp_path / "page.html").write_text(PAGE)
    (tmp_path / "frag.html").write_text("<span>{{ n }}</span>")
    state = {"n": 0, "name": "<script>alert(1)</script>"}

    async def home(request: web.Request) -> web.Response:
        return pages.render("page.html", request, {"name": state["name"], "n": state["n"]})

    async def frag(request: web.Request) -> web.Response:
        return pages.fragment("frag.html", request, {"n": state["n"]})

    async def bump(request: web.Request) -> web.Response:
        state["n"] += 1
        return pages.render("frag.html", request, {"n": state["n"]})

    app = web.Application(middlewares=[pages.guard(["127.0.0.1"])])
    pages.setup(app, tmp_path)
    install(
        app,
        [
            Route("GET", "/", home, Plane.WEB),
            Route("GET", "/frag", frag, Plane.WEB),
            Route("POST", "/bump", bump, Plane.WEB),
            *pages.STATIC_ROUTES,
        ],
    )
    runner, port = await start(app, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        await runner.cleanup()


async def test_the_guards_without_a_browser(site: Any) -> None:
    url, state = site
    async with aiohttp.ClientSession() as s:
        async with s.get(url + "/") as r:
            html = await r.text()
            assert r.status == 200 and "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert" not in html
            assert r.headers["X-Frame-Options"] == "DENY"
            assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        async with s.get(url + "/", headers={"Host": "attacker.example:80"}) as r:
            assert r.status == 421 and "host_not_served" in await r.text()
        async with s.post(url + "/bump") as r:
            assert r.status == 403 and "csrf_token_missing" in await r.text()
        async with s.post(url + "/bump", headers={"X-CSRF-Token": "forged"}) as r:
            assert r.status == 403
        assert state["n"] == 0  # nothing changed by a refused request
        async with s.get(url + "/static/htmx.min.js") as r:
            assert r.status == 200 and "htmx" in (await r.text())[:200]
        # every page names its icon, so a browser does not ask for /favicon.ico (a JSON 404)
        assert '<link rel="icon" href="/static/favicon.svg"' in html
        async with s.get(url + "/static/favicon.svg") as r:
            assert r.status == 200 and r.content_type == "image/svg+xml"
        async with s.get(url + "/static/..%2Fpages.py") as r:
            assert r.status == 404
        async with s.get(url + "/frag") as r:
            tag = r.headers["ETag"]
        async with s.get(url + "/frag", headers={"If-None-Match": tag}) as r:
            assert r.status == 204


async def test_a_browser_posts_with_the_token_and_the_page_updates_itself(site: Any, page: Any, shoot: Shoot) -> None:
    url, state = site
    from playwright.async_api import expect

    await page.goto(url + "/")
    await page.click("#bump")
    await expect(page.locator("#count")).to_have_text("1")
    state["n"] = 41  # changed behind the page's back: the live fragment shows it within a second
    await expect(page.locator("#count")).to_have_text("41", timeout=3000)
    assert await page.inner_text("h1") == "Hello <script>alert(1)</script>"
    await shoot(page, "pages")
