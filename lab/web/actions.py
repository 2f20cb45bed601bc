"""The console's actions (every POST): each does what the matching ``ssmlab`` verb does, over the
processes' HTTP APIs, and answers with its card redrawn (a notice, or the refusal with its code
and fix and the form as it was typed).

htmx swaps the card in place (a refusal too: it is the answer to show, so it comes as a 200). A
plain form post (no script) is answered as a page: a 303 back to the card when it worked, the page
with the card's refusal (400) when it did not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from lab import idcert
from lab.web import cards, forms, views
from lab.web.backend import Backend
from lab.web.keys import BACKEND, RUNNER
from lab.web.runner import Runner
from plumbing.clients.lab import LabError
from plumbing.web import pages

Form = Mapping[str, str]


async def _card(request: web.Request, card: str) -> dict[str, Any]:
    b, runner = request.app[BACKEND], request.app[RUNNER]
    if card == "clock":
        return await cards.clock_card(b, views.now())
    if card == "tls":
        return await cards.tls_card(b)
    if card == "faults":
        return await cards.faults_card(b)
    if card == "snapshots":
        return await cards.snapshots_card(b)
    if card == "pki":
        return await cards.pki_card(b)
    return cards.scenarios_card(runner, views.now())


async def _form(request: web.Request) -> dict[str, str]:
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {}
    return {k: v for k, v in (await request.post()).items() if isinstance(v, str)}


async def respond(
    request: web.Request, card: str, *, notice: str | None, error: LabError | None, form: Form
) -> web.Response:
    ctx = {**await _card(request, card), "notice": notice, "error": error}
    if error is not None:
        ctx["form"] = dict(form)  # what was typed stays there to be fixed
    if request.headers.get("HX-Request") == "true":
        return pages.render(f"_{card}.html", request, {"card": ctx})
    if error is None:
        raise web.HTTPSeeOther(f"{views.PAGE_OF[card]}#{card}-card")
    return await views.page(request, "scenarios" if card == "scenarios" else "console", {card: ctx}, status=400)


Action = Callable[[web.Request, Form], Awaitable[str]]


def action(card: str, act: Action) -> Callable[[web.Request], Awaitable[web.Response]]:
    """A POST handler: read the form, act, answer with the card."""

    async def handle(request: web.Request) -> web.Response:
        form = await _form(request)
        try:
            notice, error = await act(request, form), None
        except LabError as exc:
            notice, error = None, exc
        return await respond(request, card, notice=notice, error=error, form=form)

    handle.__doc__ = act.__doc__
    handle.__name__ = act.__name__
    return handle


def _b(request: web.Request) -> Backend:
    return request.app[BACKEND]


def _runner(request: web.Request) -> Runner:
    return request.app[RUNNER]


# -- the clock --------------------------------------------------------------------------------------


async def advance(request: web.Request, form: Form) -> str:
    """Advance both clocks in lockstep (``ssmlab clock advance``)."""
    duration = forms.required(form, "duration", "the duration", "e.g. 15m, 36h, 30d, 6mo, 1y or P90D")
    await _b(request).advance(duration)
    return ""  # the job's own line says how it goes


async def stop_advance(request: web.Request, form: Form) -> str:
    """Stop the advance in progress at its next step (both clocks stay together)."""
    _b(request).stop_advance()
    return ""


async def set_rate(request: web.Request, form: Form) -> str:
    """Align both clocks and set their rate (``ssmlab clock rate``)."""
    rate = forms.rate(form)
    await _b(request).set_rate(rate)
    return f"both clocks run at {rate:g} domain seconds per real second"


# -- TLS drills and faults ----------------------------------------------------------------------------


async def set_tls(request: web.Request, form: Form) -> str:
    """Serve another TLS drill (``ssmlab tls MODE``)."""
    mode = forms.required(form, "mode", "the TLS drill", "choose one of the modes")
    served = await _b(request).ssm("POST", "/_lab/tls", {"mode": mode})
    return f"the SSM serves the {served.get('mode', mode)} certificate from its next handshake"


async def set_mtls(request: web.Request, form: Form) -> str:
    """Demand (or stop demanding) ID certificates on the device plane (``ssmlab mtls on|off``)."""
    on = form.get("enabled") == "on"
    await _b(request).ssm("POST", "/_lab/device-mtls", {"enabled": on})
    return (
        "the SSM demands ID certificates from the next handshake" if on else "the SSM no longer demands ID certificates"
    )


async def id_cert(request: web.Request, form: Form) -> str:
    """An ID-certificate drill on one instance (``ssmlab id-cert DRILL --instance NAME``)."""
    drill = forms.required(form, "drill", "the drill", "choose revoked, foreign or expired")
    name = forms.required(form, "instance", "the instance", "choose a registered instance")
    b = _b(request)
    b.forget()  # both sides change
    try:
        made = await asyncio.to_thread(idcert.play, b.lab, drill, name)  # what 'ssmlab id-cert' does
    except idcert.NotRegistered as exc:
        raise LabError(str(exc), "register it first", "not_registered") from None
    return f"{idcert.describe(made, name)}; its next renewal is refused: {made['fix']}"


async def start_rollover(request: web.Request, form: Form) -> str:
    """Start a CA rollover (``ssmlab pki rollover --overlap D``)."""
    view = await _b(request).ssm("POST", "/_lab/pki/rollover", {"overlap": form.get("overlap") or "30d"})
    return f"rollover to {view['generation']} started: cutover at {view['cutover_at'][:16]} (domain time)"


async def cutover(request: web.Request, form: Form) -> str:
    """Cut the rollover over now (``ssmlab pki cutover``)."""
    view = await _b(request).ssm("POST", "/_lab/pki/rollover/cutover")
    return f"cut over to {view['generation']}: the SSM serves, signs and issues with the new PKI"


async def add_fault(request: web.Request, form: Form) -> str:
    """Inject a fault on the SSM's device plane (``ssmlab fault add``)."""
    added = await _b(request).ssm("POST", "/_lab/faults", forms.fault(form))
    return f"fault {added['id']} added"


