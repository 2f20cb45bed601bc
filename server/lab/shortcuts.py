"""The lab's shortcuts to the administrator's verbs: ``POST /_lab/tokens`` (a registration token,
as 'ssm-server token create') and ``POST /_lab/licenses`` (a purchase, as 'ssm-server license add')."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from plumbing.web.middleware import json_response
from server import accounts, keys
from shared.limits import Days, Domain, Name, Quantity, Text, Uses
from shared.states import LicenseType, UsageMode


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
    total = await accounts.add_licenses(
        store,
        account=await accounts.resolve_account(store, body.account),
        va_name=body.va,
        license_type=body.license_type,
        usage_mode=body.usage_mode,
        name=body.name,
        quantity=body.quantity,
        now=request.app[keys.CLOCK].now(),
    )
    return json_response({"license": body.name, "purchased": total}, status=201)
