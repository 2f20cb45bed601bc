"""The License Consumption report over the admin API (an ssmlab extension: Cisco's public API
documents no such operation; the seed names the report): ``GET .../v1/accounts/{domain}/
license-consumption?from=&to=&virtualAccount=``, CSV when the client accepts ``text/csv``, else
JSON."""

from __future__ import annotations

from typing import Annotated

import msgspec
from aiohttp import web

from plumbing.web.routes import Route
from server import consumption, keys
from server.admin import views
from server.admin.common import api
from server.admin.routing import LEGACY
from shared import licenseconsumption as lc

CSV = "text/csv"
_Instant = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
_Name = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class ConsumptionQuery(msgspec.Struct, kw_only=True):
    start: _Instant | None = msgspec.field(default=None, name="from")
    end: _Instant | None = msgspec.field(default=None, name="to")
    virtualAccount: _Name | None = None


def wants_csv(request: web.Request) -> bool:
    return CSV in request.headers.get("Accept", "")


async def license_consumption(request: web.Request, query: ConsumptionQuery) -> web.StreamResponse:
    """ssmlab: the License Consumption report of a period (default: the last 7 days): per product
    instance, license and interval, the actual peak, the reported (possibly locked) usage and the
    compliance status. CSV with ``Accept: text/csv``."""
    account = await views.account_of(request)
    p = consumption.period(query.start, query.end, views.now_of(request))
    rows = await consumption.report(request.app[keys.STORE], p, account=account.domain, va=query.virtualAccount)
    if wants_csv(request):
        return web.Response(
            text=lc.to_csv(rows),
            content_type=CSV,
            headers={"Content-Disposition": 'attachment; filename="license-consumption.csv"'},
        )
    return web.json_response(
        {
            "status": "SUCCESS",
            "statusMessage": "",
            "from": lc.iso(p.start),
            "to": lc.iso(p.end),
            "totalRecords": len(rows),
            "rows": [lc.as_dict(r) for r in rows],
        }
    )


ROUTES: list[Route] = [
    api("GET", LEGACY + "/v1/accounts/{domain}/license-consumption", license_consumption, query=ConsumptionQuery),
]
