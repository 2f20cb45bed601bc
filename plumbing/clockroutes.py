"""``GET/POST /_lab/clock`` for any process that owns a clock."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from plumbing.body import read_body
from plumbing.middleware import json_response
from shared import clockctl
from shared.clock import AnyClock

Persist = Callable[[AnyClock], Awaitable[None]]


def add_clock_routes(app: web.Application, clock: AnyClock, persist: Persist) -> None:
    """Serve the clock; ``persist`` is awaited after every change (so restarts continue)."""

    async def get_clock(_request: web.Request) -> web.Response:
        return json_response(clockctl.view(clock))

    async def post_clock(request: web.Request) -> web.Response:
        cmd = clockctl.decode_command(await read_body(request, limit=4096))
        result = await clockctl.apply(clock, cmd)
        await persist(clock)
        return json_response(result)

    app.router.add_get("/_lab/clock", get_clock)
    app.router.add_post("/_lab/clock", post_clock)
