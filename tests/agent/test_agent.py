"""The Smart Agent: persistence across restarts, reply verification, transport failures with
their own codes, the local API, and agent.toml validation."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from agent.api import create_api
from agent.config import ConfigError, parse_config
from plumbing.web import serve
from server.app import create_app
from server.pki_files import LabPki, init_lab_pki
from server.settings import ServerSettings
from server.store import Store
from server.tls import server_context
from shared import pki
from shared.clock import real_now
from shared.errors import RemoteError, Unauthorized, Unavailable
from shared.states import AuthorizationStatus, RegistrationStatus
from tests.conftest import MakeAgent, RunningSSM, no_persist


async def test_restart_keeps_identity_evaluation_and_registration(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """A restarted agent loads its instance: same serial number, same evaluation start (never
    reset), still registered with the same ID key."""
    first = await make_agent()
    runner = first.agent.runner(None)
    serial, started = runner.state.serial_number, runner.state.first_started_at
    await ssm.clock.advance(timedelta(days=10))
    await runner.register(await ssm.token())
    piid = runner.state.piid
    await first.close()
    await ssm.clock.advance(timedelta(days=1))
    second = await make_agent()
    again = second.agent.runner(None)
    assert again.state.serial_number == serial
    assert again.state.first_started_at == started
    assert again.state.registration is RegistrationStatus.REGISTERED
    assert again.state.piid == piid
    assert again.key is not None
    events = [e.kind for e in await second.store.events()]
    assert events[:3] == ["first_start", "registered", "authorized"]


async def test_evaluation_clock_runs_from_first_start(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """Evaluation Mode counts down from the first start, in domain time."""
    running = await make_agent()
    await ssm.clock.advance(timedelta(days=30))
    view = running.agent.runner(None).status()
    assert view.license_authorization_status is AuthorizationStatus.EVALUATION
    assert view.evaluation_remaining == "60 days"


async def test_reply_signed_by_an_untrusted_key_is_refused(
    tmp_path: Path, ssm: RunningSSM, lab_pki: LabPki, make_agent: MakeAgent
) -> None:
    """A reply whose signing certificate does not chain to the truststore is refused, even over
    a trusted TLS connection (reply_signer_untrusted), and the instance stays unregistered."""
    other = init_lab_pki(tmp_path / "other")  # noqa: F841 - writes a second, unrelated PKI
    from server.pki_files import load_lab_pki

    rogue = load_lab_pki(tmp_path / "other")
    forged = dataclasses.replace(lab_pki, signing=rogue.signing)
    store = await Store.open(tmp_path / "rogue.db")
    app = create_app(ServerSettings(db_path=tmp_path / "rogue.db"), clock=ssm.clock, lab_pki=forged, store=store)
    runner, port = await serve.start(app, "127.0.0.1", 0, ssl_context=server_context(lab_pki))
    try:
        from server.accounts import LAB_DOMAIN, create_token, resolve_account

        account = await resolve_account(store, LAB_DOMAIN)
        token = (
            await create_token(store, account=account, va_name="DEFAULT", now=ssm.clock.now(), policy=ssm.policy)
        ).minted.text
        running = await make_agent(port=port, data="agent-rogue")
        inst = running.agent.runner(None)
        with pytest.raises(Unauthorized) as exc:
            await inst.register(token)
        assert exc.value.code == "reply_signer_untrusted"
        assert inst.status().registration_status is RegistrationStatus.UNREGISTERED
    finally:
        await runner.cleanup()
        await store.close()


async def test_untrusted_server_certificate_is_diagnosed(
    tmp_path: Path, ssm: RunningSSM, make_agent: MakeAgent
) -> None:
    """An agent whose truststore lacks the SSM's root fails with tls_untrusted_root (the precise
    cause, where the handshake alone says only 'certificate verify failed') and says what to do;
    the failure is kept as the status reason."""
    init_lab_pki(tmp_path / "elsewhere")
    running = await make_agent(truststore=tmp_path / "elsewhere" / "truststore.pem", data="agent-x")
    inst = running.agent.runner(None)
    with pytest.raises(Unavailable) as exc:
        await inst.register(await ssm.token())
    assert exc.value.code == "tls_untrusted_root"
    assert "smart-agent trust import" in exc.value.fix and "ssmlab Lab Root CA" in exc.value.message
    reason = inst.status().reason
    assert reason is not None and reason.code == "tls_untrusted_root"


async def test_unreachable_ssm_is_connection_failed(tmp_path: Path, ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """Nothing listening at the resolved address: connection_failed, with the fix."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    running = await make_agent(port=free, data="agent-y")
    with pytest.raises(Unavailable) as exc:
        await running.agent.runner(None).register(await ssm.token())
    assert exc.value.code == "connection_failed"


