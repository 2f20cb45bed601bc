"""Specific License Reservation end to end: the agent's request code, the SSM's reserve operation,
install on the agent, confirm, usage judged against what is left, return, and every refusal."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from server import reservations
from server.accounts import LAB_DOMAIN
from server.pki_files import init_lab_pki, load_lab_pki
from shared import slr
from shared.errors import Conflict, SmartLicensingError, Unauthorized
from shared.states import AuthorizationStatus, EntitlementStatus, RegistrationStatus
from tests.conftest import MakeAgent, RunningSSM
from tests.server.conftest import Api
from tests.server.reservations import LEGACY, reserve

VA = f"{LEGACY}/v1/accounts/{LAB_DOMAIN}/virtual-accounts/DEFAULT"
SW = "/v1/software/apis/licensing"


async def premium(ssm: RunningSSM):  # type: ignore[no-untyped-def]
    return next(
        p
        for p in await ssm.store.read(lambda u: u.pools.of(1))
        if p.name == "Premium Agent" and p.license_type == "Flex"
    )


async def test_reservation_lifecycle(ssm: RunningSSM, make_agent: MakeAgent, api: Api) -> None:
    await api.login()
    pool = await premium(ssm)
    running = await make_agent()
    runner = running.agent.runner(None)

    view = await runner.reservation_request()
    assert view.registration_status is RegistrationStatus.RESERVATION_IN_PROGRESS
    assert view.license_authorization_status is AuthorizationStatus.EVALUATION  # evaluation rules go on
    code = view.reservation_request_code
    assert code is not None and slr.parse_request_code(code).serial_number == runner.state.serial_number
    assert (await runner.reservation_request()).reservation_request_code == code  # asked again: the same code

    status, body = await reserve(api, code, pool.tag, 10)
    assert status == 200 and body["status"] == "SUCCESS", body
    item = body["authorizationCodes"][0]
    assert item["reservationCode"] == code and item["licenses"][0]["quantity"] == 10
    after = await ssm.store.read(lambda u: u.pools.by_tag(1, pool.tag))
    assert after is not None and after.reserved == 10  # reserved licenses count against the pool

    view = await runner.reservation_install(item["authorizationCode"])
    assert view.registration_status is RegistrationStatus.REGISTERED_SLR
    assert str(view.registration_status) == "Registered - Specific License Reservation"
    assert view.license_authorization_status is AuthorizationStatus.AUTHORIZED_RESERVED
    assert [(e.name, e.status, e.reported) for e in view.entitlements] == [
        ("Premium Agent", EntitlementStatus.RESERVED_IN_COMPLIANCE, 10)
    ]
    confirmation = view.reservation_confirmation_code
    assert confirmation is not None and len(confirmation) == 8

    # usage on the instance is judged against the code: within it ReservedInCompliance
    lines = {c.license_name: c for c in await runner.set_usage({"Premium Agent": 8})}
    assert lines["Premium Agent"].status is EntitlementStatus.RESERVED_IN_COMPLIANCE
    lines = {c.license_name: c for c in await runner.set_usage({"Premium Agent": 11})}
    assert lines["Premium Agent"].status is EntitlementStatus.OUT_OF_COMPLIANCE

    # nothing expires and nothing is sent: a year later it is still reserved
    await ssm.clock.advance(timedelta(days=365))
    assert runner.status().license_authorization_status is AuthorizationStatus.AUTHORIZED_RESERVED
    assert await ssm.store.read(lambda u: u.instances.page()) == []
    await api.login()  # the API token's hour is long over

    # update is refused until the code was confirmed; a wrong confirmation code is refused
    sudi = {"udiPid": runner.state.udi_pid, "udiSerialNumber": runner.state.serial_number}
    upd = {"reservationUpdateRequests": [{"sudi": sudi, "licenses": [{"entitlementTag": pool.tag, "quantity": 12}]}]}
    got, body = await api.call("POST", f"{VA}/update-licenses", json=upd)
    assert got == 400 and "not confirmed" in body["statusMessage"]
    got, body = await api.call(
        "POST",
        f"{VA}/confirm-licenses",
        json={"reservationConfirmationRequests": [{"sudi": sudi, "confirmationCode": "deadbeef"}]},
    )
    assert got == 400 and body["data"]["error"] == "confirmation_code_invalid"
    got, body = await api.call(
        "POST",
        f"{SW}/v2/accounts/{LAB_DOMAIN}/licenses/confirm",
        params={"virtualAccountName": "DEFAULT"},
        json={"reservationConfirmationRequests": [{"sudi": sudi, "confirmationCode": confirmation}]},
    )
    assert got == 200 and body["data"]["confirmation_code"] == confirmation, body

    # the device appears in the device listing as a reservation
    _, devices = await api.call("POST", f"{LEGACY}/v1/accounts/{LAB_DOMAIN}/devices", json={})
    row = next(d for d in devices["devices"] if d["sudi"] == sudi)
    assert row["status"] == "Reserved Licenses" and row["licenseUsage"] == [
        {"license": item["licenses"][0]["name"], "quantity": 10}
    ]

    # registering is refused while reserved
    with pytest.raises(Conflict) as info:
        await runner.register(await ssm.token())
    assert info.value.code == "reservation_in_place"

    # return: the agent prints the code; a wrong code is refused; the right one releases the pool
    view, return_code = await runner.reservation_return()
    assert view.registration_status is RegistrationStatus.UNREGISTERED
    remove = f"{LEGACY}/v2/accounts/{LAB_DOMAIN}/virtual-accounts/DEFAULT/devices/remove"
    wrong = {"productInstacesRemoveRequests": [{"sudi": sudi, "returnCode": "aaaaaa-bbbbbb-cccccc-dddddd"}]}
    got, body = await api.call("POST", remove, json=wrong)
    assert got == 400 and body["removeProductInstancesStatus"][0]["status"] == "ERROR"
    assert (await ssm.store.read(lambda u: u.pools.by_tag(1, pool.tag))).reserved == 10  # type: ignore[union-attr]
    right = {"productInstancesRemoveRequests": [{"sudi": sudi, "returnCode": return_code}]}
    got, body = await api.call("POST", remove, json=right)
    assert got == 200 and body["status"] == "SUCCESS", body
    assert (await ssm.store.read(lambda u: u.pools.by_tag(1, pool.tag))).reserved == 0  # type: ignore[union-attr]
    assert await ssm.store.read(lambda u: u.reservations.of()) == []


async def test_agent_refuses_bad_foreign_tampered_and_untrusted_codes(
    ssm: RunningSSM, make_agent: MakeAgent, api: Api, tmp_path: Path
) -> None:
    await api.login()
    pool = await premium(ssm)
    runner = (await make_agent()).agent.runner(None)
    mine = (await runner.reservation_request()).reservation_request_code
    assert mine is not None

    other = slr.new_request_code("UCCE", "SN-OTHER-1")
    _, body = await reserve(api, other.text, pool.tag, 1)
    foreign = body["authorizationCodes"][0]["authorizationCode"]
    _, body = await reserve(api, mine, pool.tag, 2)
    good = body["authorizationCodes"][0]["authorizationCode"]
    tampered = good.replace("<count>2</count>", "<count>200</count>")
    elsewhere = load_lab_pki(_other_pki(tmp_path))
    untrusted = slr.authorize(
        slr.parse_request_code(mine),
        [slr.Entitlement(pool.tag, "Premium Agent", 2, "TERM")],
        now=ssm.clock.now(),
        key=elsewhere.signing.key,
        chain=[elsewhere.signing.cert, *elsewhere.signing.chain],
    ).text
    for code, error in (
        ("hello", "invalid_authorization_code"),
        (foreign, "authorization_code_foreign"),
        (tampered, "authorization_code_tampered"),
        (untrusted, "authorization_code_untrusted"),
    ):
        with pytest.raises(SmartLicensingError) as info:
            await runner.reservation_install(code)
        assert info.value.code == error
        assert runner.state.registration is RegistrationStatus.RESERVATION_IN_PROGRESS
    assert isinstance(info.value, Unauthorized)
    assert (await runner.reservation_install(good)).registration_status is RegistrationStatus.REGISTERED_SLR


def _other_pki(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    init_lab_pki(folder)
    return folder


async def test_ssm_refuses_bad_reservations_and_changes_nothing(ssm: RunningSSM, api: Api) -> None:
    await api.login()
    pool = await premium(ssm)
    before = ssm.snapshot()
    code = slr.new_request_code("UCCE", "SN-1").text
    for request_code, tag, quantity, error in (
        ("not-a-code", pool.tag, 1, "invalid_request_code"),
        (code, "regid.nothing", 1, "license_not_found"),
        (code, pool.tag, pool.quantity + 1, "insufficient_licenses"),
        (code, pool.tag, 0, "invalid_quantity"),
    ):
        got, body = await reserve(api, request_code, tag, quantity)
        assert got == 400 and body["authorizationCodes"][0]["error"] == error, body
    after = ssm.snapshot()
    assert {k: v for k, v in after.items() if k != "api_clients"} == {
        k: v for k, v in before.items() if k != "api_clients"
    }

    got, _ = await reserve(api, code, pool.tag, 3, version="v1")
    assert got == 200
    got, body = await reserve(api, code, pool.tag, 3)
    assert got == 400 and body["authorizationCodes"][0]["error"] == "already_reserved"


async def test_reserved_licenses_are_not_available_to_usage(ssm: RunningSSM, make_agent: MakeAgent, api: Api) -> None:
    """100 purchased, 95 reserved: a registered instance using 10 drives the pool Out of Compliance."""
    await api.login()
    pool = await premium(ssm)
    got, _ = await reserve(api, slr.new_request_code("UCCE", "SN-R").text, pool.tag, pool.quantity - 5)
    assert got == 200
    runner = (await make_agent()).agent.runner(None)
    await runner.register(await ssm.token())
    await runner.set_usage({"Premium Agent": 10})
    await ssm.clock.advance(timedelta(hours=3))
    judged = await ssm.store.read(lambda u: u.pools.by_tag(1, pool.tag))
    assert judged is not None and judged.pool.in_use == 10 and judged.pool.ooc_since is not None
    events = [
        e.message
        for e in await ssm.store.read(lambda u: u.events.recent(limit=200))
        if e.kind == "pool_out_of_compliance"
    ]
    assert events and "5 purchased for usage" in events[-1] and f"{pool.quantity - 5} more reserved" in events[-1]


async def test_non_ascii_codes_and_registered_devices_are_refused(
    ssm: RunningSSM, make_agent: MakeAgent, api: Api
) -> None:
    await api.login()
    pool = await premium(ssm)
    code = slr.new_request_code("UCCE", "SN-A")
    assert (await reserve(api, code.text, pool.tag, 1))[0] == 200
    sudi = {"udiPid": "UCCE", "udiSerialNumber": "SN-A"}
    got, body = await api.call(
        "POST",
        f"{VA}/confirm-licenses",
        json={"reservationConfirmationRequests": [{"sudi": sudi, "confirmationCode": "é" * 8}]},
    )
    assert got == 400 and body["data"]["error"] == "confirmation_code_invalid"
    remove = f"{LEGACY}/v2/accounts/{LAB_DOMAIN}/virtual-accounts/DEFAULT/devices/remove"
    got, body = await api.call(
        "POST", remove, json={"productInstancesRemoveRequests": [{"sudi": sudi, "returnCode": "ü"}]}
    )
    assert got == 400 and body["error"] == "return_code_invalid"

    runner = (await make_agent()).agent.runner(None)
    await runner.register(await ssm.token())
    registered = slr.RequestCode(runner.state.udi_pid, runner.state.serial_number, "abcdefghi")
    got, body = await reserve(api, registered.text, pool.tag, 1)
    assert got == 400 and body["authorizationCodes"][0]["error"] == "registered_device"


async def test_an_older_code_cannot_replace_an_update(ssm: RunningSSM, make_agent: MakeAgent, api: Api) -> None:
    await api.login()
    pool = await premium(ssm)
    runner = (await make_agent()).agent.runner(None)
    code = (await runner.reservation_request()).reservation_request_code
    assert code is not None
    _, body = await reserve(api, code, pool.tag, 30)
    first = body["authorizationCodes"][0]["authorizationCode"]
    confirmation = (await runner.reservation_install(first)).reservation_confirmation_code
    sudi = {"udiPid": runner.state.udi_pid, "udiSerialNumber": runner.state.serial_number}
    await api.call(
        "POST",
        f"{VA}/confirm-licenses",
        json={"reservationConfirmationRequests": [{"sudi": sudi, "confirmationCode": confirmation}]},
    )
    upd = {"reservationUpdateRequests": [{"sudi": sudi, "licenses": [{"entitlementTag": pool.tag, "quantity": 5}]}]}
    got, body = await api.call("POST", f"{VA}/update-licenses", json=upd)
    assert got == 200, body
    second = body["authorizationCodes"][0]["authorizationCode"]
    assert (await ssm.store.read(lambda u: u.pools.by_tag(1, pool.tag))).reserved == 5  # type: ignore[union-attr]
    view = await runner.reservation_install(second)
    assert [e.reported for e in view.entitlements] == [5]
    with pytest.raises(Conflict) as info:
        await runner.reservation_install(first)
    assert info.value.code == "authorization_code_outdated"
    assert [e.reported for e in runner.state.entitlements] == [5]
    # the return code of what is installed is the one the SSM accepts
    _, return_code = await runner.reservation_return()
    remove = f"{LEGACY}/v2/accounts/{LAB_DOMAIN}/virtual-accounts/DEFAULT/devices/remove"
    got, _ = await api.call(
        "POST", remove, json={"productInstancesRemoveRequests": [{"sudi": sudi, "returnCode": return_code}]}
    )
    assert got == 200 and (await ssm.store.read(lambda u: u.pools.by_tag(1, pool.tag))).reserved == 0  # type: ignore[union-attr]


async def test_duplicate_tags_are_one_license(ssm: RunningSSM, api: Api) -> None:
    await api.login()
    pool = await premium(ssm)
    code = slr.new_request_code("UCCE", "SN-D").text
    body = {
        "reservationRequests": [
            {
                "reservationCode": code,
                "licenses": [{"entitlementTag": pool.tag, "quantity": 1}, {"entitlementTag": pool.tag, "quantity": 2}],
            }
        ]
    }
    got, answer = await api.call("POST", f"{VA}/reserve-licenses", json=body)
    assert got == 200
    assert [(x["entitlementTag"], x["quantity"]) for x in answer["authorizationCodes"][0]["licenses"]] == [
        (pool.tag, 3)
    ]
    assert (await ssm.store.read(lambda u: u.pools.by_tag(1, pool.tag))).reserved == 3  # type: ignore[union-attr]


async def test_a_device_that_never_installed_an_update_can_still_return(
    ssm: RunningSSM, make_agent: MakeAgent, api: Api
) -> None:
    """Updated on the SSM but not yet installed: the return code of the code the device holds works."""
    await api.login()
    pool = await premium(ssm)
    runner = (await make_agent()).agent.runner(None)
    code = (await runner.reservation_request()).reservation_request_code
    _, body = await reserve(api, str(code), pool.tag, 10)
    confirmation = (
        await runner.reservation_install(body["authorizationCodes"][0]["authorizationCode"])
    ).reservation_confirmation_code
    sudi = {"udiPid": runner.state.udi_pid, "udiSerialNumber": runner.state.serial_number}
    await api.call(
        "POST",
        f"{VA}/confirm-licenses",
        json={"reservationConfirmationRequests": [{"sudi": sudi, "confirmationCode": confirmation}]},
    )
    upd = {"reservationUpdateRequests": [{"sudi": sudi, "licenses": [{"entitlementTag": pool.tag, "quantity": 4}]}]}
    assert (await api.call("POST", f"{VA}/update-licenses", json=upd))[0] == 200
    _, return_code = await runner.reservation_return()  # the device still held the first code
    remove = f"{LEGACY}/v2/accounts/{LAB_DOMAIN}/virtual-accounts/DEFAULT/devices/remove"
    got, body = await api.call(
        "POST", remove, json={"productInstancesRemoveRequests": [{"sudi": sudi, "returnCode": return_code}]}
    )
    assert got == 200, body
    assert (await ssm.store.read(lambda u: u.pools.by_tag(1, pool.tag))).reserved == 0  # type: ignore[union-attr]


async def test_an_administrator_can_release_a_lost_reservation(ssm: RunningSSM, api: Api) -> None:
    """The device cancelled after the SSM reserved (it never had the code): no return code exists."""
    await api.login()
    pool = await premium(ssm)
    code = slr.new_request_code("UCCE", "SN-LOST")
    assert (await reserve(api, code.text, pool.tag, 6))[0] == 200
    released = await reservations.release(ssm.store, "UCCE", "SN-LOST", now=ssm.clock.now(), by="test")
    assert released.status == "Returned"
    assert (await ssm.store.read(lambda u: u.pools.by_tag(1, pool.tag))).reserved == 0  # type: ignore[union-attr]
    assert (await reserve(api, slr.new_request_code("UCCE", "SN-LOST").text, pool.tag, 1))[0] == 200
    events = [e.kind for e in await ssm.store.read(lambda u: u.events.recent(limit=50))]
    assert "reservation_released" in events


async def test_a_replayed_remove_changes_nothing(ssm: RunningSSM, make_agent: MakeAgent, api: Api) -> None:
    await api.login()
    pool = await premium(ssm)
    runner = (await make_agent()).agent.runner(None)
    code = (await runner.reservation_request()).reservation_request_code
    _, body = await reserve(api, str(code), pool.tag, 7)
    await runner.reservation_install(body["authorizationCodes"][0]["authorizationCode"])
    _, return_code = await runner.reservation_return()
    sudi = {"udiPid": runner.state.udi_pid, "udiSerialNumber": runner.state.serial_number}
    remove = f"{LEGACY}/v2/accounts/{LAB_DOMAIN}/virtual-accounts/DEFAULT/devices/remove"
    request = {"productInstancesRemoveRequests": [{"sudi": sudi, "returnCode": return_code}]}
    assert (await api.call("POST", remove, json=request))[0] == 200
    before = ssm.snapshot()
    got, body = await api.call("POST", remove, json=request)
    assert got == 400 and body["error"] == "instance_not_found", body
    assert ssm.snapshot() == before
