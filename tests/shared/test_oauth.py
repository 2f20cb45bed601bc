"""OAuth2 client credentials: request parsing, secrets, and access tokens checked in domain time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from shared import oauth, pki
from shared.oauth import ClientCredentials, OAuthError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = pki.new_key()
AUD = oauth.audience("cloud")


def test_parse_accepts_form_fields_and_basic() -> None:
    fields = {"grant_type": "client_credentials", "client_id": "abc", "client_secret": "s3"}
    assert oauth.parse_request(fields) == ClientCredentials("abc", "s3")
    assert oauth.parse_request({"grant_type": "client_credentials"}, ("id", "pw")) == ClientCredentials("id", "pw")


@pytest.mark.parametrize(
    ("fields", "code", "status"),
    [
        ({}, "invalid_request", 400),
        ({"grant_type": "password", "client_id": "a", "client_secret": "b"}, "unsupported_grant_type", 400),
        ({"grant_type": "client_credentials", "client_id": "a"}, "invalid_request", 400),
    ],
)
def test_parse_refuses_with_oauth_errors(fields: dict[str, str], code: str, status: int) -> None:
    with pytest.raises(OAuthError) as info:
        oauth.parse_request(fields)
    assert info.value.code == code and info.value.http_status == status
    body = info.value.to_dict()
    assert body["error"] == code and body["error_description"] and body["fix"]


def test_secret_is_stored_hashed_and_checked_without_oracle() -> None:
    new = oauth.new_client()
    assert new.client_secret not in new.secret_hash and len(new.client_id) == 24
    oauth.check_secret(new.secret_hash, False, ClientCredentials(new.client_id, new.client_secret))
    for stored, revoked, secret in (
        (new.secret_hash, False, "wrong"),
        (None, False, new.client_secret),
        (new.secret_hash, True, new.client_secret),
    ):
        with pytest.raises(OAuthError) as info:
            oauth.check_secret(stored, revoked, ClientCredentials(new.client_id, secret))
        assert info.value.code == "invalid_client" and info.value.http_status == 401


def test_issued_token_lives_3599_seconds_of_domain_time() -> None:
    issued = oauth.issue("client-1", now=NOW, key=KEY, kid="k", aud=AUD)
    assert issued.expires_in == 3599 and issued.body()["token_type"] == "Bearer"
    public = KEY.public_key()
    assert oauth.verify(issued.access_token, key=public, now=NOW + timedelta(seconds=3598), aud=AUD) == "client-1"
    with pytest.raises(OAuthError, match="expired"):
        oauth.verify(issued.access_token, key=public, now=NOW + timedelta(seconds=3599), aud=AUD)


def test_wall_clock_does_not_expire_a_token_of_the_past() -> None:
    """A token issued in 2001 domain time is valid at 2001 domain time, whatever the wall clock says."""
    then = datetime(2001, 1, 1, tzinfo=UTC)
    issued = oauth.issue("c", now=then, key=KEY, kid="k", aud=AUD)
    assert oauth.verify(issued.access_token, key=KEY.public_key(), now=then, aud=AUD) == "c"


def test_forged_foreign_and_malformed_tokens_are_refused() -> None:
    public = KEY.public_key()
    forged = oauth.issue("c", now=NOW, key=pki.new_key(), kid="k", aud=AUD).access_token
    onprem = oauth.issue("c", now=NOW, key=KEY, kid="k", aud=oauth.audience("onprem")).access_token
    good = oauth.issue("c", now=NOW, key=KEY, kid="k", aud=AUD).access_token
    head, _payload, sig = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    claims["sub"] = "someone-else"
    altered = ".".join([head, jwt.encode(claims, "x" * 32, algorithm="HS256").split(".")[1], sig])
    for token, words in ((forged, "signature"), (onprem, "audience"), (altered, "signature"), ("garbage", "not valid")):
        with pytest.raises(OAuthError, match=words) as info:
            oauth.verify(token, key=public, now=NOW, aud=AUD)
        assert info.value.code == "invalid_token" and info.value.http_status == 401


def test_bearer_header_is_lenient_but_not_empty() -> None:
    assert oauth.bearer("Bearer abc") == "abc"
    assert oauth.bearer("abc") == "abc"  # old tools send the raw token
    for missing in (None, "", "Bearer "):
        with pytest.raises(OAuthError, match="no access token"):
            oauth.bearer(missing)
