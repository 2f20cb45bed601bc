"""Signed device-plane envelopes: compact JWS (ES256) around a message's canonical JSON.

- A product instance signs every request after registration with its ID certificate's key;
  the JWS header's ``kid`` is its product instance id (piid).
- The SSM signs every successful reply with its response-signing key and sends the signing
  certificate and its intermediates in ``x5c``, so the agent checks the chain against its
  truststore and then the signature.
- Freshness: ``sent_at`` must lie within a window of the receiver's domain time; the nonce is
  remembered by the receiver for that window (replay), and every reply names the nonce it
  answers (``in_reply_to``), so an old reply cannot be passed off as a new one.

Pure: the checks take ``now`` and a window; remembering nonces is the caller's job.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from shared import jws
from shared.clock import utc
from shared.errors import BadRequest, Unauthorized
from shared.pki import PrivateKey, PublicKey

ALGORITHM = jws.ALGORITHM
REQUEST_TYP = "ssmlab-request+jws"
REPLY_TYP = "ssmlab-reply+jws"
CONTENT_TYPE = "application/jose"


def new_nonce() -> str:
    """A random request nonce (URL-safe, 22 characters)."""
    return secrets.token_urlsafe(16)


#: A request header parameter asking the SSM to put its signing chain (x5c) in the reply.
WANT_CHAIN = jws.WANT_CHAIN

#: A signed message as received: the text, or its parse (parse once, ask it many questions).
Signed = str | bytes | jws.Compact


def sign_request(
    payload: bytes, key: PrivateKey, *, piid: str, want_chain: bool = False, known_kid: str | None = None
) -> str:
    """A compact JWS of ``payload`` signed by a product instance; ``want_chain`` asks the SSM to
    send its signing certificate chain with the reply (the agent does not know it yet);
    ``known_kid`` names the signing certificate the agent holds (the SSM sends the chain of another)."""
    header = jws.Header(kid=piid, typ=REQUEST_TYP, want_chain=want_chain, known_kid=known_kid)
    return jws.sign(payload, key, header)


@functools.lru_cache(maxsize=64)
def thumbprint(cert: x509.Certificate) -> str:
    """The reply ``kid``: the SHA-256 thumbprint of the signing certificate (base64url).
    Cached: every reply names the same few certificates."""
    return jws.b64encode(cert.fingerprint(hashes.SHA256())).decode()


@functools.lru_cache(maxsize=64)
def _x5c(chain: tuple[x509.Certificate, ...]) -> list[str]:
    return [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain]


def sign_reply(payload: bytes, key: PrivateKey, chain: Sequence[x509.Certificate], *, include_chain: bool) -> str:
    """A compact JWS of ``payload`` signed by the SSM. ``kid`` names the signing certificate;
    the chain itself (``x5c``) travels only when asked for: verifying a 2 KB header on every
    reply would cost more than the rest of the reply."""
    x5c = _x5c(tuple(chain)) if include_chain else None
    return jws.sign(payload, key, jws.Header(kid=thumbprint(chain[0]), typ=REPLY_TYP, x5c=x5c))


def parse(token: Signed) -> jws.Compact:
    """The parsed compact JWS (once: the SSM asks a request for its signer, then its signature).

    Raises:
        BadRequest: ``malformed_jws``.
    """
    if isinstance(token, jws.Compact):
        return token
    try:
        return jws.parse(token)
    except jws.JWSError as exc:
        raise BadRequest(
            f"the body is not a compact JWS: {exc}",
            code="malformed_jws",
            fix="sign the request: a compact JWS (ES256) with the piid as 'kid'",
        ) from exc


def request_signer(token: Signed) -> str:
    """The ``kid`` (piid) a signed request claims, before its signature is checked."""
    return request_header(token)[0]


def request_header(token: Signed) -> tuple[str, bool | str]:
    """The ``kid`` (piid) a signed request claims and whether it asks for the SSM's chain (True),
    or the ``kid`` of the SSM signing certificate it holds (the chain travels if it is not the
    SSM's), from one read of its header (before the signature is checked)."""
    header = parse(token).header
    if header.alg != ALGORITHM or not header.kid:
        raise Unauthorized(
            "the signed request names no signer (JWS header needs alg ES256 and a kid)",
            code="signer_missing",
            fix="set the JWS header kid to the product instance id received at registration",
        )
    return header.kid, header.want_chain or header.known_kid or False


def verify(token: Signed, key: PublicKey, *, what: str = "request") -> bytes:
    """Check a JWS signature with ``key``; return its payload bytes.

    Raises:
        BadRequest: ``malformed_jws`` (not a compact JWS, or not ES256).
        Unauthorized: ``signature_invalid``.
    """
    parsed = parse(token)
    if parsed.header.alg != ALGORITHM:
        raise BadRequest(
            f"the JWS is signed with {parsed.header.alg or 'no algorithm'!r}, not {ALGORITHM}",
            code="malformed_jws",
            fix="send a compact JWS (ES256)",
        )
    if not jws.verify(parsed, key):
        if what == "request":
            message = "the request signature does not verify with the signer's ID certificate"
            fix = (
                "sign with the key of the current ID certificate; if the key was lost, reregister the product instance"
            )
        else:
            message = f"the signature of the {what} does not verify: it was altered after it was signed"
            fix = f"use the {what} exactly as it was written"
        raise Unauthorized(message, code="signature_invalid", fix=fix)
    return parsed.payload


def wants_chain(token: Signed) -> bool:
    """Whether a signed request asks for the SSM's signing chain in the reply."""
    try:
        return parse(token).header.want_chain
    except BadRequest:
        return False


def reply_header(token: Signed) -> jws.Header:
    """The header of a reply (unverified): its ``kid`` and, when sent, its ``x5c``."""
    return parse(token).header


def reply_chain(token: Signed) -> list[x509.Certificate]:
    """The certificates a reply carries in ``x5c`` (leaf first), unverified."""
    x5c = parse(token).header.x5c
    if not x5c:
        raise Unauthorized(
            "the SSM reply carries no signing certificate (x5c)",
            code="reply_unsigned",
            fix="point the agent at an SSM that signs its replies",
        )
    try:
        return [x509.load_der_x509_certificate(base64.b64decode(c, validate=True)) for c in x5c]
    except (ValueError, binascii.Error) as exc:
        raise Unauthorized(
            f"the SSM reply's signing certificate is unreadable: {exc}",
            code="reply_unsigned",
            fix="point the agent at an SSM that signs its replies",
        ) from exc


def check_fresh(sent_at: int, now: datetime, window: timedelta) -> None:
    """Refuse a request whose ``sent_at`` is further than ``window`` from ``now``.

    Raises:
        Unauthorized: ``request_stale``.
    """
    skew = abs(now.timestamp() - sent_at)
    if skew > window.total_seconds():
        raise Unauthorized(
            f"the request was sent at {utc(sent_at).isoformat()}, {int(skew)} s from the SSM's "
            f"time {now.isoformat()} (allowed: {int(window.total_seconds())} s)",
            code="request_stale",
            fix="check that the agent and the SSM share one clock (ssmlab clock show); "
            "resend the request with a fresh timestamp",
            detail={  # what the agent names the skew with (shared.clockskew)
                "ssm_time": now.isoformat(),
                "sent_at": utc(sent_at).isoformat(),
                "skew_seconds": int(sent_at - now.timestamp()),
                "allowed_seconds": int(window.total_seconds()),
            },
        )


def check_reply_binding(in_reply_to: str, nonce: str) -> None:
    """Refuse a reply that answers another request."""
    if in_reply_to != nonce:
        raise Unauthorized(
            "the SSM reply answers another request (in_reply_to does not match the nonce sent)",
            code="reply_mismatch",
            fix="retry; if it persists something between the agent and the SSM replays replies",
        )


def describe(token: Signed) -> str:
    """A short, secret-free description of a JWS for logs: its header only."""
    try:
        header = parse(token).header
    except BadRequest:
        return "<not a JWS>"
    return json.dumps({k: v for k, v in msgspec.structs.asdict(header).items() if k != "x5c" and v})
