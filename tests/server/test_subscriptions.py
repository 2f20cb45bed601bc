"""Flex subscription terms on a running SSM (issue 21.1): the 90/60/30-day alerts once each on the
domain clock, the licenses leaving the pool exactly at the end instant, renewal, perpetual
licenses that never expire, and an instance that sees its pool Out of Compliance after expiry."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from openapi_schema_validator import OAS30Validator

from server import cli, watch
from server.accounts import LAB_DOMAIN, find_account
from server.web.outbox import alerts as portal_alerts
from shared import terms
from shared.clock import epoch, utc
from shared.states import AuthorizationStatus, LicenseType, UsageMode
from tests.conftest import MakeAgent, RunningSSM
from tests.server.conftest import Api

PREMIUM = "Premium Agent"
CISCO = json.loads((Path(__file__).parent.parent / "data" / "cisco-software-apis-1.0.2-licensing.json").read_text())
Q = timedelta(minutes=15)
#: A term bought at START (2026-01-05 09:00) for 1y ends at 2027-01-05 00:00 UTC.
END_1Y = datetime(2027, 1, 5, tzinfo=UTC)


async def premium(ssm: RunningSSM, license_type: LicenseType = LicenseType.FLEX) -> int:
    pools = await ssm.store.read(lambda u: u.pools.of(1))
    return next(
        p.quantity
        for p in pools
        if p.name == PREMIUM and p.license_type is license_type and p.usage_mode is UsageMode.PRODUCTION
    )


async def outbox(ssm: RunningSSM, kind: str) -> list[str]:
    return [n.subject for n in await ssm.store.read(lambda u: u.events.outbox(limit=1000)) if n.kind == kind]


async def open_alerts(ssm: RunningSSM) -> list[tuple[int | None, bool]]:
    """The portal's Alerts of the terms: (due, resolved)."""
    t = epoch(ssm.clock.now())

    def read(u):  # type: ignore[no-untyped-def]
        account = find_account(u, LAB_DOMAIN)
        return [(a.due, a.resolved) for a in portal_alerts(u, account, ssm.policy, t) if a.kind == terms.EXPIRING]

    return list(await ssm.store.read(read))


async def buy(ssm: RunningSSM, quantity: int, **term: str) -> dict[str, object]:
    status, body = await ssm.lab("POST", "/_lab/licenses", {"name": PREMIUM, "quantity": quantity, **term})
    assert status == 201, body
    return dict(body)


async def advance_to(ssm: RunningSSM, when: datetime) -> None:
    await ssm.clock.advance(when - ssm.clock.now())


async def test_alerts_once_each_then_the_licenses_leave_exactly_at_the_end(ssm: RunningSSM) -> None:
    bought = await buy(ssm, 30, term="1y")
    assert bought["purchased"] == 130 and bought["end_date"] == "2027-01-04"
    sub = str(bought["subscription_id"])
    for days, count in ((90, 1), (60, 2), (30, 3)):
        await advance_to(ssm, END_1Y - timedelta(days=days, seconds=1))
        assert len(await outbox(ssm, terms.EXPIRING)) == count - 1
        await ssm.clock.advance(timedelta(seconds=1))
        expiring = await outbox(ssm, terms.EXPIRING)
        assert len(expiring) == count and sub in expiring[-1]
    await advance_to(ssm, END_1Y - timedelta(seconds=1))
    assert await premium(ssm) == 130 and not await outbox(ssm, terms.EXPIRED)
    await ssm.clock.advance(timedelta(seconds=1))
    assert await premium(ssm) == 100
    assert len(await outbox(ssm, terms.EXPIRED)) == 1
    row = await ssm.store.read(lambda u: u.terms.by_subscription(sub))
    assert row is not None and row.expired_at == int(END_1Y.timestamp())
    await ssm.clock.advance(timedelta(days=400))  # nothing more, ever
    assert len(await outbox(ssm, terms.EXPIRING)) == 3 and len(await outbox(ssm, terms.EXPIRED)) == 1
    assert await premium(ssm) == 100
    status, body = await ssm.lab("POST", "/_lab/licenses/renew", {"subscription_id": sub, "term": "1y"})
    assert status == 409 and body["error"] == "term_expired" and body["fix"]


