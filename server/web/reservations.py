"""Specific License Reservation: the reserved devices of the virtual account (live), the "License
Reservation..." wizard (Enter Request Code -> Select Licenses -> Authorization Code, shown with
Copy and Download), "Enter Confirmation Code", and Remove with the device's return code. Every
step is ``server.reservations``'s (the admin API's reserve, confirm and return)."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from aiohttp import web

from plumbing.web import pages
from server import keys, reservations
from server.store import UnitOfWork
from server.store.rows import Reservation
from server.web.common import Scope, action, done, download_headers, form, layout, now, page, scope_of
from shared import slr
from shared.errors import BadRequest, NotFound
from shared.reservation import device_status

#: The field of each license's "Quantity to Reserve" in the wizard: ``q:<entitlement tag>``.
QTY = "q:"


class DeviceCode(msgspec.Struct, kw_only=True):
    device: str
    code: str = ""


class RequestCodeForm(msgspec.Struct, kw_only=True):
    request_code: str = ""


async def _listing(request: web.Request, scope: Scope) -> dict[str, Any]:
    rows = await request.app[keys.STORE].read(lambda uow: uow.reservations.of(scope.va.id))
    return {"scope": scope, "reserved": [{"r": r, "status": device_status(r.status)} for r in rows]}


@page
async def listing(request: web.Request) -> web.Response:
    """The License Reservation page: the reserved devices, Enter Confirmation Code, Remove."""
    scope = await scope_of(request)
    ctx = await layout(request, scope, active="slr", title=f"License Reservation: {scope.va.name}")
    ctx.update(await _listing(request, scope))
    return pages.render("reservations.html", request, ctx)


@action
async def fragment(request: web.Request) -> web.Response:
    """The reserved devices (live)."""
    return pages.fragment("_reservations.html", request, await _listing(request, await scope_of(request)))


@page
async def wizard(request: web.Request) -> web.Response:
    """The "License Reservation..." wizard, step 1: Enter Request Code."""
    scope = await scope_of(request)
    ctx = await layout(request, scope, active="slr", title="Smart License Reservation", step=1, request_code="")
    return pages.render("reserve.html", request, ctx)


def _next_step(request: web.Request, template: str, ctx: dict[str, Any]) -> web.Response:
    """The wizard's next step replaces the whole wizard (a refusal stays in the step's own box)."""
    response = pages.render(template, request, ctx)
    response.headers["HX-Retarget"] = "#wizard"
    response.headers["HX-Reswap"] = "innerHTML"
    return response


@action
async def choose(request: web.Request) -> web.Response:
    """Step 2: the request code read (``shared.slr``); the licenses of the virtual account to choose."""
    scope = await scope_of(request)
    f = await form(request, RequestCodeForm, {"request_code": "Reservation Request Code"})
    code = slr.parse_request_code(f.request_code)
    pools = await request.app[keys.STORE].read(lambda uow: uow.pools.of(scope.va.id))
    offered = [
        {"tag": p.tag, "name": reservations.display_name(p), "available": max(0, reservations.available(p))}
        for p in pools
        if p.quantity > 0
    ]
    ctx = {"scope": scope, "step": 2, "device": code, "request_code": code.text, "offered": offered}
    return _next_step(request, "_reserve_step.html", ctx)


def _wanted(data: Any) -> list[reservations.Wanted]:
    wanted = []
    for key, value in data.items():
        if not key.startswith(QTY) or not isinstance(value, str) or not value.strip():
            continue
        try:
            quantity = int(value)
        except ValueError:
            raise BadRequest(
                f"Quantity to Reserve of {key[len(QTY) :]}: {value!r} is not a whole number",
                code="invalid_form",
                fix="enter a whole number of licenses (0 to reserve none of it)",
            ) from None
        if quantity:
            wanted.append(reservations.Wanted(key[len(QTY) :], quantity))
    return wanted


@action
async def generate(request: web.Request) -> web.Response:
    """Step 3: Generate Authorization Code (``server.reservations.reserve``), shown once here and
    downloadable from the list."""
    scope = await scope_of(request)
    data = await request.post()
    code = str(data.get("request_code", ""))
    outcome = (
        await reservations.reserve(
            request.app[keys.STORE],
            scope.va,
            [(code, "SPECIFIC", _wanted(data))],
            now=now(request),
            lab_pki=request.app[keys.REGISTRY].pki,
        )
    )[0]
    if outcome.error is not None:
        raise outcome.error
    assert outcome.reservation is not None
    return _next_step(request, "_reserve_step.html", {"scope": scope, "step": 3, "r": outcome.reservation})


def _device(value: str) -> tuple[str, str]:
    pid, sep, serial = value.rpartition(":")
    if not sep or not pid or not serial:
        raise BadRequest(
            f"Device: {value!r} is not UDI_PID:SERIAL",
            code="invalid_form",
            fix="choose a reserved device from the list",
        )
    return pid, serial


@action
async def confirm(request: web.Request) -> web.Response:
    """Enter Confirmation Code: the code the device printed after installing its authorization code."""
    scope = await scope_of(request)
    f = await form(request, DeviceCode, {"device": "Device", "code": "Reservation Confirmation Code"})
    pid, serial = _device(f.device)
    await reservations.confirm(request.app[keys.STORE], scope.va, pid, serial, f.code, now=now(request))
    notice = f"Reservation of {pid}:{serial} confirmed."
    return done(request, notice, [("reserved", "_reservations.html", await _listing(request, scope))])


@action
async def give_back(request: web.Request) -> web.Response:
    """Remove a reserved device with its return code: the reserved licenses go back to the pool."""
    scope = await scope_of(request)
    f = await form(request, DeviceCode, {"device": "Device", "code": "Reservation Return Code"})
    pid, serial = _device(f.device)
    found = await reservations.give_back(request.app[keys.STORE], scope.va, pid, serial, f.code, now=now(request))
    held = ", ".join(f"{x.count} {x.name}" for x in found.licenses)
    notice = f"{pid}:{serial} removed; back in {scope.va.name}: {held}."
    return done(request, notice, [("reserved", "_reservations.html", await _listing(request, scope))])


@page
async def download(request: web.Request) -> web.Response:
    """Download as File: a reservation's authorization code."""
    scope = await scope_of(request)
    rid = request.match_info["rid"]

    def body(uow: UnitOfWork) -> Reservation:
        found = uow.reservations.get(int(rid)) if rid.isdigit() else None
        if found is None or found.virtual_account_id != scope.va.id:
            raise NotFound(
                f"virtual account {scope.va.name} has no reservation {rid!r}",
                code="reservation_not_found",
                fix="download it from the License Reservation page of its virtual account",
            )
        return found

    found = await request.app[keys.STORE].read(body)
    name = "AuthorizationCode_SN_" + re.sub(r"[^A-Za-z0-9_-]", "_", found.serial_number) + ".txt"
    return web.Response(text=found.authorization_code + "\n", headers=download_headers(name))
