"""Reports > License Consumption: per license of the virtual account, the actual peak and the
reported (possibly locked) usage of each interval over a chosen period, as a chart, a summary per
product instance and license, and the CSV download (``server.consumption``, as the CLI's
``ssm-server report consumption`` and the admin API answer it)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from plumbing.web import pages
from server import consumption, keys
from server.web import consumptionchart
from server.web.common import Scope, download_headers, layout, now, page, scope_of
from shared import licenseconsumption as lc
from shared.errors import BadRequest

#: The periods the page offers: (days, label).
PERIODS = ((1, "Last day"), (7, "Last 7 days"), (30, "Last 30 days"), (90, "Last 90 days"), (366, "Last year"))


@dataclass(frozen=True, slots=True)
class Summary:
    """One product instance's use of one license over the period."""

    instance: str
    license: str
    intervals: int
    highest_actual: int
    highest_reported: int
    locked: int
    status: str


def summaries(rows: list[lc.Row]) -> list[Summary]:
    by: dict[tuple[str, str, str], list[lc.Row]] = {}
    for r in rows:
        by.setdefault((r.instance, r.piid, r.license), []).append(r)
    return [
        Summary(
            inst,
            lic,
            len(rs),
            max(r.actual_peak for r in rs),
            max(r.reported_usage for r in rs),
            sum(r.locked for r in rs),
            rs[-1].compliance_status,
        )
        for (inst, _, lic), rs in sorted(by.items())
    ]


def _days(request: web.Request) -> int:
    raw = request.query.get("days", "7")
    if not raw.isdigit() or int(raw) not in {d for d, _ in PERIODS}:
        raise BadRequest(
            f"Period: {raw[:20]!r} is not one of the periods offered",
            code="invalid_period",
            fix="choose a period from the list",
        )
    return int(raw)


async def _report(request: web.Request, scope: Scope) -> tuple[consumption.Period, list[lc.Row]]:
    p = consumption.last(_days(request), now(request))
    rows = await consumption.report(request.app[keys.STORE], p, account=scope.account.domain, va=scope.va.name)
    return p, rows


@page
async def consumption_page(request: web.Request) -> web.Response:
    """Reports > License Consumption."""
    scope = await scope_of(request)
    days = _days(request)
    p, rows = await _report(request, scope)
    charts = [consumptionchart.draw(name, pts, start=p.start, end=p.end) for name, pts in lc.series(rows).items()]
    ctx = await layout(request, scope, active="reports", title=f"License Consumption: {scope.va.name}")
    ctx.update(
        periods=PERIODS,
        days=days,
        period=p,
        charts=charts,
        summaries=summaries(rows),
        csv_url=scope.url("/reports/consumption.csv", days=str(days)),
        picker="/reports/consumption",
    )
    return pages.render("consumption.html", request, ctx)


@page
async def consumption_csv(request: web.Request) -> web.Response:
    """The report as CSV (the download link)."""
    scope = await scope_of(request)
    _, rows = await _report(request, scope)
    return web.Response(text=lc.to_csv(rows), headers=download_headers("license-consumption.csv", "text/csv"))
