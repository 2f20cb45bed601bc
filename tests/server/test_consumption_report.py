"""The License Consumption report (issue 21.4) over real usage reports: what each interval's report
said (actual peak), what the SSM counted (reported, locked while Out of Compliance) and the
compliance status, from the CLI as CSV and from the admin API as CSV or JSON."""

from __future__ import annotations

import asyncio
import csv
import json
import re
from datetime import timedelta

import pytest

from server import cli, consumption
from shared import licenseconsumption as lc
from shared.catalog import LicenseKey
from shared.clock import epoch
from shared.states import AuthorizationStatus, LicenseType, UsageMode
from tests.conftest import START, MakeAgent, RunningSSM
from tests.server.conftest import Api

Q = timedelta(minutes=15)
PREMIUM = "Premium Agent"
#: the structlog lines the in-process agent prints to the same stdout
LOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[")
PATH = "/services/api/smart-accounts-and-licensing/v1/accounts/lab.ssmlab.example/license-consumption"


async def over_then_down(ssm: RunningSSM, make_agent: MakeAgent) -> str:
    """130 in use of 100 for five intervals (Out of Compliance, locked at 130), then 90 for two."""
    inst = (await make_agent()).agent.runner(None)
    await inst.register(await ssm.token())
    await inst.set_usage({PREMIUM: 130})
    await ssm.clock.advance(5 * Q)
    await inst.set_usage({PREMIUM: 90})
    await ssm.clock.advance(2 * Q)
    assert inst.status().license_authorization_status is AuthorizationStatus.OUT_OF_COMPLIANCE
    line = next(x for x in inst.consumption() if x.license_name == PREMIUM)
    assert (line.usage_count, line.actual_usage) == (130, 90)  # what the product shows
    return inst.state.piid or ""


async def test_rows_match_the_reports_and_the_locks(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    piid = await over_then_down(ssm, make_agent)
    p = consumption.period(None, None, ssm.clock.now())
    rows = [r for r in await consumption.report(ssm.store, p) if r.license == PREMIUM and r.piid == piid]
    stored = await ssm.store.read(lambda u: u.usage.reports(piid, limit=100))
    peaks = {r.interval_start: next(x["peak"] for x in json.loads(r.lines) if x["name"] == PREMIUM) for r in stored}
    assert {r.interval_start: r.actual_peak for r in rows} == peaks  # every interval, as reported
    over = [r for r in rows if r.actual_peak]
    assert [(r.actual_peak, r.reported_usage, r.locked, r.compliance_status) for r in over] == [
        (130, 130, False, lc.IN_COMPLIANCE),
        (130, 130, False, lc.IN_COMPLIANCE),
        (130, 130, False, lc.IN_COMPLIANCE),
        (130, 130, False, lc.IN_COMPLIANCE),
        (130, 130, True, lc.OUT_OF_COMPLIANCE),  # the fifth consecutive interval over
        (90, 130, True, lc.OUT_OF_COMPLIANCE),  # locked at its highest
        (90, 130, True, lc.OUT_OF_COMPLIANCE),
    ]
    latest = await ssm.store.read(lambda u: u.usage.latest(piid))
    tag = LicenseKey(PREMIUM, LicenseType.FLEX, UsageMode.PRODUCTION).tag
    assert next(x.reported for x in latest if x.tag == tag) == over[-1].reported_usage  # the SSM's lock
    # a period before any report holds none
    early = consumption.Period(epoch(START) - 86400, epoch(START))
    assert await consumption.report(ssm.store, early) == []


async def test_cli_and_admin_api_answer_csv(
    api: Api, make_agent: MakeAgent, capsys: pytest.CaptureFixture[str]
) -> None:
    ssm = api.ssm
    await over_then_down(ssm, make_agent)
    day = START.date().isoformat()
    nxt = (START + timedelta(days=1)).date().isoformat()
    db = str(ssm.db_path)
    assert await asyncio.to_thread(cli.main, ["report", "consumption", "--from", day, "--to", nxt, "--db", db]) == 0
    out = capsys.readouterr().out.splitlines()
    from_cli = list(csv.DictReader(x for x in out[out.index(",".join(lc.COLUMNS)) :] if not LOG.match(x)))
    premium = [r for r in from_cli if r["license"] == PREMIUM]
    assert [r["reported_usage"] for r in premium if r["actual_peak"] != "0"] == ["130"] * 7
    assert [r["locked"] for r in premium if r["actual_peak"] == "90"] == ["yes", "yes"]
    assert await asyncio.to_thread(cli.main, ["report", "consumption", "--from", nxt, "--to", day, "--db", db]) == 2
    assert "fix: give a start before the end (--from before --to" in capsys.readouterr().err

    await api.login()
    async with api.session.get(
        ssm.url + PATH,
        params={"from": day, "to": nxt, "virtualAccount": "DEFAULT"},
        headers={"Authorization": f"Bearer {api.token}", "Accept": "text/csv"},
    ) as r:
        assert r.status == 200 and r.content_type == "text/csv"
        assert list(csv.DictReader((await r.text()).splitlines())) == from_cli
    got, body = await api.call("GET", PATH, params={"from": day, "to": nxt})
    assert got == 200 and body["totalRecords"] == len(from_cli) and body["rows"][0]["interval_start"].endswith("Z")
    got, body = await api.call("GET", PATH, params={"from": "yesterday"})
    assert got == 400 and body["error"] == "invalid_period" and body["fix"]
    got, body = await api.call("GET", PATH, params={"virtualAccount": "Nowhere"})
    assert got == 404 and body["error"] == "virtual_account_not_found"
    got, _ = await api.call("GET", PATH, token="")
    assert got == 401
