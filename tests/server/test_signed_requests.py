"""The signed-request envelope: after registration every device request is signed with the ID
certificate's key and checked by the SSM. Unknown signer, bad signature, stale timestamp,
replayed nonce and a signer speaking for another instance are refused; nothing changes."""

from __future__ import annotations

import ssl
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from shared import envelope, pki
from shared.clock import epoch, real_now
from shared.messages import Authorize, decode_reply, encode
from tests.conftest import RunningSSM


async def post_jws(ssm: RunningSSM, pki_dir: Path, jws: str) -> tuple[int, dict[str, object] | str]:
    """The signed request posted as the device plane takes it (``RunningSSM.post``)."""
    result: tuple[int, dict[str, object] | str] = await ssm.post(jws.encode(), envelope.CONTENT_TYPE)
    return result


def authorize(ssm: RunningSSM, piid: str, *, sent_at: int | None = None, nonce: str | None = None) -> bytes:
    return encode(
        Authorize(
            sent_at=epoch(ssm.clock.now()) if sent_at is None else sent_at,
            nonce=nonce or envelope.new_nonce(),
            piid=piid,
        )
    )


async def test_signed_request_is_accepted_and_reply_is_signed(
    ssm: RunningSSM, pki_dir: Path, registered: tuple[str, pki.PrivateKey]
) -> None:
    """A correctly signed request gets a JWS reply, signed by a certificate chaining to the lab
    root and answering the request's nonce."""
    piid, key = registered
    nonce = envelope.new_nonce()
    status, body = await post_jws(
        ssm, pki_dir, envelope.sign_request(authorize(ssm, piid, nonce=nonce), key, piid=piid, want_chain=True)
    )
    assert status == 200 and isinstance(body, str)
    chain = envelope.reply_chain(body)
    roots = pki.load_certs((pki_dir / "truststore.pem").read_bytes())
    pki.verify_client_chain(chain[0], chain[1:], roots, at=real_now())  # signing cert: real time
    reply = decode_reply(envelope.verify(body, chain[0].public_key()))  # type: ignore[arg-type]
    assert reply.in_reply_to == nonce


async def test_unknown_signer_is_refused(
    ssm: RunningSSM, pki_dir: Path, registered: tuple[str, pki.PrivateKey]
) -> None:
    """A kid that names no registered instance: 401 signer_unknown."""
    _, key = registered
    ghost = "00000000-0000-4000-8000-000000000000"
    before = ssm.snapshot()
    status, body = await post_jws(ssm, pki_dir, envelope.sign_request(authorize(ssm, ghost), key, piid=ghost))
    assert status == 401 and isinstance(body, dict) and body["error"] == "signer_unknown"
    assert ssm.snapshot() == before


async def test_bad_signature_is_refused(ssm: RunningSSM, pki_dir: Path, registered: tuple[str, pki.PrivateKey]) -> None:
    """Signed by a key other than the ID certificate's: 401 signature_invalid."""
    piid, _ = registered
    before = ssm.snapshot()
    status, body = await post_jws(ssm, pki_dir, envelope.sign_request(authorize(ssm, piid), pki.new_key(), piid=piid))
    assert status == 401 and isinstance(body, dict) and body["error"] == "signature_invalid"
    assert ssm.snapshot() == before


async def test_tampered_payload_is_refused(
    ssm: RunningSSM, pki_dir: Path, registered: tuple[str, pki.PrivateKey]
) -> None:
    """Changing one byte of the signed payload breaks the signature."""
    piid, key = registered
    jws = envelope.sign_request(authorize(ssm, piid), key, piid=piid)
    head, payload, sig = jws.split(".")
    tampered = f"{head}.{payload[:-2]}{'A' if payload[-2] != 'A' else 'B'}{payload[-1]}.{sig}"
    before = ssm.snapshot()
    status, body = await post_jws(ssm, pki_dir, tampered)
    assert status in (400, 401) and isinstance(body, dict)
    assert body["error"] in ("signature_invalid", "malformed_jws", "invalid_message", "malformed_json")
    assert ssm.snapshot() == before


@pytest.mark.parametrize("offset", [timedelta(minutes=-6), timedelta(minutes=6), timedelta(days=-2)])
async def test_stale_timestamp_is_refused(
    ssm: RunningSSM, pki_dir: Path, registered: tuple[str, pki.PrivateKey], offset: timedelta
) -> None:
    """A request sent more than the freshness window away from the SSM's time: 401 request_stale."""
    piid, key = registered
    before = ssm.snapshot()
    body_ = authorize(ssm, piid, sent_at=epoch(ssm.clock.now() + offset))
    status, body = await post_jws(ssm, pki_dir, envelope.sign_request(body_, key, piid=piid))
    assert status == 401 and isinstance(body, dict) and body["error"] == "request_stale"
    assert ssm.snapshot() == before


async def test_replayed_nonce_is_refused(
    ssm: RunningSSM, pki_dir: Path, registered: tuple[str, pki.PrivateKey]
) -> None:
    """The same signed request sent twice: the second is 401 request_replayed and changes nothing."""
    piid, key = registered
    jws = envelope.sign_request(authorize(ssm, piid), key, piid=piid)
    status, _ = await post_jws(ssm, pki_dir, jws)
    assert status == 200
    before = ssm.snapshot()
    status, body = await post_jws(ssm, pki_dir, jws)
    assert status == 401 and isinstance(body, dict) and body["error"] == "request_replayed"
    assert ssm.snapshot() == before


async def test_signer_cannot_speak_for_another_instance(
    ssm: RunningSSM, pki_dir: Path, registered: tuple[str, pki.PrivateKey]
) -> None:
    """A request whose payload names another piid than its signer: 401 signer_mismatch."""
    piid, key = registered
    other = "11111111-1111-4111-8111-111111111111"
    before = ssm.snapshot()
    status, body = await post_jws(ssm, pki_dir, envelope.sign_request(authorize(ssm, other), key, piid=piid))
    assert status == 401 and isinstance(body, dict) and body["error"] == "signer_mismatch"
    assert ssm.snapshot() == before


async def test_expired_id_certificate_is_refused(
    ssm: RunningSSM, pki_dir: Path, registered: tuple[str, pki.PrivateKey]
) -> None:
    """After the ID certificate's 12 months (domain time) the SSM refuses its signatures."""
    piid, key = registered
    await ssm.clock.advance(timedelta(days=366))
    status, body = await post_jws(ssm, pki_dir, envelope.sign_request(authorize(ssm, piid), key, piid=piid))
    assert status == 401 and isinstance(body, dict) and body["error"] == "registration_expired"


async def test_unsigned_authorize_is_refused(
    ssm: RunningSSM, pki_dir: Path, registered: tuple[str, pki.PrivateKey]
) -> None:
    """Only register may travel unsigned; any other request as plain JSON is 400 signature_required."""
    piid, _ = registered
    ctx = ssl.create_default_context(cafile=str(pki_dir / "truststore.pem"))
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            ssm.url + "/licservice/license",
            data=authorize(ssm, piid),
            headers={"Content-Type": "application/json"},
            ssl=ctx,
        ) as r,
    ):
        assert r.status == 400
        assert (await r.json())["error"] == "signature_required"
