"""The SSM aiohttp application: ``create_app`` wires settings, clock, store and PKI.

No globals: everything a handler needs is reached through ``request.app[keys.X]``. Resources
(the store, background tasks) are owned by cleanup contexts.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from plumbing.clockroutes import add_clock_routes
from plumbing.middleware import request_context
from server import keys
from server.accounts import seed_lab
from server.handlers import device, lab, tlslab
from server.pki_files import LabPki
from server.registry import Registry
from server.settings import ServerSettings
from server.store import Store
from server.timekeeping import save_clock
from server.tls import TlsSwitch
from shared.clock import AnyClock, utc
from shared.logging import get_logger

log = get_logger("ssm.app")

def create_app(
    settings: ServerSettings,
    *,
    clock: AnyClock,
    lab_pki: LabPki,
    store: Store | None = None,
) -> web.Application:
    """Build the SSM application. ``store`` may be given (tests); else it is opened from
    ``settings.db_path`` when the app starts and closed when it stops. Serve it with
    ``app[keys.TLS].context``: the TLS drills switch that context's certificate."""
    app = web.Application(middlewares=[request_context("ssm.http")], client_max_size=settings.max_body)
    app[keys.SETTINGS] = settings
    app[keys.CLOCK] = clock
    app[keys.TLS] = TlsSwitch(lab_pki)

    async def storage(app: web.Application) -> AsyncIterator[None]:
        own = store is None
        st = store or await Store.open(settings.db_path)
        app[keys.STORE] = st
        await seed_lab(st, clock.now())
        await save_clock(st, clock)
        await tlslab.restore(st, app[keys.TLS])
        app[keys.REGISTRY] = Registry(store=st, clock=clock, policy=settings.policy, lab_pki=lab_pki)
        yield
        if own:
            await st.close()

    async def housekeeping(app: web.Application) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(_prune_nonces(app), name="prune-nonces"),
            asyncio.create_task(_watch(app), name="watch"),
        ]
        app[keys.CLOCK].track(tasks[1])
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.cleanup_ctx.append(storage)
    app.cleanup_ctx.append(housekeeping)

    device.add_routes(app)
    app.router.add_get("/_lab/health", lab.health)

    async def persist_clock(c: AnyClock) -> None:
        await save_clock(app[keys.STORE], c)

    add_clock_routes(app, clock, persist_clock)
    app.router.add_get("/_lab/events", lab.events)
    app.router.add_get("/_lab/outbox", lab.outbox)
    app.router.add_get("/_lab/instances", lab.instances)
    app.router.add_get("/_lab/pools", lab.pools)
    app.router.add_post("/_lab/instances/{piid}/remove", lab.remove_instance)
    tlslab.add_routes(app)
    return app


NONCE_PRUNE_SECONDS = 60.0
#: With nothing to watch, look again after this much domain time (a new instance wakes it sooner).
IDLE_WATCH = timedelta(days=365)


async def _watch(app: web.Application) -> None:
    """Raise the alerts of silent instances at their due instants (domain time)."""
    clock = app[keys.CLOCK]
    registry = app[keys.REGISTRY]
    while True:
        registry.watch_changed.clear()
        try:
            await registry.run_watch(clock.now())
        except Exception:
            log.exception("watch_failed")
        nxt = await registry.next_watch()
        target = utc(nxt) if nxt is not None else clock.now() + IDLE_WATCH
        await clock.sleep_until(target, interrupt=registry.watch_changed)


async def _prune_nonces(app: web.Application) -> None:
    """Forget request nonces older than the freshness window (a stale request is refused
    anyway). Housekeeping, so it runs on real time: a domain-time timer would wake at every
    window of a year-long virtual-clock jump."""
    clock = app[keys.CLOCK]
    registry = app[keys.REGISTRY]
    while True:
        await asyncio.sleep(NONCE_PRUNE_SECONDS)
        try:
            await registry.prune_nonces(clock.now())
        except Exception:
            log.exception("prune_nonces_failed")