async def remove_fault(request: web.Request, form: Form) -> str:
    """Remove one fault (``ssmlab fault remove ID``)."""
    fault_id = request.match_info["id"]
    if not fault_id.isdigit():
        raise LabError(f"no fault {fault_id!r}", "remove a fault of the list", "fault_not_found")
    await _b(request).ssm("DELETE", f"/_lab/faults/{fault_id}")
    return f"fault {fault_id} removed"


async def clear_faults(request: web.Request, form: Form) -> str:
    """Remove every fault (``ssmlab fault clear``)."""
    removed = await _b(request).ssm("DELETE", "/_lab/faults")
    return f"{removed['removed']} fault(s) removed"


# -- snapshots and reset ------------------------------------------------------------------------------


async def save_snapshot(request: web.Request, form: Form) -> str:
    """Save both sides under a name (``ssmlab snapshot save NAME``)."""
    name = forms.required(form, "name", "the snapshot's name", "e.g. day2 (letters, digits, '.', '_', '-')")
    await _b(request).snapshot("snapshot", name)
    return f"snapshot {name} saved on both sides"


async def load_snapshot(request: web.Request, form: Form) -> str:
    """Load a snapshot on both sides (``ssmlab snapshot load NAME``)."""
    name = forms.required(form, "name", "the snapshot's name", "load one of the list")
    await _b(request).snapshot("restore", name)
    return f"snapshot {name} loaded on both sides"


async def reset(request: web.Request, form: Form) -> str:
    """Start over: everything, or one Smart Account on the SSM (``ssmlab reset``)."""
    account = form.get("account", "").strip() or None
    await _b(request).reset(account)
    return f"Smart Account {account} reset on the SSM" if account else "the lab was reset: both sides start over"


# -- scenarios ---------------------------------------------------------------------------------------


async def run_scenario(request: web.Request, form: Form) -> str:
    """Play a built-in scenario on a private lab (``ssmlab scenario run NAME``)."""
    name = forms.required(form, "name", "the scenario", "choose one of the list")
    _runner(request).start(name)
    return ""  # the run's panel says how it goes


async def stop_scenario(request: web.Request, form: Form) -> str:
    """Stop the scenario at its next step."""
    _runner(request).stop()
    return ""
