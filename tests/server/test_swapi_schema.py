"""Every emulated Software API operation answers within Cisco's own schema for it.

The schemas are those of Cisco's OpenAPI document "Software APIs" 1.0.2 (its accounts and
licensing extract, vendored in tests/data). Each answer is checked with an OpenAPI 3.0 validator
(``nullable`` and all), and each operation is called against a store holding a registered
instance with usage, a reservation and an alert, so lists are not trivially empty.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator

from server.accounts import LAB_DOMAIN
from shared import slr
from tests.conftest import MakeAgent, RunningSSM
from tests.server.conftest import Api

DOC = json.loads((Path(__file__).parent.parent / "data" / "cisco-software-apis-1.0.2-licensing.json").read_text())
BASE = "/v1/software/apis"


def schema_of(method: str, path: str) -> dict[str, Any]:
    op = DOC["paths"][path][method.lower()]
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    return {"allOf": [schema], "components": DOC["components"]}


def check(method: str, spec_path: str, body: Any) -> None:
    validator = OAS30Validator(schema_of(method, spec_path))
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"{method} {spec_path}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


@pytest.fixture
async def world(ssm: RunningSSM, make_agent: MakeAgent, api: Api) -> dict[str, Any]:
    """A registered instance with usage, a confirmed-less reservation, and a pool alert."""
    await api.login()
    runner = (await make_agent()).agent.runner(None)
    await runner.register(await ssm.token())
    await runner.set_usage({"Premium Agent": 120})  # 100 purchased: Out of Compliance, an alert
    await ssm.clock.advance(timedelta(hours=2))
    await api.login()
    pool = next(p for p in await ssm.store.read(lambda u: u.pools.of(1)) if p.name == "Standard Agent" and p.quantity)
    code = slr.new_request_code("UCCE", "SN-SCHEMA")
    return {"runner": runner, "pool": pool, "code": code.text}


async def test_software_api_answers_fit_ciscos_schemas(api: Api, world: dict[str, Any], ssm: RunningSSM) -> None:
    d, va = LAB_DOMAIN, "DEFAULT"
    tag = world["pool"].tag
    runner = world["runner"]
    sudi = {"udiPid": runner.state.udi_pid, "udiSerialNumber": runner.state.serial_number}
    calls: list[tuple[str, str, str, dict[str, Any]]] = [
        (
            "GET",
            "/accounts/v1/domain/{smartAccountDomain}/type/{accountType}/virtual-accounts",
            f"/accounts/v1/domain/{d}/type/CUSTOMER/virtual-accounts",
            {},
        ),
        (
            "POST",
            "/accounts/v1/domain/{smartAccountDomain}/type/{accountType}/virtual-accounts",
            f"/accounts/v1/domain/{d}/type/CUSTOMER/virtual-accounts",
            {"json": {"name": "East", "description": "e"}},
        ),
        (
            "POST",
            "/accounts/v1/domain/{smartAccountDomain}/type/{accountType}/virtual-account/create",
            f"/accounts/v1/domain/{d}/type/CUSTOMER/virtual-account/create",
            {"json": {"name": "West"}},
        ),
        (
            "GET",
            "/accounts/v1/virtual-account/default",
            "/accounts/v1/virtual-account/default",
            {"params": {"smartAccountDomain": d}},
        ),
        (
            "GET",
            "/licensing/v1/account/{smartAccountDomain}/virtual-account/{virtualAccountName}/device/search",
            f"/licensing/v1/account/{d}/virtual-account/{va}/device/search",
            {},
        ),
        (
            "GET",
            "/licensing/v2/accounts/{smartAccountDomain}/devices",
            f"/licensing/v2/accounts/{d}/devices",
            {"params": {"virtualAccountName": va}},
        ),
        (
            "POST",
            "/licensing/v1/account/{smartAccountDomain}/device/get-usage",
            f"/licensing/v1/account/{d}/device/get-usage",
            {"json": {"virtualAccounts": [va]}},
        ),
        (
            "POST",
            "/licensing/v1/account/{smartAccountDomain}/virtual-account/{virtualAccountName}/token/create",
            f"/licensing/v1/account/{d}/virtual-account/{va}/token/create",
            {"json": {"description": "s", "expiresAfterDays": 30, "exportControlled": "Not Allowed"}},
        ),
        (
            "GET",
            "/licensing/v1/account/{smartAccountDomain}/virtual-account/{virtualAccountName}/token/list",
            f"/licensing/v1/account/{d}/virtual-account/{va}/token/list",
            {},
        ),
        (
            "POST",
            "/licensing/v1/account/{smartAccountDomain}/virtual-account/{virtualAccountName}/licenses/transfer",
            f"/licensing/v1/account/{d}/virtual-account/{va}/licenses/transfer",
            {"json": {"licenses": [{"license": tag, "quantity": 1, "targetVirtualAccount": "East"}]}},
        ),
        (
            "POST",
            "/licensing/v2/accounts/{smartAccountDomain}/licenses/transfer",
            f"/licensing/v2/accounts/{d}/licenses/transfer",
            {
                "params": {"virtualAccountName": va},
                "json": {"licenses": [{"license": tag, "quantity": 1, "targetVirtualAccount": "West"}]},
            },
        ),
        (
            "POST",
            "/licensing/v1/account/{smartAccountDomain}/virtual-account/{virtualAccountName}/licenses/reserve",
            f"/licensing/v1/account/{d}/virtual-account/{va}/licenses/reserve",
            {
                "json": {
                    "reservationRequests": [
                        {
                            "reservationCode": world["code"],
                            "reservationType": "SPECIFIC",
                            "licenses": [{"entitlementTag": tag, "quantity": 2}],
                        }
                    ]
                }
            },
        ),
        (
            "POST",
            "/licensing/v2/account/{smartAccountDomain}/virtual-account/{virtualAccountName}/licenses/reserve",
            f"/licensing/v2/account/{d}/virtual-account/{va}/licenses/reserve",
            {
                "json": {
                    "reservationRequests": [
                        {
                            "reservationCode": slr.new_request_code("UCCE", "SN-SCHEMA-2").text,
                            "licenses": [{"entitlementTag": tag, "quantity": 1}],
                        }
                    ]
                }
            },
        ),
        (
            "POST",
            "/licensing/v2/get-summary",
            "/licensing/v2/get-summary",
            {
                "headers": {
                    "X-CSW-SMART-ACCOUNT-ID": "1",
                    "X-CSW-VIRTUAL-ACCOUNT-ID": "1",
                    "X-CSW-REQUESTING-SYSTEM": '{"display_name":"CSLU"}',
                },
                "json": {"data": {"timestamp": 1700000000000, "nonce": "n-1", "tags": []}},
            },
        ),
        (
            "POST",
            "/licensing/v1/account/{smartAccountDomain}/get-alerts",
            f"/licensing/v1/account/{d}/get-alerts",
            {"json": {"virtualAccounts": [va]}},
        ),
    ]
    for method, spec, path, kw in calls:
        got, body = await api.call(method, BASE + path, **kw)
        assert got == 200, (path, body)
        check(method, spec, body)

    # what lists are expected to hold, read back from the store
    _, usage = await api.call("POST", f"{BASE}/licensing/v1/account/{d}/device/get-usage", json={})
    registered = next(x for x in usage["devices"] if x["sudi"] == sudi)
    assert {
        "license": "Premium Agent (Flex, Production)",
        "quantity": "120",
        "startDate": "",
        "endDate": "",
    } in registered["licenseUsage"]
    _, alerts = await api.call("POST", f"{BASE}/licensing/v1/account/{d}/get-alerts", json={})
    assert alerts["totalRecords"] >= 1 and any(a["messageType"] == "Insufficient Licenses" for a in alerts["alerts"])
    _, summary = await api.call(
        "POST",
        f"{BASE}/licensing/v2/get-summary",
        headers={"X-CSW-SMART-ACCOUNT-ID": "1", "X-CSW-VIRTUAL-ACCOUNT-ID": "1"},
        json={"data": {"timestamp": 1, "nonce": "echo-me", "tags": [tag]}},
    )
    assert summary["nonce"] == "echo-me" and [s["tag"] for s in summary["summary"]] == [tag]
    assert summary["summary"][0]["reserved"] == 3

    # update and confirm (the reservation of SN-SCHEMA), transfer and remove the registered device
    res = await ssm.store.read(lambda u: u.reservations.active("UCCE", "SN-SCHEMA"))
    assert res is not None
    ssudi = {"udiPid": "UCCE", "udiSerialNumber": "SN-SCHEMA"}
    confirm = {"reservationConfirmationRequests": [{"sudi": ssudi, "confirmationCode": res.confirmation_code}]}
    got, body = await api.call(
        "POST", f"{BASE}/licensing/v1/account/{d}/virtual-account/{va}/confirm-slr-update", json=confirm
    )
    assert got == 200
    check(
        "POST",
        "/licensing/v1/account/{smartAccountDomain}/virtual-account/{virtualAccountName}/confirm-slr-update",
        body,
    )
    update = {"reservationUpdateRequests": [{"sudi": ssudi, "licenses": [{"entitlementTag": tag, "quantity": 4}]}]}
    got, body = await api.call("POST", f"{BASE}/licensing/v1/account/{d}/virtual-account/{va}/update-slr", json=update)
    assert got == 200, body
    check("POST", "/licensing/v1/account/{smartAccountDomain}/virtual-account/{virtualAccountName}/update-slr", body)
    new = await ssm.store.read(lambda u: u.reservations.active("UCCE", "SN-SCHEMA"))
    assert new is not None and new.licenses[0].count == 4
    confirm = {"reservationConfirmationRequests": [{"sudi": ssudi, "confirmationCode": new.confirmation_code}]}
    got, body = await api.call(
        "POST", f"{BASE}/licensing/v2/accounts/{d}/licenses/confirm", params={"virtualAccountName": va}, json=confirm
    )
    assert got == 200
    check("POST", "/licensing/v2/accounts/{smartAccountDomain}/licenses/confirm", body)
    got, body = await api.call(
        "POST", f"{BASE}/licensing/v2/accounts/{d}/licenses/update", params={"virtualAccountName": va}, json=update
    )
    assert got == 200
    check("POST", "/licensing/v2/accounts/{smartAccountDomain}/licenses/update", body)

    move = {"productInstances": [{"sudi": sudi, "targetVirtualAccount": "East"}]}
    got, body = await api.call(
        "POST", f"{BASE}/licensing/v1/account/{d}/virtual-account/{va}/device/transfer", json=move
    )
    assert got == 200 and body["successCount"] == 1, body
    check(
        "POST", "/licensing/v1/account/{smartAccountDomain}/virtual-account/{virtualAccountName}/device/transfer", body
    )
    inst = await ssm.store.read(lambda u: u.instances.active_by_sudi(sudi["udiPid"], sudi["udiSerialNumber"]))
    assert (
        inst is not None
        and (await ssm.store.read(lambda u: u.accounts.virtual_account(inst.virtual_account_id))).name == "East"
    )  # type: ignore[union-attr]
    back = {"productInstances": [{"sudi": sudi, "targetVirtualAccount": va}]}
    got, body = await api.call(
        "POST", f"{BASE}/licensing/v2/accounts/{d}/devices/transfer", params={"virtualAccountName": "East"}, json=back
    )
    assert got == 200, body
    check("POST", "/licensing/v2/accounts/{smartAccountDomain}/devices/transfer", body)

    got, body = await api.call(
        "POST", f"{BASE}/licensing/v1/account/{d}/virtual-account/{va}/device/remove", json={"sudi": sudi}
    )
    assert got == 200, body
    check("POST", "/licensing/v1/account/{smartAccountDomain}/virtual-account/{virtualAccountName}/device/remove", body)
    assert await ssm.store.read(lambda u: u.instances.active_by_sudi(sudi["udiPid"], sudi["udiSerialNumber"])) is None

    second = await ssm.store.read(lambda u: u.reservations.active("UCCE", "SN-SCHEMA-2"))
    assert second is not None
    gone = {
        "productInstancesRemoveRequests": [
            {"sudi": {"udiPid": "UCCE", "udiSerialNumber": "SN-SCHEMA-2"}, "returnCode": second.return_code}
        ]
    }
    got, body = await api.call(
        "POST", f"{BASE}/licensing/v3/accounts/{d}/devices/remove", params={"virtualAccountName": va}, json=gone
    )
    assert got == 200, body
    check("POST", "/licensing/v3/accounts/{smartAccountDomain}/devices/remove", body)

    created = await api.call("POST", f"{BASE}/licensing/v1/account/{d}/virtual-account/{va}/token/create", json={})
    token = created[1]["tokenInfo"][0]["token"]
    got, body = await api.call(
        "POST", f"{BASE}/licensing/v1/account/{d}/virtual-account/{va}/token/revoke", json={"tokens": [token]}
    )
    assert got == 200 and body["tokensRevokeStatus"][0]["status"] == "SUCCESS", body
    check("POST", "/licensing/v1/account/{smartAccountDomain}/virtual-account/{virtualAccountName}/token/revoke", body)
    got, body = await api.call(
        "POST", f"{BASE}/licensing/v1/account/{d}/virtual-account/{va}/token/revoke", json={"tokens": [token]}
    )
    assert got == 400 and body["tokensRevokeStatus"][0]["status"] == "ERROR"


async def test_error_answers_fit_ciscos_error_schema(api: Api) -> None:
    await api.login()
    got, body = await api.call(
        "GET", f"{BASE}/licensing/v2/accounts/{LAB_DOMAIN}/devices", params={"virtualAccountName": "Nope"}
    )
    assert got == 404
    op = DOC["paths"]["/licensing/v2/accounts/{smartAccountDomain}/devices"]["get"]
    schema = op["responses"]["400"]["content"]["application/json"]["schema"]
    errors = list(OAS30Validator({"allOf": [schema], "components": DOC["components"]}).iter_errors(body))
    assert not errors and body["status"] == "ERROR" and body["statusMessage"]


def test_the_check_catches_a_wrong_shape() -> None:
    """The schema check is not vacuous: Cisco's schema refuses a wrong type and a wrong nesting."""
    path = "/licensing/v1/account/{smartAccountDomain}/virtual-account/{virtualAccountName}/token/create"
    with pytest.raises(AssertionError, match="tokenInfo"):
        check("POST", path, {"status": "SUCCESS", "tokenInfo": {"token": "x"}})  # an object, not Cisco's list
    with pytest.raises(AssertionError, match="totalRecords"):
        check("POST", "/licensing/v1/account/{smartAccountDomain}/get-alerts", {"totalRecords": "3"})
