"""What every page of the SSM portal shares: the Smart Account and virtual account a page is
about (named in its URL), the layout's context, forms read into typed structs, and the answers.

- ``scope_of(request)``: ``?sa=DOMAIN&va=NAME`` resolved through ``server.accounts`` (an unknown
  name is refused with the CLI's code and fix); no ``va``: the account's default one.
- ``page`` / ``action``: decorators. A refused page renders ``error.html`` with the error's status;
  a refused action or fragment answers the error box (``macros.error_box``) with its status, which
  the portal's htmx configuration swaps like a success (the form shows why, nothing changed).
- ``done(request, notice, refresh)``: an action's success. A dialog's form gets an empty answer (the
  dialog closes: ``ssmlab.js``) with the notice and the refreshed lists swapped out of band.

Handlers never decide a licensing rule: every action calls the service the CLI and the admin API
call (``server.accounts``, ``server.reservations``, ``server.registration``, ...).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp_jinja2
import msgspec
from aiohttp import web
from markupsafe import Markup

from plumbing.web import pages
from server import accounts, keys
from server.store.rows import Account, VirtualAccount
from server.web import outbox
from shared.clock import epoch
from shared.errors import BadRequest, NotFound, SmartLicensingError

T = TypeVar("T")
PageHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: htmx swaps a refusal (4xx) like a success: its error box says why, in the form that was sent.
HTMX_CONFIG = (
    '{"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},'
    '{"code":"4..","swap":true,"error":false},{"code":"...","swap":false,"error":true}]}'
)


@dataclass(frozen=True, slots=True)
class Scope:
    """The Smart Account and virtual account a page shows, and the others the picker offers."""

    account: Account
    accounts: tuple[Account, ...]
    va: VirtualAccount
    vas: tuple[VirtualAccount, ...]

    def url(self, path: str, **more: str) -> str:
        """``path`` with this scope (and ``more``) in its query: every link remembers the choice."""
        params = {"sa": self.account.domain, "va": self.va.name, **{k: v for k, v in more.items() if v}}
        return f"{path}?{urlencode(params)}"

    @property
    def others(self) -> tuple[VirtualAccount, ...]:
        return tuple(v for v in self.vas if v.id != self.va.id)


async def scope_of(request: web.Request) -> Scope:
    """The scope named by the query. From the picker (``pick``), a virtual account of another
    account falls back to the new account's default one.

    Raises:
        NotFound: ``account_not_found``, ``virtual_account_not_found`` (with the names there are).
    """
    sa = request.query.get("sa") or None
    va = request.query.get("va") or None
    picked = "pick" in request.query

    def body(uow: Any) -> Scope:
        account = accounts.find_account(uow, sa)
        vas = tuple(uow.accounts.virtual_accounts(account.id))
        if not vas:
            raise NotFound(
                f"Smart Account {account.domain} has no virtual account",
                code="virtual_account_not_found",
                fix=f"create one: 'ssm-server va create --account {account.domain} --name DEFAULT'",
            )
        chosen = next((v for v in vas if v.name == va), None) if va else None
        if chosen is None and va and not picked:
            chosen = accounts.find_va(uow, account, va)
        if chosen is None:
            chosen = next((v for v in vas if v.is_default), vas[0])
        return Scope(account, tuple(uow.accounts.all()), chosen, vas)

    return await request.app[keys.STORE].read(body)


async def layout(request: web.Request, scope: Scope | None, *, active: str, title: str, **ctx: Any) -> dict[str, Any]:
    """The context of the portal's layout (``portal.html``: the open alerts counted in the top
    bar) plus ``ctx``."""
    settings = request.app[keys.SETTINGS]
    onprem = settings.mode == "onprem"
    major = minor = 0
    if scope is not None:
        t = epoch(request.app[keys.CLOCK].now())
        rows = await request.app[keys.STORE].read(lambda uow: outbox.alerts(uow, scope.account, settings.policy, t))
        major, minor = outbox.counts(rows)
    return {
        "major": major,
        "minor": minor,
        "scope": scope,
        "active": active,
        "title": title,
        "onprem": onprem,
        "product": "SSM On-Prem" if onprem else "Smart Software Licensing",
        "now": request.app[keys.CLOCK].now(),
        "htmx_config": HTMX_CONFIG,
        **ctx,
    }


def now(request: web.Request) -> datetime:
    return request.app[keys.CLOCK].now()


def html(request: web.Request, template: str, context: Mapping[str, Any]) -> Markup:
    """A template rendered to markup (to embed in another answer)."""
    ctx = {"csrf": request.app[pages.CSRF], "request": request, **context}
    return Markup(aiohttp_jinja2.render_string(template, request, ctx))  # noqa: S704 - autoescaped output


def page(handler: PageHandler) -> PageHandler:
    """A GET page: a refusal renders the error page (the CLI's code, message and fix)."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except SmartLicensingError as err:
            ctx = await layout(request, None, active="", title="Refused", err=err)
            return pages.render("error.html", request, ctx, status=err.http_status)

    return wrapped


def action(handler: PageHandler) -> PageHandler:
    """An action or a fragment: a refusal answers the error box, with the error's status."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except SmartLicensingError as err:
            return refused(request, err)

    return wrapped


def refused(request: web.Request, err: SmartLicensingError) -> web.Response:
    return pages.render("_error.html", request, {"err": err}, status=err.http_status)


def done(request: web.Request, notice: str, refresh: Sequence[tuple[str, str, Mapping[str, Any]]] = ()) -> web.Response:
    """An action's success: ``notice`` and each ``(element id, template, context)`` of
    ``refresh`` swapped out of band. A form in a dialog gets nothing else (its dialog closes); a
    button whose target is the page's ``#flash`` gets the notice itself."""
    into_flash = request.headers.get("HX-Target") == "flash"
    ctx = {
        "notice": notice,
        "into_flash": into_flash,
        "refresh": [(element, html(request, template, c)) for element, template, c in refresh],
    }
    return pages.render("_done.html", request, ctx)


_AT = re.compile(r"at `\$\.(\w+)`")


async def form(request: web.Request, type_: type[T], labels: Mapping[str, str]) -> T:
    """The posted form as ``type_`` (numbers from text; an empty field is an absent one).

    Raises:
        BadRequest: ``invalid_form`` naming the field by its label.
    """
    data = await request.post()
    fields = {k: v.strip() for k, v in data.items() if isinstance(v, str) and v.strip() and k != "_csrf"}
    try:
        return msgspec.convert(fields, type_, strict=False)
    except msgspec.ValidationError as exc:
        found = _AT.search(str(exc))
        label = labels.get(found.group(1), found.group(1)) if found else "the form"
        why = str(exc).split(" - at ")[0].replace("`", "")
        raise BadRequest(
            f"{label}: {why}",
            code="invalid_form",
            fix=f"correct {label} and send the form again",
        ) from None


def download_headers(filename: str, content_type: str = "text/plain") -> dict[str, str]:
    """A download's headers (the file name is ours, never the user's)."""
    return {
        "Content-Type": f"{content_type}; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
