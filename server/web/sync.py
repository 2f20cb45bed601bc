"""Synchronization with the cloud (``server.onprem``).

On an SSM On-Prem: its link to the cloud, the last synchronization and its result, the deadlines
(synchronization overdue, the cloud's 90-day deadline), and the mode's actions: Connected,
"Synchronize now" and the schedule; Disconnected, download the signed request file and upload
the cloud's response file. On a cloud SSM: the On-Prems registered to it (last synchronization,
deadline, instances) and the other half of Disconnected mode, a request file in and the signed
response file out (``Registry.import_sync_file``).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web
from aiohttp.web_request import FileField

from plumbing.web import pages
from server import keys, onprem, views
from server.web.common import Scope, action, done, download_headers, layout, now, page, scope_of
from shared.errors import BadRequest, SmartLicensingError


def _seconds(delta: timedelta) -> int:
    return int(delta.total_seconds())


async def _status(request: web.Request, scope: Scope) -> dict[str, Any]:
    settings = request.app[keys.SETTINGS]
    policy = settings.policy
    onprem_side = settings.mode == "onprem"
    ctx: dict[str, Any] = {
        "scope": scope,
        "mode": settings.sync,
        "interval": policy.sync_interval,
        "onprem": onprem_side,
    }
    if not onprem_side:  # the cloud: the On-Prems registered to it
        ctx["onprems"] = await views.onprems(request.app[keys.STORE], policy)
        return ctx
    try:
        link: onprem.Link | None = await onprem.require_link(request.app[keys.STORE])
    except SmartLicensingError as err:
        link = None
        ctx["err"] = err
    last = link.last_sync if link else None
    ctx.update(
        link=link,
        next_sync=last + _seconds(policy.sync_interval) if last is not None and settings.sync == "connected" else None,
        overdue_at=last + _seconds(policy.sync_overdue) if last is not None else None,
    )
    return ctx


@page
async def status_page(request: web.Request) -> web.Response:
    """The Synchronization page."""
    scope = await scope_of(request)
    ctx = await layout(request, scope, active="sync", title="Synchronization")
    ctx.update(await _status(request, scope))
    return pages.render("sync.html", request, ctx)


@action
async def fragment(request: web.Request) -> web.Response:
    """The link's status (live)."""
    return pages.fragment("_sync.html", request, await _status(request, await scope_of(request)))


def _truststore(request: web.Request) -> Any:
    return request.app[keys.SETTINGS].certs / "truststore.pem"


@action
async def now_(request: web.Request) -> web.Response:
    """Connected mode's "Synchronize now" (the schedule restarts from it)."""
    scope = await scope_of(request)
    clock = request.app[keys.CLOCK]
    result = await onprem.sync_now(request.app[keys.STORE], clock.now(), truststore=_truststore(request))
    clock.poke(request.app[keys.SYNC_POKE])
    notice = (
        f"Synchronized with the cloud (sequence {result.sequence}): {result.entitlements} entitlement(s) applied; "
        f"next deadline {result.deadline[:16].replace('T', ' ')} UTC."
    )
    return done(request, notice, [("sync", "_sync.html", await _status(request, scope))])


@page
async def request_file(request: web.Request) -> web.Response:
    """Disconnected mode, on the On-Prem: the signed request file (a new sequence number each time)."""
    data = await onprem.export_request(request.app[keys.STORE], now(request))
    return web.Response(body=data, headers=download_headers("ssm-onprem-sync-request.json", "application/json"))


async def _upload(request: web.Request) -> bytes:
    field = (await request.post()).get("file")
    if not isinstance(field, FileField):
        raise BadRequest("no file was chosen", code="sync_file_missing", fix="choose the file, then upload it")
    data: bytes = field.file.read()
    return data


@action
async def response_file(request: web.Request) -> web.StreamResponse:
    """Upload a file. On the On-Prem: the cloud's response file, applied. On the cloud: an On-Prem's
    request file, answered by the signed response file to carry back."""
    if request.app[keys.SETTINGS].mode != "onprem":
        return await _exchange(request)
    scope = await scope_of(request)
    link = await onprem.import_response(
        request.app[keys.STORE], now(request), await _upload(request), truststore=_truststore(request)
    )
    notice = f"Synchronization file applied (sequence {link.applied}): the cloud's entitlements are this On-Prem's."
    return done(request, notice, [("sync", "_sync.html", await _status(request, scope))])


@page
async def _exchange(request: web.Request) -> web.Response:
    """The cloud's half of Disconnected mode: the response file is the answer (a download)."""
    data = await request.app[keys.REGISTRY].import_sync_file(await _upload(request))
    return web.Response(body=data, headers=download_headers("ssm-onprem-sync-response.json", "application/json"))
