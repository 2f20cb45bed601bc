"""Signed envelopes: ES256 compact JWS around requests and replies, signer lookup, freshness and
reply binding. Keys and certificates are generated here."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from shared import envelope, pki
from shared.errors import BadRequest, Unauthorized
from shared.pki import CertifiedKey

PAYLOAD = b'{"type":"deregister","sent_at":100,"nonce":"abcdefgh","piid":"p-1"}'
NOW = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW = timedelta(minutes=5)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(scope="module")
def signer() -> CertifiedKey:
    start, end = datetime(2025, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC)
    root = pki.make_ca("env root", not_before=start, not_after=end)
    inter = pki.make_ca("env intermediate", issuer=root, not_before=start, not_after=end)
    return pki.make_signing_cert(inter, common_name="ssm signing", not_before=start, not_after=end)


def test_sign_request_verify_round_trip() -> None:
    """A request signed with a key verifies with its public key and gives back the exact payload."""
    key = pki.new_key()
    token = envelope.sign_request(PAYLOAD, key, piid="p-1")
    assert token.count(".") == 2
    assert envelope.verify(token, key.public_key()) == PAYLOAD
    header = jwt.get_unverified_header(token)
    assert (header["alg"], header["kid"], header["typ"]) == ("ES256", "p-1", envelope.REQUEST_TYP)


@pytest.mark.parametrize(("what", "says"), [("request", "ID certificate"), ("reply", "altered")])
def test_verify_with_another_key_is_signature_invalid(what: str, says: str) -> None:
    """A signature checked against another key is refused as signature_invalid (401)."""
    token = envelope.sign_request(PAYLOAD, pki.new_key(), piid="p-1")
    with pytest.raises(Unauthorized) as caught:
        envelope.verify(token, pki.new_key().public_key(), what=what)
    assert (caught.value.code, caught.value.http_status) == ("signature_invalid", 401)
    assert says in caught.value.message


def _tamper_payload(token: str) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{_b64url(PAYLOAD.replace(b'p-1', b'p-2'))}.{signature}"


def _tamper_header(token: str) -> str:
    _, payload, signature = token.split(".")
    header = _b64url(json.dumps({"alg": "ES256", "kid": "p-2", "typ": envelope.REQUEST_TYP}).encode())
    return f"{header}.{payload}.{signature}"


def _strip_signature(token: str) -> str:
    return token.rsplit(".", 1)[0] + "."


@pytest.mark.parametrize("tamper", [_tamper_payload, _tamper_header, _strip_signature])
def test_tampered_jws_fails(tamper: object) -> None:
    """Changing the payload or the header, or dropping the signature, fails verification."""
    key = pki.new_key()
    token = tamper(envelope.sign_request(PAYLOAD, key, piid="p-1"))  # type: ignore[operator]
    with pytest.raises(Unauthorized) as caught:
        envelope.verify(token, key.public_key())
    assert caught.value.code == "signature_invalid"


def test_verify_refuses_other_algorithms() -> None:
    """An unsigned ('none') JWS is not accepted in place of ES256."""
    token = jwt.api_jws.PyJWS(algorithms=["none"]).encode(PAYLOAD, None, algorithm="none", headers={"kid": "p-1"})
    with pytest.raises(BadRequest) as caught:
        envelope.verify(token, pki.new_key().public_key())
    assert caught.value.code == "malformed_jws"


def test_request_signer_returns_the_kid() -> None:
    """The signer a request claims is its header's kid, read before any signature check."""
    assert envelope.request_signer(envelope.sign_request(PAYLOAD, pki.new_key(), piid="piid-7")) == "piid-7"


def _jws_with_header(header: dict[str, object]) -> str:
    """A compact JWS with an arbitrary header (the signature is not checked by request_signer)."""
    return f"{_b64url(json.dumps(header).encode())}.{_b64url(PAYLOAD)}.{_b64url(b'sig')}"


@pytest.mark.parametrize(
    "token",
    [
        jwt.api_jws.PyJWS().encode(PAYLOAD, pki.new_key(), algorithm="ES256"),
        jwt.api_jws.PyJWS().encode(PAYLOAD, pki.new_key(), algorithm="ES256", headers={"kid": ""}),
        _jws_with_header({"kid": "p-1"}),
    ],
    ids=["no-kid", "empty-kid", "no-alg"],
)
def test_request_signer_refuses_a_jws_without_kid(token: str) -> None:
    """An ES256 JWS with no usable kid names no signer: signer_missing (401)."""
    with pytest.raises(Unauthorized) as caught:
        envelope.request_signer(token)
    assert caught.value.code == "signer_missing"


@pytest.mark.parametrize("kid", [7, None, ["p-1"]], ids=["numeric", "null", "list"])
def test_request_signer_refuses_a_non_string_kid_as_a_client_error(kid: object) -> None:
    """A JWS whose kid is not a string is refused with signer_missing or malformed_jws, never another exception."""
    with pytest.raises((Unauthorized, BadRequest)) as caught:
        envelope.request_signer(_jws_with_header({"alg": "ES256", "kid": kid}))
    assert caught.value.code in ("signer_missing", "malformed_jws")


def test_request_signer_refuses_other_algorithms() -> None:
    """A JWS with a kid but another algorithm (HS256) also names no acceptable signer."""
    token = jwt.api_jws.PyJWS().encode(PAYLOAD, "k" * 32, algorithm="HS256", headers={"kid": "p-1"})
    with pytest.raises(Unauthorized) as caught:
        envelope.request_signer(token)
    assert caught.value.code == "signer_missing"


