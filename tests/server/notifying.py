"""Helpers of the notification and webhook tests: an SSM served with ``--smtp`` settings, a webhook
receiver that verifies signatures, and the lab's mail catcher in the test's loop. Loopback only."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from lab import mailcatcher
from plumbing.web import serve
from server import keys
from server.app import create_app
from server.notify.dispatcher import Dispatcher
from server.pki_files import LabPki
from server.settings import ServerSettings
from server.store import Store
from server.store.location import PgUrl
from shared import delivery
from shared.clock import epoch
from shared.errors import Unauthorized
from shared.policy import DEFAULT_POLICY


@dataclass
class Served:
    url: str
    store: Store
    app: web.Application

    @property
    def dispatcher(self) -> Dispatcher:
        return self.app[keys.DISPATCHER]


@contextlib.asynccontextmanager
async def serve_notifying(
    db: Path | PgUrl, clock: Any, lab_pki: LabPki, certs: Path, *, smtp: tuple[str, int] | None = None
) -> AsyncIterator[Served]:
    """A cloud SSM like the ``ssm`` fixture's, with its outbound settings (``--smtp``, the lab CA)."""
    store = await Store.open(db)
    try:
        settings = ServerSettings(db_path=db, certs=certs, policy=DEFAULT_POLICY, smtp=smtp)
        app = create_app(settings, clock=clock, lab_pki=lab_pki, store=store)
        runner, port = await serve.start(app, "127.0.0.1", 0, ssl_context=app[keys.TLS].context)
        try:
            yield Served(f"https://127.0.0.1:{port}", store, app)
        finally:
            await runner.cleanup()
    finally:
        await store.close()


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verdict: str  # "ok" or the refusal's code

    @property
    def event(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value


@dataclass
class Receiver:
    """A webhook endpoint on loopback: verifies each call's signature against ``secret`` and
    ``now()`` (the SSM's domain time), answers the next of ``script`` (then 200)."""

    now: Callable[[], int]
    secret: str = ""
    script: list[int] = field(default_factory=list)
    calls: list[Received] = field(default_factory=list)
    url: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        try:
            delivery.verify(request.headers.get(delivery.SIGNATURE_HEADER, ""), body, self.secret, now=self.now())
            verdict = "ok"
        except Unauthorized as err:
            verdict = err.code
        self.calls.append(Received(dict(request.headers), body, verdict))
        self.arrived.set()
        if verdict != "ok":
            return web.json_response({"error": verdict}, status=400)
        status = self.script.pop(0) if self.script else 200
        return web.json_response({"received": status < 300}, status=status)

    def good(self) -> list[Received]:
        return [c for c in self.calls if c.verdict == "ok"]

    async def wait(self, count: int, *, timeout: float = 10.0) -> None:
        """Until ``count`` calls arrived (real time)."""
        async with asyncio.timeout(timeout):
            while len(self.calls) < count:
                self.arrived.clear()
                await self.arrived.wait()


@contextlib.asynccontextmanager
async def receiver(clock: Any) -> AsyncIterator[Receiver]:
    r = Receiver(now=lambda: epoch(clock.now()))
    app = web.Application()
    app.router.add_post("/hook", r.handle)
    runner, port = await serve.start(app, "127.0.0.1", 0)
    r.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield r
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def catcher(
    certs: Path | None, *, port: int = 0, require_starttls: bool = False, maildir: Path | None = None
) -> AsyncIterator[tuple[mailcatcher.Handler, int]]:
    """The lab's mail catcher in this loop (STARTTLS offered with the lab PKI when ``certs``)."""
    handler = mailcatcher.Handler(maildir)
    tls = mailcatcher.server_tls(certs) if certs else None
    server, bound = await mailcatcher.start(handler, "127.0.0.1", port, tls=tls, require_starttls=require_starttls)
    try:
        yield handler, bound
    finally:
        server.close()
        await server.wait_closed()


async def until(check: Callable[[], Any], *, timeout: float = 10.0) -> Any:
    """Poll ``check`` (sync or async) in real time until it returns something truthy."""
    async with asyncio.timeout(timeout):
        while True:
            value = check()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(0.05)
