"""The request log line: every request is logged at info, except a page polling a live fragment
that has not changed (GET answered 204, every second per open page), logged at debug."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from structlog.testing import capture_logs

from plumbing.web.middleware import request_context


async def test_unchanged_polls_are_debug_and_the_rest_info(aiohttp_client: Any) -> None:
    async def unchanged(_: web.Request) -> web.Response:
        return web.Response(status=204)

    async def page(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(middlewares=[request_context("test.http")])
    app.router.add_get("/live", unchanged)
    app.router.add_get("/page", page)
    app.router.add_post("/live", unchanged)
    client = await aiohttp_client(app)
    with capture_logs() as logs:
        for method, path in (("GET", "/live"), ("GET", "/page"), ("POST", "/live")):
            assert (await client.request(method, path)).status in (200, 204)
    levels = [(e["method"], e["path"], e["log_level"]) for e in logs if e["event"] == "request"]
    assert levels == [("GET", "/live", "debug"), ("GET", "/page", "info"), ("POST", "/live", "info")]
