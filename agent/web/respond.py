"""How the page's actions read their forms and answer.

An action runs one of the agent's own methods (``Agent``, ``InstanceRunner``); what it says is a
``Flash``: a notice, a warning, or the refusal itself (``SmartLicensingError``: the same code and
fix the command line prints), plus codes to copy (a reservation's request, confirmation or return
code). ``answer`` sends it back the way the request came:

- from htmx (``HX-Request``): the part of the page the form targets (a dialog's form again, with
  the refusal in it so the dialog stays open, or the page's flash area), always 200 because htmx
  swaps nothing of a 4xx; ``HX-Trigger: refresh`` makes the live region re-read at once;
- from a plain form post (no script): the whole page with the flash, the refusal's HTTP status.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import structlog
from aiohttp import web
from multidict import MultiDictProxy

from plumbing.web import pages
from shared.errors import BadRequest, PayloadTooLarge, SmartLicensingError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Flash:
    """What an action says at the top of the page (or in its dialog)."""

    notice: str = ""
    error: SmartLicensingError | None = None
    #: a warning rather than a success (deregistered locally, the SSM not told)
    warn: bool = False
    #: (label, code) pairs shown with a Copy button
    codes: tuple[tuple[str, str], ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None


#: A whole page with a flash in it (the answer to a plain form post).
Page = Callable[[web.Request, Flash], Awaitable[web.Response]]


@dataclass(frozen=True, slots=True)
class Part:
    """The part of the page an htmx form targets: a template and its context (the flash is
    added as ``result``)."""

    template: str
    context: Mapping[str, Any]


def is_htmx(request: web.Request) -> bool:
    return request.headers.get("HX-Request") == "true"


async def posted(request: web.Request) -> MultiDictProxy[str | bytes | bytearray | web.FileField]:
    """The posted form (read once; aiohttp keeps it).

    Raises:
        PayloadTooLarge: the form (a file in it) is over the listener's body limit.
    """
    try:
        return await request.post()
    except web.HTTPRequestEntityTooLarge:
        raise PayloadTooLarge(
            "the form is larger than this page accepts",
            fix="send a smaller file: one certificate (PEM or DER) is a few KiB",
        ) from None


async def read_form(request: web.Request, type_: type[T]) -> T:
    """The posted form as ``type_`` (empty fields left out; ``_csrf`` is the guard's).

    Raises:
        BadRequest: ``invalid_form`` naming the field; PayloadTooLarge (``posted``).
    """
    form = await posted(request)
    fields = {k: v.strip() for k, v in form.items() if k != "_csrf" and isinstance(v, str) and v.strip()}
    try:
        return msgspec.convert(fields, type_, strict=False)
    except msgspec.ValidationError as exc:
        raise BadRequest(
            f"the form is not filled in right: {exc}", code="invalid_form", fix="correct the field it names"
        ) from None


async def run(action: Callable[[], Awaitable[Flash]]) -> Flash:
    """The action's flash, or its refusal (nothing changed: the agent's methods commit or raise).
    A refusal's code goes into the request's log line even when htmx is answered 200."""
    try:
        return await action()
    except SmartLicensingError as err:
        structlog.contextvars.bind_contextvars(refused=err.code)
        return Flash(error=err)


def answer(request: web.Request, flash: Flash, *, part: Part | None = None) -> web.Response:
    """The answer to an htmx request: ``part`` (with the flash given to it) or the flash area."""
    if part is not None:
        response = pages.render(part.template, request, {**part.context, "result": flash})
    else:
        response = pages.render("flash.html", request, {"flash": flash})
    response.headers["HX-Trigger"] = "refresh"
    return response


async def respond(
    request: web.Request, action: Callable[[], Awaitable[Flash]], *, page: Page, part: Callable[[], Part] | None = None
) -> web.Response:
    """Run ``action`` and answer: the targeted part to htmx, the whole page to a plain post."""
    flash = await run(action)
    if is_htmx(request):
        return answer(request, flash, part=part() if part is not None else None)
    response = await page(request, flash)
    if flash.error is not None:
        response.set_status(flash.error.http_status)
    return response
