"""Flex subscription terms over the admin API: Cisco's ``POST licensing/v1/account/{domain}/
licenses/subscription-usage`` (Software APIs 1.0.2), the subscriptions of the account or of the
virtual accounts named, Active or Expired (``server.subscriptions``; Canceled never happens in the
lab)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from plumbing.web.routes import Route
from server import keys
from server.admin import bodies, common, views
from server.admin.routing import SOFTWARE
from server.admin.swapi import sw
from server.reservations import display_name
from server.store import UnitOfWork
from shared.limits import PageOffset
from shared.terms import end_date

#: Cisco: "If all the data is required without pagination the limit can be set to -1".
_Limit = Annotated[int, msgspec.Meta(ge=-1, le=1_000_000)]
_Status = Annotated[str, msgspec.Meta(max_length=16)]


class SubscriptionBody(msgspec.Struct):
    virtualAccounts: Annotated[list[bodies.Short], bodies.Items] = []
    status: Annotated[list[_Status], bodies.Items] = []
    limit: _Limit = 50
    offset: PageOffset = 0


async def subscription_usage(request: web.Request, body: SubscriptionBody) -> web.Response:
    """The Flex subscription terms of the account (or of the virtual accounts named): quantity,
    start and end dates, Active or Expired."""
    vas = await common.listing_vas(request, bodies.ListBody(body.virtualAccounts))
    wanted = {s.casefold() for s in body.status}

    def read(uow: UnitOfWork) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for va in vas:
            pools = {p.id: p for p in uow.pools.of(va.id)}
            for row in uow.terms.in_account(va.id):
                status = "Expired" if row.expired_at is not None else "Active"
                if wanted and status.casefold() not in wanted:
                    continue
                out.append(
                    {
                        "virtualAccount": va.name,
                        "license": display_name(pools[row.license_id]),
                        "billingType": "PREPAID",
                        "quantity": str(row.quantity),
                        "startDate": views.iso(row.starts_at),
                        "endDate": views.iso_date(end_date(row.ends_at)),
                        "status": status,
                        "subscriptionId": row.subscription_id,
                    }
                )
        return out

    rows = await request.app[keys.STORE].read(read)
    shown = rows if body.limit == -1 else views.page(rows, body.limit, body.offset)
    return web.json_response(
        {"licenseSubscriptions": shown, "status": "SUCCESS", "statusMessage": "", "totalRecords": len(rows)}
    )


_PATH = SOFTWARE + "/licensing/v1/account/{domain}/licenses/subscription-usage"
ROUTES: list[Route] = [
    sw(
        "POST",
        SOFTWARE + "/licensing/v1/account/{domain}/licenses/subscription-usage",
        subscription_usage,
        SubscriptionBody,
    ),
]
