"""The lab's shortcuts to the administrator's verbs: ``POST /_lab/tokens`` (a registration token,
as 'ssm-server token create'), ``POST /_lab/licenses`` (a purchase, as 'ssm-server license add',
with a Flex subscription term or not) and ``POST /_lab/licenses/renew`` (as 'ssm-server license
renew')."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from plumbing.web.middleware import json_response
from server import accounts, keys, subscriptions
from server.store import UnitOfWork
from server.store.rows import LicenseTerm
from shared import terms
from shared.catalog import LicenseKey
from shared.limits import Days, Domain, Name, Quantity, Text, Uses
from shared.states import LicenseType, UsageMode
from shared.terms import end_date


class TokenBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    va: Name = "DEFAULT"
    account: Domain | None = None
    days: Days | None = None
    uses: Uses | None = None
    description: Text = "lab"
    export_controlled: bool = False


class LicenseBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    quantity: Quantity
    license_type: LicenseType = LicenseType.FLEX
    usage_mode: UsageMode = UsageMode.PRODUCTION
    va: Name = "DEFAULT"
    account: Domain | None = None
    #: a Flex subscription term (``1y``, ``3y``, ``400d``) or its end date (``2029-01-31``)
    term: Short | None = None
    ends: Short | None = None


#: A term (``3y``, ``400d``), an end date or a subscription id.
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]


class RenewBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    subscription_id: Short
    term: Short | None = None
    ends: Short | None = None


async def create_token(request: web.Request, body: TokenBody) -> web.Response:
    """A registration token (the lab's shortcut to 'ssm-server token create')."""
    store = request.app[keys.STORE]
    created = await accounts.create_token(
        store,
        account=await accounts.resolve_account(store, body.account),
        va_name=body.va,
        now=request.app[keys.CLOCK].now(),
        policy=request.app[keys.SETTINGS].policy,
        days=body.days,
        uses=body.uses,
        description=body.description,
        export_controlled=body.export_controlled,
    )
    return json_response(
        {
            "token": created.minted.text,
            "token_id": created.record.token_id,
            "expires_at": created.record.expires_at.isoformat(),
        },
        status=201,
    )


async def add_licenses(request: web.Request, body: LicenseBody) -> web.Response:
    """Purchase licenses (the lab's shortcut to 'ssm-server license add')."""
    store = request.app[keys.STORE]
    length = terms.parse_length(body.term, body.ends)
    total = await accounts.add_licenses(
        store,
        account=await accounts.resolve_account(store, body.account),
        va_name=body.va,
        license_type=body.license_type,
        usage_mode=body.usage_mode,
        name=body.name,
        quantity=body.quantity,
        now=request.app[keys.CLOCK].now(),
        length=length,
    )
    answer: dict[str, object] = {"license": body.name, "purchased": total}
    if length is not None:
        request.app[keys.REGISTRY].poke_watch()
        va = await accounts.resolve_va(store, await accounts.resolve_account(store, body.account), body.va)
        row = await store.read(lambda uow: _newest_term(uow, va.id, body.name, body.license_type, body.usage_mode))
        answer |= {"subscription_id": row.subscription_id, "end_date": end_date(row.ends_at).isoformat()}
    return json_response(answer, status=201)


def _newest_term(uow: UnitOfWork, va_id: int, name: str, license_type: LicenseType, mode: UsageMode) -> LicenseTerm:
    pool = uow.pools.by_tag(va_id, LicenseKey(name, license_type, mode).tag)
    assert pool is not None
    return max(uow.terms.of(pool.id), key=lambda r: r.id)


async def renew(request: web.Request, body: RenewBody) -> web.Response:
    """Extend a Flex subscription term (the lab's shortcut to 'ssm-server license renew')."""
    length = terms.parse_length(body.term, body.ends) or terms.Length(years=1)
    now = request.app[keys.CLOCK].now()
    row = await subscriptions.renew(request.app[keys.STORE], body.subscription_id, length, now)
    request.app[keys.REGISTRY].poke_watch()
    return json_response({"subscription_id": row.subscription_id, "end_date": end_date(row.ends_at).isoformat()})
