"""The License Management page's actions on one product instance: Register, License Type, the
Action menu (Renew Authorization, Renew Registration, Reregister, Deregister), Specific License
Reservation, and the lab's inputs (usage, agents, the system alerts' fixes).

Each runs the ``InstanceRunner`` method the local API runs (the sans-IO machine decides; a
refusal raises with its code and fix, and changes nothing) and says what happened as the command
line says it. Forms leave optional fields out; a missing token or code is refused by the agent's
own rules, so the page and the command line refuse alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import msgspec
from aiohttp import web

from agent.daemon import new_serial_number
from agent.web import context
from agent.web.respond import Flash, Part, read_form, respond
from agent.web.views import instance_page, runner_of
from shared.states import LicenseType, UsageMode
from shared.statusview import StatusView


class TokenForm(msgspec.Struct, frozen=True):
    token: str = ""


class LicenseTypeForm(msgspec.Struct, frozen=True):
    license_type: LicenseType
    usage_mode: UsageMode


class CodeForm(msgspec.Struct, frozen=True):
    code: str = ""


class AgentsForm(msgspec.Struct, frozen=True):
    count: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 1


def _done(what: str, view: StatusView) -> Flash:
    """``what`` succeeded, or was done with a failure to look at (the status keeps the reason)."""
    if view.reason is not None:
        return Flash(
            notice=f"{what} done, with a failure to look at: {view.reason.code}: {view.reason.message}", warn=True
        )
    auth = view.license_authorization_status
    return Flash(notice=f"{what} succeeded: {view.registration_status}, {auth}.")


def _token_part(request: web.Request, verb: str) -> Callable[[], Part]:
    return lambda: Part("form_token.html", {"name": request.match_info["name"], "verb": verb})


async def _instance(
    request: web.Request, act: Callable[[], Awaitable[Flash]], part: Callable[[], Part] | None = None
) -> web.Response:
    return await respond(request, act, page=instance_page, part=part)


async def register(request: web.Request) -> web.Response:
    """Register (the "Smart Software Licensing Product Registration" dialog)."""
    runner = runner_of(request)

    async def act() -> Flash:
        form = await read_form(request, TokenForm)
        return _done("Registration", await runner.register(form.token))

    return await _instance(request, act, _token_part(request, "register"))


async def reregister(request: web.Request) -> web.Response:
    """Action > Reregister: the token may move the instance to another virtual account."""
    runner = runner_of(request)

    async def act() -> Flash:
        form = await read_form(request, TokenForm)
        return _done("Reregistration", await runner.register(form.token, force=True))

    return await _instance(request, act, _token_part(request, "reregister"))


async def renew_authorization(request: web.Request) -> web.Response:
    """Action > Renew Authorization."""
    runner = runner_of(request)

    async def act() -> Flash:
        return _done("Renew Authorization", await runner.renew_authorization())

    return await _instance(request, act)


async def renew_registration(request: web.Request) -> web.Response:
    """Action > Renew Registration (a new ID certificate)."""
    runner = runner_of(request)

    async def act() -> Flash:
        return _done("Renew Registration", await runner.renew_registration())

    return await _instance(request, act)


async def deregister(request: web.Request) -> web.Response:
    """Action > Deregister, confirmed: offline, it says to remove the instance on the SSM by hand."""
    runner = runner_of(request)

    async def act() -> Flash:
        result = await runner.deregister()
        said = result.message[:1].upper() + result.message[1:]
        if result.removed_on_ssm:
            return Flash(notice=f"{said}.")
        return Flash(notice=f"WARNING: {said}", warn=True)

    return await _instance(request, act, lambda: Part("form_deregister.html", {"name": runner.name}))


async def license_type(request: web.Request) -> web.Response:
    """License Type: chosen before registering; refused while registered, with the reason."""
    runner = runner_of(request)
    chosen: list[tuple[LicenseType, UsageMode]] = []

    async def act() -> Flash:
        form = await read_form(request, LicenseTypeForm)
        chosen.append((form.license_type, form.usage_mode))
        view = await runner.set_license_type(form.license_type, form.usage_mode)
        chosen.clear()  # saved: the form shows the choice as the instance keeps it
        note = (
            ""
            if view.license_type == view.configured_license_type
            else f" (used as {view.license_type}: {view.deployment_type})"
        )
        return Flash(notice=f"License Type: {view.configured_license_type} {view.usage_mode}{note}.")

    def part() -> Part:
        lt = context.license_type(runner)
        return Part("form_license_type.html", {"lt": {**lt, "chosen": chosen[0]} if chosen else lt})

    return await _instance(request, act, part)


async def usage(request: web.Request) -> web.Response:
    """The lab's usage input: the in-use count of some licenses (empty fields unchanged)."""
    runner = runner_of(request)

    async def act() -> Flash:
        values = await read_form(request, dict[str, int])
        if not values:
            return Flash(notice="No usage changed (every field was empty).")
        await runner.set_usage(values)
        return Flash(notice="Usage set: " + ", ".join(f"{k} = {v}" for k, v in values.items()) + ".")

    return await _instance(request, act)


