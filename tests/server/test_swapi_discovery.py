"""The operations clients start with (issue 18.2), each answer checked against Cisco's own schema
for the operation, its refusals included: discovery (PnP accounts and virtual accounts, the user's
Smart Account search), device search (by instance name, display name or serial number; across the
accounts), the SLR details of a product, and get-summary's license terms."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from openapi_schema_validator import OAS30Validator

from server.accounts import LAB_ACCOUNT, LAB_DOMAIN
from server.admin.openapi import admin_document
from server.admin.routing import SOFTWARE
from server.app import create_app
from server.pki_files import LabPki
from server.settings import ServerSettings
from shared import slr
from shared.clock import VirtualClock
from tests.conftest import START, MakeAgent, RunningSSM
from tests.server.conftest import Api
from tests.server.test_swapi_schema import DOC

DATA = Path(__file__).parent.parent / "data"
PNP = json.loads((DATA / "cisco-software-apis-1.0.2-pnp-accounts.json").read_text())
BASE = SOFTWARE


def spec_of(path: str) -> dict[str, Any]:
    return PNP if path.startswith("/pnp/") else DOC


def check(method: str, path: str, status: int, body: Any) -> None:
    """``body`` fits the schema Cisco's document gives for the operation's ``status`` (404, which
    Cisco documents without a body, in the shape of its 400, else 422)."""
    doc = spec_of(path)
    responses = doc["paths"][path][method.lower()]["responses"]
    assert str(status) in responses, f"{method} {path}: Cisco lists no {status} ({sorted(responses)})"
    key = str(status) if status != 404 else ("400" if "400" in responses else "422")
    schema = responses[key]["content"]["application/json"]["schema"]
    validator = OAS30Validator({"allOf": [schema], "components": doc["components"]})
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, f"{method} {path}: " + "; ".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    if status >= 400:  # a refusal: Cisco's fields, ssmlab's code and fix, a human message
        assert body["error"] and body["fix"] and body["message"], body
        for field in schema.get("properties", {}):
            if field not in ("data", "cause", "stackTrace", "suppressed"):
                assert field in body, (field, body)


async def registered(ssm: RunningSSM, make_agent: MakeAgent) -> Any:
    runner = (await make_agent()).agent.runner(None)
    await runner.register(await ssm.token())
    await runner.set_usage({"Premium Agent": 3})
    await ssm.clock.advance(timedelta(minutes=30))
    return runner


async def test_discovery_answers_fit_ciscos_schemas(api: Api) -> None:
    await api.login()
    got, body = await api.call("GET", f"{BASE}/pnp/v2/accounts")
    check("GET", "/pnp/v2/accounts", got, body)
    assert got == 200 and body["totalRows"] == 1
    assert body["data"] == [{"companyName": LAB_ACCOUNT, "domainIdentifier": LAB_DOMAIN, "accountIdentifier": "1"}]
    got, body = await api.call("GET", f"{BASE}/pnp/v2/accounts", params={"accountDomain": "LAB.SSMLAB"})
    assert got == 200 and [a["domainIdentifier"] for a in body["data"]] == [LAB_DOMAIN]
    got, body = await api.call("GET", f"{BASE}/pnp/v2/accounts", params={"accountDomain": "nowhere.example"})
    assert got == 200 and body["totalRows"] == 0 and body["data"] == []

    await api.call(
        "POST", f"{BASE}/accounts/v1/domain/{LAB_DOMAIN}/type/CUSTOMER/virtual-accounts", json={"name": "East"}
    )
    path = "/pnp/v2/accounts/{smartAccountDomain}/virtual-accounts"
    got, body = await api.call("GET", f"{BASE}/pnp/v2/accounts/{LAB_DOMAIN}/virtual-accounts")
    check("GET", path, got, body)
    assert [(v["virtualAccountName"], v["default"]) for v in body["data"]] == [("DEFAULT", "true"), ("East", "false")]
    ids = {v["virtualAccountName"]: v["virtualAccountId"] for v in body["data"]}
    _, search = await api.call("GET", "/services/api/smart-accounts-and-licensing/v2/accounts/search")
    assert {v["name"]: int(v["virtual_account_id"]) for v in search["accounts"][0]["virtual_accounts"]} == ids
    got, body = await api.call(
        "GET", f"{BASE}/pnp/v2/accounts/{LAB_DOMAIN}/virtual-accounts", params={"startIdx": 1, "rowsPerPage": 1}
    )
    assert got == 200 and body["totalRows"] == 2 and [v["virtualAccountName"] for v in body["data"]] == ["East"]
    got, body = await api.call("GET", f"{BASE}/pnp/v2/accounts/nowhere.example/virtual-accounts")
    check("GET", path, got, body)
    assert got == 404 and body["error"] == "account_not_found"

    path = "/accounts/v1/user/search-smart-accounts"
    got, body = await api.call("GET", BASE + path, params={"userId": "anyone", "addVirtualAccounts": "true"})
    check("GET", path, got, body)
    assert got == 200 and body["status"] == "SUCCESS"
    (account,) = body["accounts"]
    assert account["accountDomain"] == LAB_DOMAIN and account["accountId"] == 1
    assert {r.get("virtualAccountName") for r in account["roles"]} == {None, "DEFAULT", "East"}
    got, body = await api.call("GET", BASE + path, params={"userId": "anyone", "accountType": "HOLDING"})
    assert got == 200 and body["accounts"] == []
    got, body = await api.call(
        "GET",
        BASE + path,
        params={"userId": "u", "roleName": "Smart Account Administrator", "addVirtualAccounts": "true"},
    )
    assert [r["role"] for r in body["accounts"][0]["roles"]] == ["Smart Account Administrator"]
    got, body = await api.call("GET", BASE + path)  # userId is required
    check("GET", path, got, body)
    assert got == 400 and body["status"] == "FAILED" and body["messageCode"] == "invalid_query"


async def test_device_search_by_name_display_name_or_serial(api: Api, ssm: RunningSSM, make_agent: MakeAgent) -> None:
    runner = await registered(ssm, make_agent)
    await api.login()
    pid, sn = runner.state.udi_pid, runner.state.serial_number
    inst = await ssm.store.read(lambda u: u.instances.active_by_sudi(pid, sn))
    assert inst is not None
    v1 = "/licensing/v1/account/{smartAccountDomain}/virtual-account/{virtualAccountName}/device/search"
    v2 = "/licensing/v2/accounts/{smartAccountDomain}/devices"
    for text in (inst.name, f"UDI_PID:{pid}; UDI_SN:{sn}; ", f"UDI_PID:{pid}; UDI_SN:{sn}", sn):
        got, body = await api.call(
            "GET",
            f"{BASE}/licensing/v1/account/{LAB_DOMAIN}/virtual-account/DEFAULT/device/search",
            params={"instanceName": text},
        )
        check("GET", v1, got, body)
        assert got == 200 and [d["sudi"] for d in body["devices"]] == [{"udiPid": pid, "udiSerialNumber": sn}], text
        got, body = await api.call(
            "GET",
            f"{BASE}/licensing/v2/accounts/{LAB_DOMAIN}/devices",
            params={"virtualAccountName": "DEFAULT", "instanceName": text},
        )
        check("GET", v2, got, body)
        assert got == 200 and body["totalRecords"] == 1, text
    got, body = await api.call(
        "GET",
        f"{BASE}/licensing/v2/accounts/{LAB_DOMAIN}/devices",
        params={"virtualAccountName": "DEFAULT", "instanceName": "SN-NOT-THERE"},
    )
    assert got == 200 and body["totalRecords"] == 0 and body["devices"] == []

    path = "/licensing/v2/device/search"
    got, body = await api.call(
        "GET",
        BASE + path,
        params={"udi_serial_number": sn},
        headers={"X-CSW-REQUESTING-SYSTEM": '{"display_name":"CSLU"}'},
    )
    check("GET", path, got, body)
    assert got == 200 and body["status"] == "COMPLETE"
    (found,) = body["data"]
    assert found["sudi"] == {"udiPid": pid, "udiSerialNumber": sn}
    assert found["account"] == {
        "name": found["account"]["name"],
        "domain": LAB_DOMAIN,
        "account_id": "1",
        "virtual_account_name": "DEFAULT",
        "virtual_account_id": "1",
        "default": True,
    }
    (lic,) = found["licenses"]
    assert lic["display_name"] == "Premium Agent (Flex, Production)" and lic["quantity"] == 3
    assert lic["license"].startswith("regid.") and lic["subscription_id"].startswith("Sub")
    got, body = await api.call("GET", BASE + path, params={"udi_pid": pid, "udi_serial_number": sn})
    assert got == 200 and len(body["data"]) == 1
    got, body = await api.call("GET", BASE + path, params={"software_tag": found["software_tag"]})
    assert got == 200 and len(body["data"]) == 1
    got, body = await api.call("GET", BASE + path, params={"udi_serial_number": "SN-NOT-THERE"})
    check("GET", path, got, body)
    assert got == 404 and body["message_code"] == "device_not_found" and body["status"] == "FAILED"
    got, body = await api.call("GET", BASE + path)
    check("GET", path, got, body)
    assert got == 400 and body["message_code"] == "search_criteria_required"


async def test_search_slr_details(api: Api) -> None:
    await api.login()
    path = "/licensing/v1/search-slr-details"
    tag = "regid.2019-03.com.cisco.UCCE,1.0"
    got, body = await api.call("POST", BASE + path, json={"softwareTags": [tag, "not-a-tag"]})
    check("POST", path, got, body)
    known, unknown = body["data"]
    assert known["softwareTag"] == tag and unknown == {"softwareTag": "not-a-tag", "entitlements": []}
    premium = next(e for e in known["entitlements"] if "PREMIUM_AGENT" in e["entitlementTag"])
    assert premium["type"] == "SPECIFIC" and premium["UDI_PID"] == "UCCE"
    # what it names can be reserved
    code = slr.new_request_code("UCCE", "SN-DETAILS").text
    got, body = await api.call(
        "POST",
        f"{BASE}/licensing/v2/account/{LAB_DOMAIN}/virtual-account/DEFAULT/licenses/reserve",
        json={
            "reservationRequests": [
                {"reservationCode": code, "licenses": [{"entitlementTag": premium["entitlementTag"], "quantity": 1}]}
            ]
        },
    )
    assert got == 200, body
    got, body = await api.call("POST", BASE + path, json={"softwareTags": []})
    check("POST", path, got, body)
    assert got == 400 and body["error"] == "software_tags_required" and body["statusMessage"]


async def test_summary_license_details_carry_the_purchase_terms(api: Api, ssm: RunningSSM) -> None:
    await api.login()
    headers = {"X-CSW-SMART-ACCOUNT-ID": "1", "X-CSW-VIRTUAL-ACCOUNT-ID": "1"}
    path = "/licensing/v2/get-summary"
    got, body = await api.call("POST", BASE + path, headers=headers, json={"data": {"nonce": "n"}})
    check("POST", path, got, body)
    details = {s["display_name"]: s["license_details"][0] for s in body["summary"]}
    flex = details["Premium Agent (Flex, Production)"]
    assert flex["start_date"] == "2026-Jan-05" and flex["end_date"] == "2027-Jan-04"
    assert flex["license_type"] == "TERM" and flex["quantity"] == 100
    perpetual = next(d for name, d in details.items() if "Perpetual" in name)
    assert perpetual["start_date"] == "2026-Jan-05" and perpetual["end_date"] == "2099-Dec-31"
    ids = [d["subscription_id"] for d in details.values()]
    assert all(ids) and len(set(ids)) == len(ids)
    # the legacy listing shows the same terms (its endDate null for a perpetual license)
    _, legacy = await api.call(
        "POST", f"/services/api/smart-accounts-and-licensing/v1/accounts/{LAB_DOMAIN}/licenses", json={"limit": 0}
    )
    by_name = {x["license"]: x["licenseDetails"][0] for x in legacy["licenses"]}
    assert by_name["Premium Agent (Flex, Production)"] == {
        "licenseType": "TERM",
        "quantity": 100,
        "startDate": "2026-01-05T09:00:00.000Z",
        "endDate": "2027-01-04T00:00:00.000Z",
        "subscriptionId": flex["subscription_id"],
        "status": "ACTIVE",
    }
    assert all(d["endDate"] is None for d in by_name.values() if d["licenseType"] == "PERPETUAL")
    # stable: asked again, the same terms
    _, again = await api.call("POST", BASE + path, headers=headers, json={"data": {"nonce": "n"}})
    assert {s["display_name"]: s["license_details"][0] for s in again["summary"]} == details

    # licenses transferred to a new virtual account 40 days on start there and then
    await ssm.clock.advance(timedelta(days=40))
    await api.login()
    await api.call(
        "POST", f"{BASE}/accounts/v1/domain/{LAB_DOMAIN}/type/CUSTOMER/virtual-accounts", json={"name": "East"}
    )
    item = {"license": "Premium Agent (Flex, Production)", "quantity": 5, "targetVirtualAccount": "East"}
    got, _ = await api.call(
        "POST",
        f"{BASE}/licensing/v1/account/{LAB_DOMAIN}/virtual-account/DEFAULT/licenses/transfer",
        json={"licenses": [item]},
    )
    assert got == 200
    east = await ssm.store.read(lambda u: u.accounts.virtual_account_named(1, "East"))
    assert east is not None
    got, body = await api.call(
        "POST", BASE + path, headers={**headers, "X-CSW-VIRTUAL-ACCOUNT-ID": str(east.id)}, json={"data": {}}
    )
    check("POST", path, got, body)
    (moved,) = body["summary"]
    start = (START + timedelta(days=40)).date()
    assert moved["license_details"][0]["start_date"] == f"2026-Feb-{start.day:02d}"
    assert moved["license_details"][0]["end_date"] == f"2027-Feb-{start.day - 1:02d}"
    assert moved["license_details"][0]["subscription_id"] not in ids


@pytest.mark.parametrize(
    ("method", "path", "spec", "kw", "status", "code"),
    [
        # a duplicate virtual account: a state conflict, answered as the operation's 400 (Cisco lists no 409)
        (
            "POST",
            f"/accounts/v1/domain/{LAB_DOMAIN}/type/CUSTOMER/virtual-accounts",
            "/accounts/v1/domain/{smartAccountDomain}/type/{accountType}/virtual-accounts",
            {"json": {"name": "DEFAULT"}},
            400,
            "virtual_account_exists",
        ),
        (
            "POST",
            f"/accounts/v1/domain/{LAB_DOMAIN}/type/CUSTOMER/virtual-account/create",
            "/accounts/v1/domain/{smartAccountDomain}/type/{accountType}/virtual-account/create",
            {"json": {"name": "DEFAULT"}},
            400,
            "virtual_account_exists",
        ),
        (
            "GET",
            "/accounts/v1/virtual-account/default",
            "/accounts/v1/virtual-account/default",
            {"params": {"smartAccountDomain": "nowhere.example"}},
            404,
            "account_not_found",
        ),
        (
            "POST",
            "/licensing/v2/get-summary",
            "/licensing/v2/get-summary",
            {"json": {"data": {}}, "headers": {"X-CSW-SMART-ACCOUNT-ID": "x", "X-CSW-VIRTUAL-ACCOUNT-ID": "1"}},
            400,
            "header_required",
        ),
        (
            "POST",
            "/licensing/v2/get-summary",
            "/licensing/v2/get-summary",
            {"json": {"data": {}}, "headers": {"X-CSW-SMART-ACCOUNT-ID": "1", "X-CSW-VIRTUAL-ACCOUNT-ID": "999"}},
            404,
            "virtual_account_not_found",
        ),
        (
            "POST",
            f"/licensing/v1/account/{LAB_DOMAIN}/virtual-account/DEFAULT/token/create",
            "/licensing/v1/account/{smartAccountDomain}/virtual-account/{virtualAccountName}/token/create",
            {"data": b"{}", "headers": {"Content-Type": "text/plain"}},
            400,
            "unsupported_media_type",
        ),
        (
            "POST",
            f"/licensing/v1/account/{LAB_DOMAIN}/virtual-account/Nope/token/create",
            "/licensing/v1/account/{smartAccountDomain}/virtual-account/{virtualAccountName}/token/create",
            {"json": {}},
            404,
            "virtual_account_not_found",
        ),
    ],
)
async def test_refusals_use_the_operations_error_schema(
    api: Api, ssm: RunningSSM, method: str, path: str, spec: str, kw: dict[str, Any], status: int, code: str
) -> None:
    await api.login()
    before = ssm.snapshot(skip=("settings", "api_clients"))
    got, body = await api.call(method, BASE + path, **kw)
    check(method, spec, got, body)
    assert (got, body["error"]) == (status, code), body
    assert ssm.snapshot(skip=("settings", "api_clients")) == before


def ours(cisco_path: str) -> str:
    """A path of Cisco's document written as the SSM's route names its parameters."""
    for theirs, mine in (("smartAccountDomain", "domain"), ("virtualAccountName", "va"), ("accountType", "type")):
        cisco_path = cisco_path.replace("{" + theirs + "}", "{" + mine + "}")
    return cisco_path


def test_the_document_lists_only_ciscos_statuses(tmp_path: Path, lab_pki: LabPki) -> None:
    """Each Software API operation of the served document answers only statuses Cisco lists for it
    (and the transport's 414/431, refused before any operation is chosen)."""
    app = create_app(ServerSettings(db_path=tmp_path / "x.db"), clock=VirtualClock(START), lab_pki=lab_pki)
    doc = admin_document(app)
    checked = 0
    for template, ops in doc["paths"].items():
        if not template.startswith(BASE + "/"):
            continue
        rel = template.removeprefix(BASE)
        for method, op in ops.items():
            spec = spec_of(rel)
            cisco = next((p for p in spec["paths"] if ours(p) == rel.replace("{version}", "v1")), None)
            cisco = cisco or next((p for p in spec["paths"] if ours(p) == rel.replace("{version}", "v2")), None)
            assert cisco is not None, rel
            listed = set(spec["paths"][cisco][method]["responses"])
            answered = set(op["responses"]) - {"414", "431"}
            assert answered <= listed, (rel, method, answered - listed)
            checked += 1
    assert checked >= 28  # every Software API operation


async def test_universal_reservation_beside_specific_ones(api: Api, ssm: RunningSSM) -> None:
    """PLR: a Universal reservation holds no license, is in force at once, cannot be updated and
    is given back with the return code derived from its code."""
    await api.login()
    before = [(p.tag, p.reserved) for p in await ssm.store.read(lambda u: u.pools.of(1))]
    code = slr.new_request_code("FPR-PLR", "SN-PLR").text
    path = "/licensing/v2/account/{smartAccountDomain}/virtual-account/{virtualAccountName}/licenses/reserve"
    got, body = await api.call(
        "POST",
        f"{BASE}/licensing/v2/account/{LAB_DOMAIN}/virtual-account/DEFAULT/licenses/reserve",
        json={"reservationRequests": [{"reservationCode": code, "reservationType": "UNIVERSAL"}]},
    )
    check("POST", path, got, body)
    assert got == 200, body
    (item,) = body["authorizationCodes"]
    auth = item["authorizationCode"]
    assert re.fullmatch(r"([A-Za-z0-9]{2,8}-){5,15}[A-Za-z0-9]{2,8}", auth), auth  # Cisco's UPLR form
    assert item["licenses"] == [] and item["sudi"] == {"udiPid": "FPR-PLR", "udiSerialNumber": "SN-PLR"}
    assert [(p.tag, p.reserved) for p in await ssm.store.read(lambda u: u.pools.of(1))] == before

    _, usage = await api.call("POST", f"{BASE}/licensing/v1/account/{LAB_DOMAIN}/device/get-usage", json={})
    (plr,) = [d for d in usage["devices"] if d["sudi"]["udiSerialNumber"] == "SN-PLR"]
    assert plr["mode"] == "PLR" and plr["status"] == "Reserved Licenses"

    sudi = {"udiPid": "FPR-PLR", "udiSerialNumber": "SN-PLR"}
    got, body = await api.call(
        "POST",
        f"{BASE}/licensing/v2/accounts/{LAB_DOMAIN}/licenses/update",
        params={"virtualAccountName": "DEFAULT"},
        json={
            "reservationUpdateRequests": [{"sudi": sudi, "licenses": [{"entitlementTag": before[0][0], "quantity": 1}]}]
        },
    )
    assert got == 400 and body["error"] == "reservation_universal", body

    remove = f"{BASE}/licensing/v3/accounts/{LAB_DOMAIN}/devices/remove"
    wrong = {"productInstancesRemoveRequests": [{"sudi": sudi, "returnCode": "aaaaaa-bbbbbb-cccccc-dddddd"}]}
    got, body = await api.call("POST", remove, params={"virtualAccountName": "DEFAULT"}, json=wrong)
    assert got == 400 and body["error"] == "return_code_invalid"
    right = {"productInstancesRemoveRequests": [{"sudi": sudi, "returnCode": slr.return_code(auth)}]}
    got, body = await api.call("POST", remove, params={"virtualAccountName": "DEFAULT"}, json=right)
    assert got == 200, body
    assert await ssm.store.read(lambda u: u.reservations.active("FPR-PLR", "SN-PLR")) is None

    got, body = await api.call(
        "POST",
        f"{BASE}/licensing/v2/account/{LAB_DOMAIN}/virtual-account/DEFAULT/licenses/reserve",
        json={"reservationRequests": [{"reservationCode": code, "reservationType": "PERMANENT"}]},
    )
    assert got == 400 and body["authorizationCodes"][0]["error"] == "reservation_type_unsupported"
