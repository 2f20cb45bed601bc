"""shared.delivery: the retry rule and the webhook signature (Stripe's scheme)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from shared import delivery
from shared.errors import Unauthorized

BODY = b'{"id":"evt_1","type":"token_created"}'


def test_backoff_doubles_from_a_minute_and_stays_at_an_hour() -> None:
    assert [delivery.retry_delay(n) for n in range(1, 9)] == [60, 120, 240, 480, 960, 1920, 3600, 3600]
    assert delivery.retry_delay(10_000) == 3600  # never given up, never overflowing
    assert delivery.next_attempt(1000, 2) == 1120
    with pytest.raises(ValueError, match="count from 1"):
        delivery.retry_delay(0)


def test_the_signature_is_hmac_sha256_of_t_dot_body() -> None:
    header = delivery.sign("whsec_k", 1700000000, BODY)
    expected = hmac.new(b"whsec_k", b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert header == f"t=1700000000,v1={expected}"
    assert delivery.verify(header, BODY, "whsec_k", now=1700000100) == 1700000000


@pytest.mark.parametrize(
    ("header", "secret", "body", "now", "code"),
    [
        (None, "whsec_other", BODY, 1700000000, "signature_mismatch"),
        (None, "whsec_k", BODY + b" ", 1700000000, "signature_mismatch"),
        (None, "whsec_k", BODY, 1700000000 + 301, "signature_expired"),
        (None, "whsec_k", BODY, 1700000000 - 301, "signature_expired"),
        ("v1=abc", "whsec_k", BODY, 1700000000, "signature_malformed"),
        ("t=1700000000", "whsec_k", BODY, 1700000000, "signature_malformed"),
        ("", "whsec_k", BODY, 1700000000, "signature_malformed"),
    ],
)
def test_verify_refuses(header: str | None, secret: str, body: bytes, now: int, code: str) -> None:
    signed = delivery.sign("whsec_k", 1700000000, BODY) if header is None else header
    with pytest.raises(Unauthorized) as err:
        delivery.verify(signed, body, secret, now=now)
    assert err.value.code == code


def test_a_second_v1_entry_is_accepted_as_during_a_secret_rotation() -> None:
    good = delivery.sign("whsec_k", 5, BODY).split(",")[1]
    assert delivery.verify(f"t=5,v1=00,{good}", BODY, "whsec_k", now=5) == 5