async def test_ssm_refusal_keeps_its_code(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """The SSM's error code, status and fix reach the agent unchanged."""
    from shared import tokens

    running = await make_agent()
    unknown = tokens.mint(expires_at=ssm.clock.now() + timedelta(days=3)).text
    with pytest.raises(RemoteError) as exc:
        await running.agent.runner(None).register(unknown)
    assert exc.value.code == "token_unknown"
    assert exc.value.http_status == 403
    assert exc.value.fix


async def test_mistyped_token_is_caught_before_any_network(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """A string that is not a registration token at all is refused by the agent itself."""
    from shared.errors import TokenRefused

    running = await make_agent()
    before = ssm.snapshot()
    with pytest.raises(TokenRefused) as exc:
        await running.agent.runner(None).register("garbage-token-text")
    assert exc.value.code == "token_malformed"
    assert ssm.snapshot() == before
    reason = running.agent.runner(None).status().reason
    assert reason is not None and reason.code == "token_malformed"


async def test_register_refused_when_already_registered_locally(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """Register on a registered instance is refused by the agent itself (already_registered)."""
    from shared.errors import Conflict

    running = await make_agent()
    inst = running.agent.runner(None)
    await inst.register(await ssm.token())
    with pytest.raises(Conflict) as exc:
        await inst.register(await ssm.token())
    assert exc.value.code == "already_registered"


# -- local API ----------------------------------------------------------------------------------


@pytest.fixture
async def api(ssm: RunningSSM, make_agent: MakeAgent, aiohttp_client: Any) -> TestClient[Any, Any]:
    running = await make_agent([{"name": "ucce-1"}, {"name": "cvp-1", "product": "CVP", "deployment_type": "CVP"}])
    client: TestClient[Any, Any] = await aiohttp_client(create_api(running.agent, no_persist))
    return client


async def test_local_api_registers_and_reports_status(ssm: RunningSSM, api: TestClient[Any, Any]) -> None:
    """POST register then GET status through the local API: Table 2 as JSON."""
    resp = await api.post("/api/v1/instances/cvp-1/register", json={"token": await ssm.token()})
    assert resp.status == 200
    body = await resp.json()
    assert body["registration_status"] == "Registered"
    assert body["license_authorization_status"] == "Authorized"
    every = await (await api.get("/api/v1/status")).json()
    by_name = {v["product_instance_name"]: v for v in every["instances"]}
    assert by_name["cvp-1"]["virtual_account"] == "DEFAULT"
    assert by_name["ucce-1"]["registration_status"] == "Unregistered"


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/api/v1/instances/nope/register", {"token": "x" * 20}, 404, "instance_not_found"),
        ("/api/v1/instances/ucce-1/register", {"tok": "x"}, 400, "invalid_body"),
        ("/api/v1/instances/ucce-1/register", {"token": 42}, 400, "invalid_body"),
        ("/api/v1/nothing", {}, 404, "not_found"),
    ],
)
async def test_local_api_bad_input(
    api: TestClient[Any, Any], path: str, body: dict[str, Any], status: int, code: str
) -> None:
    """Bad local API requests get a JSON error with a stable code."""
    resp = await api.post(path, json=body)
    assert resp.status == status
    assert (await resp.json())["error"] == code


async def test_local_api_malformed_json_and_content_type(api: TestClient[Any, Any]) -> None:
    """Malformed JSON is 400, a wrong content type 415."""
    r1 = await api.post(
        "/api/v1/instances/ucce-1/register", data=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert r1.status == 400
    r2 = await api.post("/api/v1/instances/ucce-1/register", data=b"token=x", headers={"Content-Type": "text/plain"})
    assert r2.status == 415


async def test_clock_endpoint_advances_and_refuses_backwards(ssm: RunningSSM, api: TestClient[Any, Any]) -> None:
    """GET/POST /_lab/clock reads and advances the agent's clock; backwards is refused."""
    before = await (await api.get("/_lab/clock")).json()
    r = await api.post("/_lab/clock", json={"advance": "2d"})
    after = await r.json()
    assert r.status == 200
    from datetime import datetime

    assert datetime.fromisoformat(after["now"]) - datetime.fromisoformat(before["now"]) == timedelta(days=2)
    r = await api.post("/_lab/clock", json={"to": "2020-01-01T00:00:00+00:00"})
    assert r.status == 409 and (await r.json())["error"] == "clock_backwards"
    r = await api.post("/_lab/clock", json={"advance": "soon"})
    assert r.status == 400 and (await r.json())["error"] == "invalid_duration"


# -- config -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[[instances]]\nname = "a"\nbogus = 1\n', "bogus"),
        ('[[instances]]\nname = "a"\n[[instances]]\nname = "a"\n', "unique"),
        ('api = "0.0.0.0:8787"\n[[instances]]\nname = "a"\n', "loopback"),
        ('[[instances]]\nname = "a"\nlicense_type = "Subscription"\n', "license_type"),
        ('[[instances]]\nname = "a"\ndeployment_type = "Mainframe"\n', "deployment_type"),
        ("data_dir = [\n", "TOML"),
        ("", "no product instance"),
    ],
)
def test_config_errors_name_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    """agent.toml mistakes are refused with a message naming the key."""
    with pytest.raises(ConfigError) as exc:
        parse_config(text, base=tmp_path)
    assert needle in str(exc.value)


def test_reply_chain_is_checked_against_real_time(lab_pki: LabPki) -> None:
    """The SSM's signing certificate is infrastructure: valid in real time (it was issued now)."""
    pki.verify_client_chain(lab_pki.signing.cert, lab_pki.signing.chain, [lab_pki.root], at=real_now())