async def test_a_term_bought_with_the_cli_while_the_ssm_runs_is_alerted_on_time(ssm: RunningSSM) -> None:
    """The admin verb writes the database itself; the running SSM notices within a second of real
    time and alerts at the term's own instants (it used to learn only at its next wake)."""
    add = ["license", "add", "--type", "Flex", "--name", PREMIUM, "--quantity", "5", "--term", "1y"]
    assert await asyncio.to_thread(cli.main, [*add, "--db", str(ssm.db_path)]) == 0
    await asyncio.sleep(watch.OUTSIDE_POLL * 2.5)
    await advance_to(ssm, END_1Y - timedelta(days=90, seconds=1))
    assert await outbox(ssm, terms.EXPIRING) == []
    await ssm.clock.advance(timedelta(seconds=1))
    assert len(await outbox(ssm, terms.EXPIRING)) == 1
    await advance_to(ssm, END_1Y)
    assert len(await outbox(ssm, terms.EXPIRED)) == 1


async def test_renewal_extends_and_cancels_the_pending_expiry(api: Api) -> None:
    ssm = api.ssm
    sub = str((await buy(ssm, 10, term="1y"))["subscription_id"])
    await advance_to(ssm, END_1Y - timedelta(days=10))
    assert len(await outbox(ssm, terms.EXPIRING)) == 3
    assert await open_alerts(ssm) == [(int(END_1Y.timestamp()), False)] * 3  # due at the end, open
    status, body = await ssm.lab("POST", "/_lab/licenses/renew", {"subscription_id": sub, "term": "1y"})
    assert status == 200 and body["end_date"] == "2028-01-04", body
    await advance_to(ssm, END_1Y + timedelta(days=1))
    assert await premium(ssm) == 110 and not await outbox(ssm, terms.EXPIRED)
    assert await open_alerts(ssm) == [(None, True)] * 3  # the renewal resolved them
    # the admin API shows the term beside the licenses bought without one
    await api.login()
    headers = {"X-CSW-SMART-ACCOUNT-ID": "1", "X-CSW-VIRTUAL-ACCOUNT-ID": "1"}
    got, summary = await api.call(
        "POST", "/v1/software/apis/licensing/v2/get-summary", headers=headers, json={"data": {"nonce": "n"}}
    )
    assert got == 200
    flex = next(s for s in summary["summary"] if s["display_name"] == "Premium Agent (Flex, Production)")
    assert flex["entitled"] == 110
    details = {d["subscription_id"]: d for d in flex["license_details"]}
    assert details[sub] == {
        "quantity": 10,
        "start_date": "2026-Jan-05",
        "end_date": "2028-Jan-04",
        "subscription_id": sub,
        "license_type": "TERM",
    }
    assert sum(d["quantity"] for d in details.values()) == 110
    # Cisco's subscription-usage lists it, within Cisco's schema for the operation
    path = "/licensing/v1/account/{smartAccountDomain}/licenses/subscription-usage"
    got, usage = await api.call(
        "POST", "/v1/software/apis" + path.replace("{smartAccountDomain}", LAB_DOMAIN), json={"status": ["Active"]}
    )
    assert got == 200 and usage["totalRecords"] == 1
    assert usage["licenseSubscriptions"][0] | {"startDate": ""} == {
        "virtualAccount": "DEFAULT",
        "license": "Premium Agent (Flex, Production)",
        "billingType": "PREPAID",
        "quantity": "10",
        "startDate": "",
        "endDate": "2028-01-04T00:00:00.000Z",
        "status": "Active",
        "subscriptionId": sub,
    }
    op = CISCO["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert not list(OAS30Validator({"allOf": [op], "components": CISCO["components"]}).iter_errors(usage))
    # the next alerts are the renewed term's: 90 days before its new end
    await advance_to(ssm, datetime(2028, 1, 5, tzinfo=UTC) - timedelta(days=89))
    assert len(await outbox(ssm, terms.EXPIRING)) == 4


async def test_perpetual_licenses_never_expire(ssm: RunningSSM) -> None:
    status, body = await ssm.lab(
        "POST", "/_lab/licenses", {"name": PREMIUM, "quantity": 5, "license_type": "Perpetual", "term": "1y"}
    )
    assert status == 400 and body["error"] == "term_on_perpetual", body
    before = await premium(ssm, LicenseType.PERPETUAL)
    status, _ = await ssm.lab("POST", "/_lab/licenses", {"name": PREMIUM, "quantity": 5, "license_type": "Perpetual"})
    assert status == 201
    await ssm.clock.advance(timedelta(days=3650))
    assert await premium(ssm, LicenseType.PERPETUAL) == before + 5
    assert await premium(ssm) == 100  # and Flex licenses bought without a term stay too
    assert not await outbox(ssm, terms.EXPIRED) and not await outbox(ssm, terms.EXPIRING)


async def test_expiry_puts_the_pool_out_of_compliance_and_the_instance_sees_it(
    ssm: RunningSSM, make_agent: MakeAgent
) -> None:
    """120 in use of 130 is compliant; the term of 30 ends at midnight; five intervals of 120 over
    the 100 left put the pool and the instance Out of Compliance."""
    bought = await buy(ssm, 30, term="1d")
    ends = datetime(2026, 1, 6, tzinfo=UTC)
    assert bought["end_date"] == "2026-01-05"
    inst = (await make_agent()).agent.runner(None)
    await inst.register(await ssm.token())
    await inst.set_usage({PREMIUM: 120})
    await advance_to(ssm, ends - Q)
    assert inst.status().license_authorization_status is AuthorizationStatus.AUTHORIZED
    await advance_to(ssm, ends + 6 * Q)
    assert await premium(ssm) == 100
    assert inst.status().license_authorization_status is AuthorizationStatus.OUT_OF_COMPLIANCE
    pool = next(p for p in await ssm.store.read(lambda u: u.pools.of(1)) if p.quantity == 100 and p.name == PREMIUM)
    assert pool.pool.ooc_since is not None and utc(pool.pool.ooc_since) > ends


def test_the_cli_buys_lists_and_renews_terms(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "ssm.db")
    assert cli.main(["account", "create", "--domain", "t.example", "--name", "T", "--db", db]) == 0
    add = ["license", "add", "--type", "Flex", "--name", PREMIUM, "--quantity", "7", "--db", db]
    assert cli.main([*add, "--term", "3y"]) == 0
    out = capsys.readouterr().out
    assert "7 Flex Production Premium Agent added to DEFAULT: 7 purchased" in out and "valid until" in out
    assert cli.main([*add, "--term", "3 years"]) == 2
    assert "is not a term" in capsys.readouterr().err
    assert cli.main(["license", "terms", "--va", "NOPE", "--db", db]) == 2  # as report consumption refuses it
    assert "no virtual account 'NOPE'" in capsys.readouterr().err
    perpetual = ["license", "add", "--type", "Perpetual", "--name", PREMIUM, "--quantity", "1", "--db", db]
    assert cli.main([*perpetual, "--term", "1y"]) == 2
    assert "never expire" in capsys.readouterr().err
    assert cli.main(["license", "terms", "--json", "--db", db]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["quantity"] == 7 and row["status"] == "Active"
    end = datetime.fromisoformat(row["end_date"]).date()
    assert cli.main(["license", "renew", row["subscription_id"], "--ends", "2099-01-01", "--db", db]) == 2
    assert cli.main(["license", "renew", row["subscription_id"], "--term", "5y", "--db", db]) == 0
    assert f"valid until {end.replace(year=end.year + 5).isoformat()}" in capsys.readouterr().out
