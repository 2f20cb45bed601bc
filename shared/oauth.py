"""OAuth2 client credentials for the admin API, as Cisco's token endpoints answer them. Sans-IO.

Cisco issues bearer tokens at ``POST /as/token.oauth2`` (cloudsso, PingFederate) and
``POST /oauth2/default/v1/token`` (id.cisco.com, Okta): ``grant_type=client_credentials`` with the
client id and secret in the form body, in the query string (older tools) or in an HTTP Basic
header. The answer is ``{"access_token", "token_type": "Bearer", "expires_in": 3599}``; a refusal
is ``{"error": "invalid_client", "error_description": ...}``.

Here an access token is a JWT signed (ES256) by the SSM's signing key. Its ``aud`` names the SSM
kind that issued it (a cloud token is refused by an On-Prem and the other way round); ``exp`` is
in domain time and is checked against the caller's ``now``, never the wall clock (pyjwt's own
time checks are off). API client secrets are stored hashed (SHA-256); only the caller sees the
secret, once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from shared.clock import epoch
from shared.errors import SmartLicensingError
from shared.pki import PrivateKey, PublicKey

ALGORITHM = "ES256"
ISSUER = "ssmlab"
#: Cisco's tokens live one hour less a second.
LIFETIME = timedelta(seconds=3599)
GRANT = "client_credentials"


class OAuthError(SmartLicensingError):
    """A refusal in OAuth2's own shape: ``{"error": ..., "error_description": ..., "fix": ...}``."""

    code = "invalid_client"
    http_status = 401

    def __init__(self, message: str, *, code: str, fix: str = "", status: int = 401) -> None:
        super().__init__(message, code=code, fix=fix)
        self.http_status = status

    def to_dict(self) -> dict[str, object]:
        body: dict[str, object] = {"error": self.code, "error_description": self.message}
        if self.fix:
            body["fix"] = self.fix
        return body


def audience(mode: str) -> str:
    """The ``aud`` of tokens issued by an SSM of ``mode`` (cloud or onprem)."""
    return f"ssmlab-{mode}-api"


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    client_id: str
    client_secret: str


def parse_request(fields: Mapping[str, str], basic: tuple[str, str] | None = None) -> ClientCredentials:
    """The client credentials of a token request (form fields, query fields or Basic header).

    Raises:
        OAuthError: ``unsupported_grant_type`` or ``invalid_request`` (400).
    """
    grant = fields.get("grant_type", "")
    if not grant:
        raise OAuthError(
            "the token request has no grant_type",
            code="invalid_request",
            fix="send grant_type=client_credentials with client_id and client_secret",
            status=400,
        )
    if grant != GRANT:
        raise OAuthError(
            f"grant_type {grant!r} is not supported by this emulator",
            code="unsupported_grant_type",
            fix="use grant_type=client_credentials with an API client from 'ssm-server api-client create'",
            status=400,
        )
    client_id = fields.get("client_id", "")
    client_secret = fields.get("client_secret", "")
    if basic is not None and not client_id:
        client_id, client_secret = basic
    if not client_id or not client_secret:
        raise OAuthError(
            "the token request lacks client_id or client_secret",
            code="invalid_request",
            fix="send both, as form fields, query parameters or an HTTP Basic header",
            status=400,
        )
    return ClientCredentials(client_id, client_secret)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode(errors="surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class NewClient:
    client_id: str
    client_secret: str  # shown once, never stored
    secret_hash: str


def new_client() -> NewClient:
    """A fresh API client: a 24-character id and a 40-character secret."""
    client_id = secrets.token_hex(12)
    secret = secrets.token_urlsafe(30)
    return NewClient(client_id, secret, hash_secret(secret))


def check_secret(stored_hash: str | None, revoked: bool, creds: ClientCredentials) -> None:
    """Refuse unknown clients, wrong secrets and revoked clients alike (no oracle).

    Raises:
        OAuthError: ``invalid_client`` (401).
    """
    ok = stored_hash is not None and hmac.compare_digest(
        stored_hash.encode(), hash_secret(creds.client_secret).encode()
    )
    if not ok or revoked:
        raise OAuthError(
            "client authentication failed: unknown client, wrong secret or revoked client",
            code="invalid_client",
            fix="create an API client with 'ssm-server api-client create' and use the id and secret it prints",
        )


@dataclass(frozen=True, slots=True)
class Issued:
    access_token: str
    expires_in: int

    def body(self) -> dict[str, object]:
        return {"access_token": self.access_token, "token_type": "Bearer", "expires_in": self.expires_in}


def issue(client_id: str, *, now: datetime, key: PrivateKey, kid: str, aud: str) -> Issued:
    """A signed access token for ``client_id``, valid ``LIFETIME`` of domain time from ``now``."""
    iat = epoch(now)
    lifetime = int(LIFETIME.total_seconds())
    claims = {
        "iss": ISSUER,
        "sub": client_id,
        "aud": aud,
        "iat": iat,
        "exp": iat + lifetime,
        "jti": secrets.token_urlsafe(12),
        "scope": "smart-licensing",
    }
    token = jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid})
    return Issued(token, lifetime)


def bearer(header: str | None) -> str:
    """The token of an Authorization header; ``Bearer`` may be missing (some old tools send the
    raw token).

    Raises:
        OAuthError: ``invalid_token`` when there is none.
    """
    value = (header or "").strip()
    if value.lower() == "bearer":
        value = ""
    elif value.lower().startswith("bearer "):
        value = value[7:].strip()
    if value and not (value.isascii() and value.isprintable()):
        raise OAuthError(
            "the access token holds characters no token has",
            code="invalid_token",
            fix="send the access_token exactly as the token endpoint returned it",
        )
    if not value:
        raise OAuthError(
            "the request carries no access token",
            code="invalid_token",
            fix="get one from POST /as/token.oauth2 and send 'Authorization: Bearer <access_token>'",
        )
    return value


def verify(token: str, *, key: PublicKey, now: datetime, aud: str) -> str:
    """Check an access token's signature, audience and expiry (domain time); return its client id.

    Raises:
        OAuthError: ``invalid_token`` (401), naming what is wrong.
    """
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=aud,
            issuer=ISSUER,
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "require": ["exp", "sub"]},
        )
    except jwt.InvalidAudienceError:
        raise OAuthError(
            "the access token was issued for another audience (another kind of SSM)",
            code="invalid_token",
            fix="get a token from this SSM's own token endpoint",
        ) from None
    except jwt.InvalidSignatureError:
        raise OAuthError(
            "the access token's signature does not verify: it was not issued by this SSM or was altered",
            code="invalid_token",
            fix="get a new token from this SSM's token endpoint",
        ) from None
    except jwt.PyJWTError as exc:
        raise OAuthError(
            f"the access token is not valid: {exc}",
            code="invalid_token",
            fix="send the access_token exactly as the token endpoint returned it",
        ) from None
    exp = claims.get("exp")
    if not isinstance(exp, int) or epoch(now) >= exp:
        raise OAuthError(
            "the access token has expired",
            code="invalid_token",
            fix="request a new token (tokens live 3599 seconds of the SSM's domain time)",
        )
    sub = claims.get("sub")
    if not isinstance(sub, str):
        raise OAuthError("the access token names no client", code="invalid_token", fix="get a new token")
    return sub
