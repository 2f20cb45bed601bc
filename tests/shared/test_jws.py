"""The device plane's compact JWS (shared/jws.py) against pyjwt: each accepts what the other
signs, and forged or malformed tokens are refused."""

from __future__ import annotations

import base64
import json

import jwt
import pytest

from shared import jws, pki

PAYLOAD = b'{"type":"report_usage","piid":"p-1","reports":[]}'


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def test_pyjwt_verifies_what_this_module_signs() -> None:
    key = pki.new_key()
    token = jws.sign(PAYLOAD, key, jws.Header(kid="p-1", typ="t", want_chain=True))
    decoded = jwt.api_jws.PyJWS().decode_complete(token, key.public_key(), algorithms=["ES256"])
    assert decoded["payload"] == PAYLOAD
    assert decoded["header"] == {"alg": "ES256", "kid": "p-1", "typ": "t", jws.WANT_CHAIN: True}


def test_this_module_verifies_what_pyjwt_signs() -> None:
    key = pki.new_key()
    token = jwt.api_jws.PyJWS().encode(PAYLOAD, key, algorithm="ES256", headers={"kid": "p-1", "extra": [1, 2]})
    parsed = jws.parse(token)
    assert (parsed.header.alg, parsed.header.kid, parsed.payload) == ("ES256", "p-1", PAYLOAD)
    assert jws.verify(parsed, key.public_key())
    assert not jws.verify(parsed, pki.new_key().public_key())


def test_a_signature_over_other_bytes_or_another_algorithm_does_not_verify() -> None:
    key = pki.new_key()
    head, body, sig = jws.sign(PAYLOAD, key, jws.Header(kid="p-1")).split(".")
    other = b64(PAYLOAD.replace(b"p-1", b"p-2"))
    assert not jws.verify(jws.parse(f"{head}.{other}.{sig}"), key.public_key())
    hs = b64(json.dumps({"alg": "HS256", "kid": "p-1"}).encode())
    assert not jws.verify(jws.parse(f"{hs}.{body}.{sig}"), key.public_key())
    assert not jws.verify(jws.parse(f"{head}.{body}."), key.public_key())  # no signature
    assert not jws.verify(jws.parse(f"{head}.{body}.{b64(b'x' * 63)}"), key.public_key())  # wrong length


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b",
        "a.b.c.d",
        "!!!.e30.AA",  # not base64url
        "e30=.e30.AA",  # padding is not part of compact JWS
        "e30.e30.A",  # a length no base64 has
        f"{b64(b'[1]')}.e30.AA",  # a header that is not an object
        f"{b64(b'{')}.e30.AA",  # a header that is not JSON
        f"{b64(json.dumps({'alg': 'ES256', 'kid': 7}).encode())}.e30.AA",  # a kid that is not text
        "é.e30.AA",
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    with pytest.raises(jws.JWSError):
        jws.parse(token)