@pytest.mark.parametrize(
    "garbage",
    ["", "garbage", "a.b.c", "....", "!!!.!!!.!!!", f"{_b64url(b'[1]')}.e30.sig", PAYLOAD.decode()],
)
def test_request_signer_refuses_non_jws(garbage: str) -> None:
    """Text that is not a compact JWS is a BadRequest malformed_jws, for the signer and for verify."""
    with pytest.raises(BadRequest) as caught:
        envelope.request_signer(garbage)
    assert caught.value.code == "malformed_jws"
    with pytest.raises(BadRequest) as caught:
        envelope.verify(garbage, pki.new_key().public_key())
    assert caught.value.code == "malformed_jws"
    assert envelope.describe(garbage) == "<not a JWS>"


@pytest.mark.parametrize(
    "offset",
    [timedelta(0), WINDOW, -WINDOW, timedelta(minutes=4, seconds=59), timedelta(minutes=-4, seconds=-59)],
)
def test_check_fresh_accepts_within_the_window(offset: timedelta) -> None:
    """A request sent up to the window before or after now (inclusive) is fresh."""
    envelope.check_fresh(int((NOW + offset).timestamp()), NOW, WINDOW)


@pytest.mark.parametrize(
    "offset",
    [WINDOW + timedelta(seconds=1), -WINDOW - timedelta(seconds=1), timedelta(days=1), timedelta(days=-365)],
)
def test_check_fresh_rejects_outside_the_window(offset: timedelta) -> None:
    """A request sent too long ago or too far in the future is refused as request_stale (401)."""
    with pytest.raises(Unauthorized) as caught:
        envelope.check_fresh(int((NOW + offset).timestamp()), NOW, WINDOW)
    assert (caught.value.code, caught.value.http_status) == ("request_stale", 401)


def test_check_reply_binding() -> None:
    """A reply must name the nonce of the request it answers."""
    nonce = envelope.new_nonce()
    envelope.check_reply_binding(nonce, nonce)
    with pytest.raises(Unauthorized) as caught:
        envelope.check_reply_binding(envelope.new_nonce(), nonce)
    assert caught.value.code == "reply_mismatch"


def test_nonces_are_url_safe_and_distinct() -> None:
    """New nonces are 22 URL-safe characters and do not repeat."""
    nonces = {envelope.new_nonce() for _ in range(100)}
    assert len(nonces) == 100
    assert all(len(n) == 22 and n.replace("-", "").replace("_", "").isalnum() for n in nonces)


def test_sign_reply_carries_its_chain(signer: CertifiedKey) -> None:
    """A reply signed with include_chain carries the signing certificate and intermediates in x5c,
    leaf first, names the leaf's thumbprint as kid, and verifies with the leaf's key."""
    chain = [signer.cert, *signer.chain]
    token = envelope.sign_reply(PAYLOAD, signer.key, chain, include_chain=True)
    assert envelope.reply_chain(token) == chain
    assert len(chain) == 2
    assert envelope.reply_header(token).kid == envelope.thumbprint(signer.cert)
    assert envelope.verify(token, signer.cert.public_key(), what="reply") == PAYLOAD  # type: ignore[arg-type]
    assert "x5c" not in json.loads(envelope.describe(token))


def test_sign_reply_without_chain_names_its_certificate_only(signer: CertifiedKey) -> None:
    """A reply signed without include_chain has no x5c (reply_chain refuses it) but a kid naming the leaf."""
    token = envelope.sign_reply(PAYLOAD, signer.key, [signer.cert, *signer.chain], include_chain=False)
    header = envelope.reply_header(token)
    assert header.x5c is None
    assert header.kid == envelope.thumbprint(signer.cert)
    assert envelope.thumbprint(signer.cert) != envelope.thumbprint(signer.chain[0])
    with pytest.raises(Unauthorized) as caught:
        envelope.reply_chain(token)
    assert caught.value.code == "reply_unsigned"


@pytest.mark.parametrize(("want", "expected"), [(True, True), (False, False)])
def test_a_request_can_ask_for_the_chain(want: bool, expected: bool) -> None:
    """wants_chain reports whether the signed request asked for the SSM's chain; garbage asks for nothing."""
    token = envelope.sign_request(PAYLOAD, pki.new_key(), piid="p-1", want_chain=want)
    assert envelope.wants_chain(token) is expected
    assert envelope.request_signer(token) == "p-1"
    assert envelope.wants_chain("garbage") is False


def test_reply_chain_refuses_a_reply_without_x5c() -> None:
    """A JWS without certificates (e.g. a request) is not a signed reply: reply_unsigned."""
    token = envelope.sign_request(PAYLOAD, pki.new_key(), piid="p-1")
    with pytest.raises(Unauthorized) as caught:
        envelope.reply_chain(token)
    assert caught.value.code == "reply_unsigned"


def test_reply_chain_refuses_unreadable_certificates() -> None:
    """x5c entries that are not DER certificates are refused as reply_unsigned."""
    bogus = base64.b64encode(b"not a certificate").decode()
    token = jwt.api_jws.PyJWS().encode(PAYLOAD, pki.new_key(), algorithm="ES256", headers={"x5c": [bogus]})
    with pytest.raises(Unauthorized) as caught:
        envelope.reply_chain(token)
    assert caught.value.code == "reply_unsigned"
