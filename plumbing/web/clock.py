"""``GET/POST /_lab/clock`` for any process that owns a clock (a lab-plane route table)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from plumbing.web.middleware import json_response
from plumbing.web.routes import LAB_TYPES, Body, Plane, Route
from shared import clockctl
from shared.clock import AnyClock

Persist = Callable[[AnyClock], Awaitable[None]]

#: JSON, also as ``curl -d`` sends it (a form type).
COMMAND = Body(
    clockctl.ClockCommand,
    limit=4096,
    types=LAB_TYPES,
    malformed=clockctl.INVALID,
    invalid=clockctl.INVALID,
    fix=clockctl.FIX,
)


def clock_routes(clock: AnyClock, persist: Persist) -> list[Route]:
    """Serve the clock; ``persist`` is awaited after every change (so restarts continue)."""

    async def get_clock(_request: web.Request) -> web.Response:
        """The process's clock: now, kind, rate, next timer."""
        return json_response(clockctl.view(clock))

    async def post_clock(_request: web.Request, cmd: clockctl.ClockCommand) -> web.Response:
        """Advance the clock, move it to an instant, or set its rate."""
        result = await clockctl.apply(clock, cmd)
        await persist(clock)
        return json_response(result)

    return [
        Route("GET", "/_lab/clock", get_clock, Plane.LAB),
        Route("POST", "/_lab/clock", post_clock, Plane.LAB, body=COMMAND),
    ]
