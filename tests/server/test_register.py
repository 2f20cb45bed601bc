"""Registration over real TLS: a product instance registers with a token, and every bad
input is refused with a clear, stable error code while the SSM's store stays unchanged."""

from __future__ import annotations

import asyncio
import ssl
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from server.accounts import create_account, revoke_token
from shared import pki, tokens
from shared.clock import epoch
from shared.states import AuthorizationStatus, ExportControl, RegistrationStatus
from tests.conftest import MakeAgent, RunningSSM


async def test_register_shows_table2_on_success(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """After a successful registration the agent shows seed Table 2: Registered (time),
    Authorized (time), export control, Smart Account, Virtual Account, name, serial number."""
    running = await make_agent()
    runner = running.agent.runner(None)
    view = await runner.register(await ssm.token())
    now = ssm.clock.now().isoformat()
    assert view.registration_status is RegistrationStatus.REGISTERED
    assert view.registration_time == now
    assert view.license_authorization_status is AuthorizationStatus.AUTHORIZED
    assert view.authorization_time == now
    assert view.export_controlled_functionality is ExportControl.NOT_ALLOWED
    assert view.smart_account == "ssmlab Lab Account"
    assert view.virtual_account == "DEFAULT"
    assert view.product_instance_name == "ucce-1"
    assert view.serial_number == runner.state.serial_number
    assert view.reason is None
    rows = await ssm.store.read(lambda u: u.instances.page())
    assert [(r.piid, r.serial_number) for r in rows] == [(view.piid, view.serial_number)]
    assert rows[0].authorized_at == epoch(ssm.clock.now())


async def test_export_controlled_token_allows_export_control(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """A token created with export control gives "Allowed" in Table 2."""
    running = await make_agent()
    view = await running.agent.runner(None).register(await ssm.token(export_controlled=True))
    assert view.export_controlled_functionality is ExportControl.ALLOWED


async def test_export_controlled_token_refused_for_account_without_it(ssm: RunningSSM) -> None:
    """An account not permitted to use export control cannot create such a token."""
    from server.accounts import create_token
    from shared.errors import Forbidden

    account = await create_account(
        ssm.store, domain="noexport.example", name="No Export", export_control_allowed=False, now=ssm.clock.now()
    )
    before = ssm.snapshot()
    with pytest.raises(Forbidden) as exc:
        await create_token(
            ssm.store,
            account=account,
            va_name="DEFAULT",
            now=ssm.clock.now(),
            policy=ssm.policy,
            export_controlled=True,
        )
    assert exc.value.code == "export_control_not_allowed"
    assert ssm.snapshot() == before


async def test_failed_registration_shows_unregistered_evaluation_and_reason(
    ssm: RunningSSM, make_agent: MakeAgent
) -> None:
    """After a failure Table 2 shows Unregistered / Evaluation / Not Allowed, and the reason."""
    from shared.errors import RemoteError

    running = await make_agent()
    runner = running.agent.runner(None)
    bogus = tokens.mint(expires_at=ssm.clock.now() + timedelta(days=1)).text
    with pytest.raises(RemoteError) as exc:
        await runner.register(bogus)
    assert exc.value.code == "token_unknown"
    view = runner.status()
    assert view.registration_status is RegistrationStatus.UNREGISTERED
    assert view.license_authorization_status is AuthorizationStatus.EVALUATION
    assert view.export_controlled_functionality is ExportControl.NOT_ALLOWED
    assert view.smart_account is None
    assert view.reason is not None and view.reason.code == "token_unknown"
    assert view.reason.fix


async def _token_case(ssm: RunningSSM, case: str) -> str:
    if case == "token_unknown":
        return tokens.mint(expires_at=ssm.clock.now() + timedelta(days=5)).text
    if case == "token_expired":
        text = await ssm.token(days=1)
        await ssm.clock.advance(timedelta(days=1, seconds=1))
        return text
    if case == "token_revoked":
        text = await ssm.token()
        await revoke_token(ssm.store, tokens.parse(text).token_id, ssm.clock.now())
        return text
    if case == "token_used_up":
        text = await ssm.token(uses=1)
        status, _ = await ssm.post(ssm.register_body(text, serial="SSM0000FRST"))
        assert status == 200
        return text
    if case == "token_malformed":
        return "this-is-not-a-token-at-all"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case", ["token_unknown", "token_expired", "token_revoked", "token_used_up", "token_malformed"]
)
async def test_unusable_tokens_are_refused(ssm: RunningSSM, pki_dir: Path, case: str) -> None:
    """Unknown, expired, revoked, used-up and malformed tokens: 403 with their own code; nothing
    is stored."""
    ssm.pki_dir = pki_dir  # type: ignore[attr-defined]
    text = await _token_case(ssm, case)
    before = ssm.snapshot()
    status, body = await ssm.post(ssm.register_body(text))
    assert status == 403
    assert isinstance(body, dict)
    assert body["error"] == case
    assert body["message"] and body["fix"]
    assert ssm.snapshot() == before


async def test_already_registered_instance_is_refused(ssm: RunningSSM, pki_dir: Path) -> None:
    """A second register for the same PID and serial number is a 409 that names the fix."""
    token = await ssm.token()
    status, _ = await ssm.post(ssm.register_body(token))
    assert status == 200
    before = ssm.snapshot()
    status, body = await ssm.post(ssm.register_body(token))
    assert status == 409
    assert isinstance(body, dict) and body["error"] == "already_registered"
    assert "reregister" in str(body["fix"])
    assert ssm.snapshot() == before


async def test_csr_whose_key_does_not_match_its_signature_is_refused(ssm: RunningSSM, pki_dir: Path) -> None:
    """A CSR signed by one key but carrying another key's public key fails verification."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    good = x509.load_pem_x509_csr(pki.make_csr(pki.new_key(), common_name="a", serial_number="b"))
    other = x509.load_pem_x509_csr(pki.make_csr(pki.new_key(), common_name="a", serial_number="b"))
    der_good = good.public_bytes(serialization.Encoding.DER)
    spki_good = good.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    spki_other = other.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    forged = x509.load_der_x509_csr(der_good.replace(spki_good, spki_other))
    pem = forged.public_bytes(serialization.Encoding.PEM)
    before = ssm.snapshot()
    status, body = await ssm.post(ssm.register_body(await ssm.token(), csr=pem))
    assert status == 400
    assert isinstance(body, dict) and body["error"] == "csr_signature_invalid"
    # the token was minted before the snapshot? no: minted inside; compare instances only
    assert ssm.snapshot()["instances"] == before["instances"]


@pytest.mark.parametrize(
    ("body", "ctype", "status", "code"),
    [
        (b"{not json", "application/json", 400, "malformed_json"),
        (b'{"type": "register", "sent_at": "yesterday"}', "application/json", 400, "invalid_message"),
        (b"[1, 2, 3]", "application/json", 400, "invalid_message"),
        (b'{"type": "bogus"}', "application/json", 400, "invalid_message"),
        (b"\xff\xfe\x00", "application/json", 400, "malformed_json"),
        (b"<xml/>", "text/xml", 415, "unsupported_media_type"),
        (b"token=abc", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b"x" * (64 * 1024 + 1), "application/json", 413, "body_too_large"),
        (b"not.a.jws", "application/jose", 400, "malformed_jws"),
    ],
)
async def test_malformed_requests_get_clear_errors(
    ssm: RunningSSM, pki_dir: Path, body: bytes, ctype: str, status: int, code: str
) -> None:
    """Malformed JSON, wrong types, wrong content type, oversized bodies: a 4xx JSON error with a
    stable code, a message and a fix; never a 500; nothing stored."""
    before = ssm.snapshot()
    got_status, got = await ssm.post(body, ctype)
    assert got_status == status
    assert isinstance(got, dict)
    assert got["error"] == code
    assert got["message"]
    assert ssm.snapshot() == before


async def test_wrong_path_and_method_answer_json(ssm: RunningSSM, pki_dir: Path) -> None:
    """Unknown paths are a JSON 404 and wrong methods a JSON 405."""
    status, body = await ssm.post(b"{}", path="/no/such/path")
    assert status == 404 and isinstance(body, dict) and body["error"] == "not_found"
    ctx = ssl.create_default_context(cafile=str(pki_dir / "truststore.pem"))
    async with aiohttp.ClientSession() as s, s.get(ssm.url + "/licservice/license", ssl=ctx) as r:
        assert r.status == 405
        assert (await r.json())["error"] == "method_not_allowed"


async def test_a_large_valid_body_arriving_in_many_chunks_is_read_whole(ssm: RunningSSM, pki_dir: Path) -> None:
    """A body near the 64 KiB limit, sent in small pieces, is read completely (not just its first chunk)."""
    import json

    body = json.loads(ssm.register_body(await ssm.token()))
    body["identity"]["software_version"] = "x" * 1000
    raw = json.dumps(body).encode()
    raw = raw[:-1] + b" " * (60_000 - len(raw)) + b"}"

    async def pieces():  # type: ignore[no-untyped-def]
        for i in range(0, len(raw), 1000):
            yield raw[i : i + 1000]
            await asyncio.sleep(0.002)  # real time: the server sees the body arrive in parts

    ctx = ssl.create_default_context(cafile=str(pki_dir / "truststore.pem"))
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            ssm.url + "/licservice/license", data=pieces(), headers={"Content-Type": "application/json"}, ssl=ctx
        ) as r,
    ):
        assert r.status == 200, await r.text()
