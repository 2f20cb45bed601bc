"""Inventory > General: the virtual account and its Product Instance Registration Tokens (New Token
dialog, the new token shown once, the list with each token's status, Revoke), and the device URLs
a product instance is configured with. Tokens are minted and revoked by ``server.accounts``."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from plumbing.web import pages
from server import accounts, keys
from server.store import UnitOfWork
from server.web.common import Scope, action, done, form, html, layout, now, page, scope_of
from shared.errors import NotFound
from shared.tokens import status as token_status
from shared.transportsettings import CH_CLOUD_PATH, CH_ONPREM_PATH, ST_CLOUD_PATH, ST_ONPREM_PATH

CREATED_BY = "the SSM portal"


class NewToken(msgspec.Struct, kw_only=True):
    description: str = ""
    days: int | None = None
    uses: int | None = None
    export_controlled: bool = False


LABELS = {"description": "Description", "days": "Expire After", "uses": "Max. Number of Uses"}


def device_urls(request: web.Request) -> dict[str, str]:
    """Where a product instance sends its requests (an On-Prem: its device listener)."""
    settings = request.app[keys.SETTINGS]
    if settings.mode == "onprem":
        base = f"https://{request.url.host}:{request.app[keys.LISTENERS].device}"
        return {"transport": base + ST_ONPREM_PATH, "callhome": base + CH_ONPREM_PATH}
    base = f"https://{request.host}"
    return {"transport": base + ST_CLOUD_PATH, "callhome": base + CH_CLOUD_PATH}


async def _tokens(request: web.Request, scope: Scope) -> dict[str, Any]:
    at = now(request)

    def body(uow: UnitOfWork) -> list[dict[str, Any]]:
        rows = uow.tokens.of(scope.va.id)
        return [{"t": t, "status": str(token_status(t, at)).capitalize()} for t in reversed(rows)]

    return {"scope": scope, "tokens": await request.app[keys.STORE].read(body)}


@page
async def general(request: web.Request) -> web.Response:
    """Inventory > General."""
    scope = await scope_of(request)
    ctx = await layout(request, scope, active="inventory", title=f"Inventory: {scope.va.name}", tab="general")
    ctx.update(await _tokens(request, scope), urls=device_urls(request))
    return pages.render("general.html", request, ctx)


@action
async def tokens_fragment(request: web.Request) -> web.Response:
    """The token list (live)."""
    return pages.fragment("_tokens.html", request, await _tokens(request, await scope_of(request)))


@action
async def create_token(request: web.Request) -> web.Response:
    """The New Token dialog's Create Token."""
    scope = await scope_of(request)
    f = await form(request, NewToken, LABELS)
    created = await accounts.create_token(
        request.app[keys.STORE],
        account=scope.account,
        va_name=scope.va.name,
        now=now(request),
        policy=request.app[keys.SETTINGS].policy,
        days=f.days,
        uses=f.uses,
        description=f.description,
        export_controlled=f.export_controlled,
        created_by=CREATED_BY,
    )
    notice = html(request, "_token_created.html", {"created": created})
    return done(request, notice, [("tokens", "_tokens.html", await _tokens(request, scope))])


@action
async def revoke_token(request: web.Request) -> web.Response:
    """A token's Revoke (only a token of the virtual account shown)."""
    scope = await scope_of(request)
    token_id = request.match_info["token_id"]
    store = request.app[keys.STORE]
    record = await store.read(lambda uow: uow.tokens.get(token_id))
    if record is None or record.virtual_account_id != scope.va.id:
        raise NotFound(
            f"virtual account {scope.va.name} has no registration token {token_id!r}",
            code="token_not_found",
            fix="revoke it from the list of its own virtual account",
        )
    await accounts.revoke_token(store, token_id, now(request))
    return done(request, f"Token {token_id} revoked.", [("tokens", "_tokens.html", await _tokens(request, scope))])