async def add_agents(request: web.Request) -> web.Response:
    """Add agents to the deployment (blocked in Enforcement)."""
    runner = runner_of(request)

    async def act() -> Flash:
        form = await read_form(request, AgentsForm)
        view = await runner.add_agents(form.count)
        return Flash(notice=f"{form.count} agent(s) added; {view.agents} configured.")

    return await _instance(request, act)


async def enable(request: web.Request) -> web.Response:
    """The fix of the "Smart Agent is not enabled" alert."""
    runner = runner_of(request)

    async def act() -> Flash:
        await runner.set_enabled(True)
        return Flash(notice=f"Smart Agent enabled for {runner.name}.")

    return await _instance(request, act)


async def serial(request: web.Request) -> web.Response:
    """The fix of the "Serial number is not generated" alert."""
    runner = runner_of(request)

    async def act() -> Flash:
        view = await runner.generate_serial(new_serial_number())
        return Flash(notice=f"Serial number {view.serial_number} generated for {runner.name}.")

    return await _instance(request, act)


# -- Specific License Reservation ---------------------------------------------------------------


def _slr_part(request: web.Request) -> Callable[[], Part]:
    runner = runner_of(request)
    return lambda: Part("form_slr.html", {"name": runner.name, "status": runner.status()})


async def reservation_request(request: web.Request) -> web.Response:
    runner = runner_of(request)

    async def act() -> Flash:
        await runner.reservation_request()  # the code is in the status (and the dialog), with Copy
        return Flash(notice="Reserve licenses with the request code on the SSM, then install the code it returns.")

    return await _instance(request, act, _slr_part(request))


async def reservation_install(request: web.Request) -> web.Response:
    runner = runner_of(request)

    async def act() -> Flash:
        form = await read_form(request, CodeForm)
        view = await runner.reservation_install(form.code)
        return Flash(
            notice="Authorization code installed. Give the confirmation code to the SSM's confirm operation.",
            codes=(("Confirmation code", view.reservation_confirmation_code or ""),),
        )

    return await _instance(request, act, _slr_part(request))


async def reservation_return(request: web.Request) -> web.Response:
    runner = runner_of(request)

    async def act() -> Flash:
        _view, code = await runner.reservation_return()
        return Flash(
            notice="Reservation returned. Give the return code to the SSM to release the licenses.",
            codes=(("Return code", code),),
        )

    return await _instance(request, act, _slr_part(request))


async def reservation_cancel(request: web.Request) -> web.Response:
    runner = runner_of(request)

    async def act() -> Flash:
        await runner.reservation_cancel()
        return Flash(notice="Reservation request cancelled.")

    return await _instance(request, act, _slr_part(request))
