"""Inventory > Product Instances: the virtual account's instances (search by name or product type,
live), and each instance's details (its ID certificate, last contact, usage, events) with Remove
(``Registry.remove_instance``) and Transfer to another virtual account (the admin API's
``transfer_device``)."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web
from cryptography.x509.oid import NameOID

from plumbing.web import pages
from server import keys, views
from server.admin import bodies
from server.admin import common as admin_ops
from server.store import UnitOfWork
from server.store.rows import Instance, VirtualAccount
from server.web.common import Scope, action, done, form, layout, now, page, scope_of
from shared import pki
from shared.clientcert import Presented
from shared.clock import epoch
from shared.errors import NotFound

REMOVED_BY = "the SSM portal"
#: The ID certificate's subject carries the serial number (no short name in RFC 4514).
_NAMES = {NameOID.SERIAL_NUMBER: "serialNumber"}


class TransferForm(msgspec.Struct, kw_only=True):
    target: str


async def _listing(request: web.Request, scope: Scope) -> dict[str, Any]:
    q = request.query.get("q", "").strip()
    rows = await views.instances(request.app[keys.STORE], va_id=scope.va.id)
    if q:
        needle = q.casefold()
        rows = [r for r in rows if needle in r["name"].casefold() or needle in r["product"].casefold()]
    return {"scope": scope, "instances": rows, "q": q}


@page
async def listing(request: web.Request) -> web.Response:
    """Inventory > Product Instances."""
    scope = await scope_of(request)
    ctx = await layout(request, scope, active="inventory", title=f"Product Instances: {scope.va.name}", tab="instances")
    ctx.update(await _listing(request, scope))
    return pages.render("instances.html", request, ctx)


@action
async def listing_fragment(request: web.Request) -> web.Response:
    """The product instances (live)."""
    return pages.fragment("_instances.html", request, await _listing(request, await scope_of(request)))


def _find(uow: UnitOfWork, scope: Scope, piid: str) -> tuple[Instance, VirtualAccount]:
    inst = uow.instances.get(piid)
    va = uow.accounts.virtual_account(inst.virtual_account_id) if inst else None
    if inst is None or va is None or va.account_id != scope.account.id:
        raise NotFound(
            f"no product instance {piid!r} in Smart Account {scope.account.domain}",
            code="instance_not_found",
            fix="search the Product Instances tab of its virtual account",
        )
    return inst, va


def _certificate(inst: Instance) -> dict[str, Any]:
    cert = pki.load_cert(inst.cert_pem.encode())
    return {
        "subject": cert.subject.rfc4514_string(_NAMES),
        "issuer": cert.issuer.rfc4514_string(_NAMES),
        "serial": inst.cert_serial,
        "fingerprint": pki.fingerprint(cert),
        "pem": inst.cert_pem,
    }


def _presented(seen: Presented | None) -> dict[str, Any] | None:
    """What the instance presented in its last handshake (times as the page shows instants)."""
    if seen is None:
        return None
    return {
        "verdict": seen.verdict,
        "serial": seen.serial,
        "issuer": seen.issuer,
        "not_after": epoch(seen.not_after),
        "at": epoch(seen.at),
    }


async def _details(request: web.Request, scope: Scope, piid: str) -> dict[str, Any]:
    store = request.app[keys.STORE]

    def body(uow: UnitOfWork) -> tuple[Instance, VirtualAccount, list[Any]]:
        inst, va = _find(uow, scope, piid)
        return inst, va, list(reversed(uow.events.recent(limit=50, piid=piid)))

    inst, va, events = await store.read(body)
    rows = await views.instances(store, va_id=va.id, include_removed=True)
    usage: list[dict[str, Any]] = next((r["usage"] for r in rows if r["piid"] == piid), [])
    mtls = request.app[keys.REGISTRY].ctx.mtls
    return {
        "scope": scope,
        "i": inst,
        "va": va,
        "usage": usage,
        "events": events,
        "cert": _certificate(inst),
        # mutual TLS (--device-mtls): what it presented last, and whether it is revoked
        "mtls": {
            "enabled": mtls.enabled,
            "seen": _presented(mtls.presented.get(piid)),
            "revoked": inst.cert_serial in mtls.revoked,
        },
    }


@page
async def details(request: web.Request) -> web.Response:
    """A product instance's details."""
    scope = await scope_of(request)
    ctx = await _details(request, scope, request.match_info["piid"])
    title = f"Product Instance: {ctx['i'].name}"
    return pages.render(
        "instance.html",
        request,
        {**(await layout(request, scope, active="inventory", title=title, picker="/inventory/instances")), **ctx},
    )


@action
async def details_fragment(request: web.Request) -> web.Response:
    """The details (live)."""
    scope = await scope_of(request)
    return pages.fragment("_instance.html", request, await _details(request, scope, request.match_info["piid"]))


@action
async def remove(request: web.Request) -> web.Response:
    """Confirm Remove Product Instance: its licenses return to the pool; it must register again."""
    scope = await scope_of(request)
    piid = request.match_info["piid"]
    _, va = await request.app[keys.STORE].read(lambda uow: _find(uow, scope, piid))
    inst = await request.app[keys.REGISTRY].remove_instance(piid, by=REMOVED_BY)
    notice = f"Product instance {inst.name} removed; its licenses returned to {va.name}."
    return done(request, notice, [("instance", "_instance.html", await _details(request, scope, piid))])


@action
async def transfer(request: web.Request) -> web.Response:
    """Transfer Product Instance: to another virtual account of the Smart Account, its usage with it."""
    scope = await scope_of(request)
    piid = request.match_info["piid"]
    store = request.app[keys.STORE]
    inst, va = await store.read(lambda uow: _find(uow, scope, piid))
    f = await form(request, TransferForm, {"target": "Destination Virtual Account"})
    item = bodies.DeviceTransferItem(sudi=bodies.Sudi(inst.udi_pid, inst.serial_number), targetVirtualAccount=f.target)
    await admin_ops.transfer_device(store, scope.account, va, item, now(request))
    # the details again, under the instance's new virtual account
    return web.Response(status=200, headers={"HX-Redirect": scope.url(f"/inventory/instances/{piid}", va=f.target)})
