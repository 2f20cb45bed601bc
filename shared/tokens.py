"""Product Instance Registration Tokens: minting, parsing, hashing and the usability rules.

Format (research/cisco-api.md §a.5): the URL-encoded, 60-column MIME base64 of
``"<uuid>-<expiry epoch ms>|<base64 of 32 random bytes>"``. The uuid is the token's public id;
only the SHA-256 of the 32-byte secret is stored, so a leaked database does not leak tokens.
Parsing is lenient about what people paste: URL-encoded or not, with or without line breaks.

Pure: no IO, no clock (``now`` is always a parameter).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from urllib.parse import quote, unquote

from shared.clock import utc
from shared.errors import BadRequest, TokenRefused

SECRET_BYTES = 32
_PLAIN = re.compile(
    r"^(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-(?P<ms>\d{1,16})\|(?P<secret>[A-Za-z0-9+/=]{40,64})$"
)


@dataclass(frozen=True, slots=True)
class MintedToken:
    """A new token: ``text`` is shown once to its creator and never stored."""

    token_id: str
    expires_at: datetime
    secret_hash: str
    text: str


@dataclass(frozen=True, slots=True)
class ParsedToken:
    token_id: str
    expires_ms: int
    secret: bytes


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """What the SSM stores about a token."""

    token_id: str
    secret_hash: str
    virtual_account_id: int
    description: str
    created_at: datetime
    expires_at: datetime
    max_uses: int | None
    uses: int
    export_controlled: bool
    revoked_at: datetime | None
    #: Who created it: ``ssm-server`` (the CLI, the lab) or ``api-client:<id>``.
    created_by: str = "ssm-server"


class TokenStatus(StrEnum):
    """A token's status in the SSM's token table."""

    ACTIVE = "active"
    REVOKED = "revoked"
    EXPIRED = "expired"
    USED_UP = "used up"


def status(record: TokenRecord, now: datetime) -> TokenStatus:
    """Whether the token can register one more product instance at ``now``, and if not why."""
    if record.revoked_at is not None:
        return TokenStatus.REVOKED
    if now >= record.expires_at:
        return TokenStatus.EXPIRED
    if record.max_uses is not None and record.uses >= record.max_uses:
        return TokenStatus.USED_UP
    return TokenStatus.ACTIVE


def hash_secret(secret: bytes) -> str:
    return hashlib.sha256(secret).hexdigest()


def _wrap60(text: str) -> str:
    return "\n".join(text[i : i + 60] for i in range(0, len(text), 60)) + "\n"


def mint(*, expires_at: datetime, secret: bytes | None = None, token_id: str | None = None) -> MintedToken:
    """Create a token expiring at ``expires_at`` (domain time)."""
    secret = secret if secret is not None else secrets.token_bytes(SECRET_BYTES)
    token_id = token_id or str(uuid.uuid4())
    # Whole seconds: the store keeps epoch seconds, and the embedded ms must match it.
    ms = int(expires_at.timestamp()) * 1000
    plain = f"{token_id}-{ms}|{base64.b64encode(secret).decode()}"
    text = quote(_wrap60(base64.b64encode(plain.encode()).decode()), safe="")
    return MintedToken(token_id, utc(ms / 1000), hash_secret(secret), text)


def _malformed(why: str) -> TokenRefused:
    return TokenRefused(
        f"the registration token is malformed: {why}",
        code="token_malformed",
        fix="copy the whole token from the SSM (Inventory > General > Product Instance "
        "Registration Tokens) or create one with 'ssm-server token create --va NAME'",
    )


def parse(text: str) -> ParsedToken:
    """Read a token as pasted (URL-encoded or not, any line breaks).

    Raises:
        TokenRefused: ``token_malformed`` when it is not a registration token at all.
    """
    raw = unquote(text.strip()).replace("\r", "").replace("\n", "").replace(" ", "")
    if not raw:
        raise _malformed("it is empty")
    try:
        plain = base64.b64decode(raw, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise _malformed("it is not base64 of a token") from None
    m = _PLAIN.match(plain)
    if not m:
        raise _malformed("the decoded text is not '<uuid>-<ms>|<secret>'")
    try:
        secret = base64.b64decode(m["secret"], validate=True)
    except (binascii.Error, ValueError):
        raise _malformed("its secret part is not base64") from None
    if len(secret) != SECRET_BYTES:
        raise _malformed(f"its secret has {len(secret)} bytes, expected {SECRET_BYTES}")
    return ParsedToken(m["id"], int(m["ms"]), secret)


def check_usable(record: TokenRecord | None, parsed: ParsedToken, now: datetime) -> TokenRecord:
    """Apply the rules that make a token usable for one more registration at ``now``.

    Raises:
        TokenRefused: ``token_unknown``, ``token_revoked``, ``token_expired``, ``token_used_up``.
    """
    if record is None or not hmac.compare_digest(record.secret_hash, hash_secret(parsed.secret)):
        raise TokenRefused(
            "the registration token is not known to this SSM",
            code="token_unknown",
            fix="create a token in the virtual account you want to register to "
            "('ssm-server token create --va NAME') and register with it; a token from another "
            "SSM or an On-Prem instance works only there",
        )
    if int(record.expires_at.timestamp() * 1000) != parsed.expires_ms:
        raise _malformed("its expiry does not match the issued token")
    match status(record, now):
        case TokenStatus.REVOKED:
            assert record.revoked_at is not None
            raise TokenRefused(
                f"the registration token was revoked at {record.revoked_at.isoformat()}",
                code="token_revoked",
                fix="create a new token ('ssm-server token create --va NAME')",
            )
        case TokenStatus.EXPIRED:
            raise TokenRefused(
                f"the registration token expired at {record.expires_at.isoformat()}",
                code="token_expired",
                fix="create a new token ('ssm-server token create --va NAME --days N')",
            )
        case TokenStatus.USED_UP:
            raise TokenRefused(
                f"the registration token has been used {record.uses} of {record.max_uses} times",
                code="token_used_up",
                fix="create a new token or one with more uses ('--uses N')",
            )
    return record


def validate_days(days: int, *, minimum: int, maximum: int) -> int:
    """Token lifetime in days, within the policy bounds."""
    if not minimum <= days <= maximum:
        raise BadRequest(
            f"a token lasts {minimum} to {maximum} days, not {days}",
            code="token_days_out_of_range",
            fix=f"pass --days between {minimum} and {maximum}",
        )
    return days
