"""The SSM aiohttp application: ``create_app`` wires settings, clock, store and PKI.

No globals: everything a handler needs is reached through ``request.app[keys.X]``. Resources
(the store, background tasks) are owned by cleanup contexts.

Planes are route tables (``plumbing.web.routes``): the device plane (``server.device``), the admin
API (``server.admin``), the lab plane (``server.lab`` and the clock), the portal's pages
(``server.web``). A listener serves a set of
planes: a cloud SSM all of them on one; an SSM On-Prem the device plane on its device listener and
the rest on its admin listener (``LISTENER_PLANES``), decided by each route's declared plane.

Modes: a cloud SSM answers the device plane at ``/licservice/license``; an SSM On-Prem at
``/SmartTransport`` (each answers 404 on the other's paths, so a wrong URL is a real drill).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from plumbing.clients.lab import CLIENT_CERT_FILE
from plumbing.web import pages, serve
from plumbing.web import routes as plumbing_routes
from plumbing.web.clock import clock_routes
from plumbing.web.guard import LabAccess, lab_guard
from plumbing.web.middleware import request_context
from plumbing.web.routes import Plane
from server import admin, deployment, device, keys, lab, onprem, watch, workers
from server import web as portal
from server.admin import routing
from server.apiclients import Authority
from server.lab import journal
from server.lab import rollover as lab_rollover
from server.lab import tls as tlslab
from server.lab.state import LAB, LabState
from server.mtls import DeviceMtls
from server.notify import senders
from server.notify.dispatcher import Dispatcher
from server.pki_files import LabPki
from server.registry import Registry
from server.rollover import Rollover
from server.settings import ServerSettings
from server.store import Store
from server.timekeeping import save_clock
from server.tls import TlsSwitch
from shared import lifecycle
from shared.clock import AnyClock, ScaledClock, epoch, utc
from shared.errors import NotFound, SmartLicensingError
from shared.logging import get_logger

log = get_logger("ssm.app")

#: The planes each listener of an On-Prem serves (a cloud SSM serves every plane on one listener).
DEVICE_PLANES = frozenset({Plane.DEVICE, Plane.PROBE})
ADMIN_PLANES = frozenset({Plane.ADMIN, Plane.LAB, Plane.WEB, Plane.PROBE})


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
    listeners = keys.Listeners(settings.port, settings.admin_port)
    middlewares = [request_context("ssm.http"), lab_guard(LabAccess(settings.lab_token))]
    if settings.admin_port is not None:
        middlewares.append(_plane_guard(listeners))
    middlewares.append(pages.guard(portal.hosts(settings, lab_pki)))
    if settings.workers > 1:
        middlewares.append(workers.guard(settings.workers))
    middlewares.append(journal.middleware())
    middlewares.append(routing.api_middleware())
    app = web.Application(middlewares=middlewares, client_max_size=settings.max_body)
    app[keys.SETTINGS] = settings
    app[keys.LISTENERS] = listeners
    app[LAB] = LabState()
    app[keys.CLOCK] = clock
    app[keys.SYNC_POKE] = asyncio.Event()
    app[keys.TLS] = TlsSwitch(
        lab_pki, operator=settings.db_path.parent / CLIENT_CERT_FILE, device_mtls=settings.device_mtls
    )
    app[serve.SERVER] = serve.ServerRef()
    app[keys.AUTHORITY] = Authority(lab_pki, settings.mode)
    app[keys.ROLLOVER] = Rollover(lab_pki.paths.root)

    async def storage(app: web.Application) -> AsyncIterator[None]:
        own = store is None
        st = store or await Store.open(settings.db_path)
        app[keys.STORE] = st
        # The store says what kind of SSM it is; a database of the other kind is refused.
        await deployment.claim(st, deployment.Kind(settings.mode), clock.now(), sync=deployment.SyncMode(settings.sync))
        await save_clock(st, clock)
        await tlslab.restore(st, app[keys.TLS])
        app[keys.REGISTRY] = registry = Registry(
            store=st,
            clock=clock,
            policy=settings.policy,
            lab_pki=lab_pki,
            mtls=DeviceMtls(enabled=settings.device_mtls),
        )
        await registry.ctx.mtls.load(st)
        await app[keys.ROLLOVER].load(st)
        yield
        if isinstance(clock, ScaledClock):
            clock.rebase()  # record the domain time reached: a restart resumes from here
            await save_clock(st, clock)
        if own:
            await st.close()

    async def housekeeping(app: web.Application) -> AsyncIterator[None]:
        smtp = senders.Smtp(*settings.smtp, settings.smtp_from) if settings.smtp else None
        tls = senders.outbound_tls(settings.certs)
        app[keys.DISPATCHER] = Dispatcher(app[keys.STORE], app[keys.CLOCK], smtp=smtp, tls=tls)
        tasks: list[asyncio.Task[None]] = []

        def start() -> None:
            tracked = [
                asyncio.create_task(_watch(app), name="watch"),
                asyncio.create_task(app[keys.DISPATCHER].run(), name="deliveries"),
            ]
            if settings.mode == "onprem" and settings.sync == "connected":
                tracked.append(asyncio.create_task(_sync_loop(app), name="sync"))
            for task in tracked:
                app[keys.CLOCK].track(task)
            outside = watch.outside_changes(app[keys.REGISTRY].ctx, app[keys.REGISTRY].poke_watch)
            tasks.extend(
                [
                    asyncio.create_task(_prune_nonces(app), name="prune-nonces"),
                    asyncio.create_task(outside, name="outside-changes"),
                    *tracked,
                ]
            )
            lab_rollover.schedule(app)  # a rollover in its overlap cuts over at its planned instant

        if await app[keys.STORE].lead_housekeeping():
            start()
        else:  # another machine's SSM keeps house for this PostgreSQL database: take over if it stops
            tasks.append(asyncio.create_task(_await_lead(app, start), name="await-housekeeping"))
        yield
        await app[keys.ROLLOVER].stop()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.cleanup_ctx.append(storage)
    if settings.worker == 0:  # with --workers, the first process alone keeps house
        app.cleanup_ctx.append(housekeeping)
    if settings.workers > 1:
        workers.name_worker(app, settings.worker)

    async def persist_clock(c: AnyClock) -> None:
        await save_clock(app[keys.STORE], c)

    routes = [
        *device.routes(settings.mode),
        *lab.ROUTES,
        *(lab.ONPREM_ROUTES if settings.mode == "onprem" else ()),
        *clock_routes(clock, persist_clock),
        *admin.ROUTES,
        *portal.ROUTES,
    ]
    portal.setup(app)
    plumbing_routes.install(app, routes, limit=settings.max_body)
    routing.install(app)
    return app


def _plane_guard(listeners: keys.Listeners) -> Middleware:
    """On an On-Prem, each listener serves its planes only (by the route's declared plane)."""

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = plumbing_routes.route_of(request)
        if route is None:
            return await handler(request)
        sock = request.transport.get_extra_info("sockname") if request.transport else None
        port = sock[1] if sock else None
        if port == listeners.admin and route.plane not in ADMIN_PLANES:
            raise NotFound(
                f"{request.path} is not served on the admin listener",
                code="not_found",
                fix=f"device requests go to the device listener (port {listeners.device})",
            )
        if port == listeners.device and route.plane not in DEVICE_PLANES:
            raise NotFound(
                f"{request.path} is served on the admin listener only",
                code="not_found",
                fix=f"use the admin listener (port {listeners.admin})",
            )
        return await handler(request)

    return guard


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


async def _await_lead(app: web.Application, start: Callable[[], None]) -> None:
    """Ask again every few (real) seconds whether this process may keep house now."""
    while True:
        if await app[keys.STORE].lead_housekeeping():
            start()
            return
        await asyncio.sleep(5)  # (a lock held by another machine's process: nothing here to wait on)


async def _sync_loop(app: web.Application) -> None:
    """Connected mode: synchronize with the cloud every ``sync_interval`` (domain time), backing
    off after failures. ``POST /_lab/sync`` synchronizes at once and pokes this loop."""
    clock = app[keys.CLOCK]
    settings = app[keys.SETTINGS]
    store = app[keys.STORE]
    poke = app[keys.SYNC_POKE]
    retry: lifecycle.Retry | None = None
    while True:
        poke.clear()
        link = await onprem.load_link(store)
        now = clock.now()
        if link is None:
            await clock.sleep_until(now + settings.policy.sync_interval, interrupt=poke)
            continue
        due = utc(link.last_sync) + settings.policy.sync_interval if link.last_sync else now
        if retry is not None:
            due = max(due, utc(retry.at))
        if due > now and not await clock.sleep_until(due, interrupt=poke):
            retry = None
            continue  # someone synchronized by hand: recompute from the new last synchronization
        try:
            await onprem.sync_now(store, clock.now(), truststore=settings.certs / "truststore.pem")
            retry = None
        except SmartLicensingError as err:
            retry = lifecycle.backoff(retry, clock.now(), settings.policy)
            log.warning(
                "sync_failed",
                code=err.code,
                error=err.message,
                retry_at=utc(retry.at).isoformat(),
                at=epoch(clock.now()),
            )


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
