"""The agent's reservation verbs through its local API and command line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent.api import create_api
from agent.cli.render import render_status
from agent.cli.reservation import code_arg
from agent.client import ApiError
from server import reservations
from server.reservations import Wanted
from shared import slr
from shared.clock import AnyClock
from shared.errors import BadRequest
from tests.conftest import MakeAgent, RunningSSM


async def _noop(_c: AnyClock) -> None:
    return None


async def test_request_install_return_over_the_local_api(
    ssm: RunningSSM, make_agent: MakeAgent, aiohttp_client: Any, lab_pki: Any
) -> None:
    running = await make_agent()
    api: TestClient[Any, Any] = await aiohttp_client(create_api(running.agent, _noop))
    base = "/api/v1/instances/ucce-1/reservation"

    r = await api.post(f"{base}/install", json={"code": "<specificPLR/>"})
    assert r.status == 409 and (await r.json())["error"] == "no_reservation"  # nothing requested yet

    status = await (await api.post(f"{base}/request")).json()
    code = status["reservation_request_code"]
    assert status["registration_status"] == "Reservation In Progress"
    assert "Reservation In Progress" in render_status(status)

    va = await ssm.store.read(lambda u: u.accounts.virtual_account(1))
    assert va is not None
    pool = next(p for p in await ssm.store.read(lambda u: u.pools.of(1)) if p.name == "Premium Agent" and p.quantity)
    [outcome] = await reservations.reserve(
        ssm.store, va, [(code, "SPECIFIC", [Wanted(pool.tag, 4)])], now=ssm.clock.now(), lab_pki=lab_pki
    )
    assert outcome.reservation is not None

    r = await api.post(
        f"{base}/install", json={"code": outcome.reservation.authorization_code.replace("<count>4<", "<count>5<")}
    )
    body = await r.json()
    assert r.status == 401 and body["error"] == "authorization_code_tampered" and body["fix"]
    r = await api.post(f"{base}/install", data=b"not json", headers={"Content-Type": "application/json"})
    assert r.status == 400 and (await r.json())["error"] == "invalid_body"

    status = await (await api.post(f"{base}/install", json={"code": outcome.reservation.authorization_code})).json()
    assert status["registration_status"] == "Registered - Specific License Reservation"
    assert status["license_authorization_status"] == "Authorized - Reserved"
    assert status["reservation_confirmation_code"] == outcome.reservation.confirmation_code
    assert [e["status"] for e in status["entitlements"]] == ["ReservedInCompliance"]

    returned = await (await api.post(f"{base}/return")).json()
    assert returned["return_code"] == outcome.reservation.return_code
    assert returned["status"]["registration_status"] == "Unregistered"
    state = running.agent.runner(None).state
    await reservations.give_back(
        ssm.store, va, state.udi_pid, state.serial_number, returned["return_code"], now=ssm.clock.now()
    )
    again = await ssm.store.read(lambda u: u.pools.by_tag(1, pool.tag))
    assert again is not None and again.reserved == 0


def test_code_argument_reads_a_file_or_refuses(tmp_path: Path) -> None:
    code = "<specificPLR><authorizationCode/></specificPLR>"
    f = tmp_path / "auth.txt"
    f.write_text(code + "\n")
    assert code_arg(str(f)) == code
    assert code_arg(code) == code
    with pytest.raises(ApiError) as info:
        code_arg(str(tmp_path / "missing.txt"))
    assert info.value.code == "invalid_authorization_code"


def test_request_code_is_refused_without_a_serial() -> None:
    with pytest.raises(BadRequest):
        slr.new_request_code("UCCE", "")


async def test_oversized_install_body_is_refused(ssm: RunningSSM, make_agent: MakeAgent, aiohttp_client: Any) -> None:
    running = await make_agent()
    api: TestClient[Any, Any] = await aiohttp_client(create_api(running.agent, _noop))
    await api.post("/api/v1/instances/ucce-1/reservation/request")
    r = await api.post("/api/v1/instances/ucce-1/reservation/install", json={"code": "<" + "x" * 100_000})
    assert r.status == 413 and (await r.json())["error"] == "body_too_large"
    status = await (await api.get("/api/v1/instances/ucce-1/status")).json()
    assert status["registration_status"] == "Reservation In Progress"
