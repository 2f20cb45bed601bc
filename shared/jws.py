"""Compact JWS with ES256 only, for the device plane's envelopes: parsed once, checked with
``cryptography`` directly.

Why not pyjwt here: pyjwt checks every base64url character in a Python loop and parses the
header again for each question asked of it; on the SSM's report path that was a third of the
CPU of a report. This module does one strict parse (one C regex per segment, the header
decoded by msgspec into its typed fields) and the ECDSA arithmetic in ``cryptography``.
Everything else that is a JWT (OAuth tokens, reservation codes) stays with pyjwt, and the
tests check that pyjwt and this module accept each other's tokens byte for byte.

RFC 7515 (compact serialization) and RFC 7518 section 3.4 (ES256: the signature is R || S,
32 bytes each, big-endian) are the whole of it.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Annotated

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

ALGORITHM = "ES256"
#: The header field by which a request asks the SSM for its signing chain (``x5c``) in the reply.
WANT_CHAIN = "ssmlab-x5c"
#: The ``kid`` of the SSM signing certificate the client holds: another one travels with its chain
#: (after a CA rollover the SSM signs with a new key, and no reply may be lost to it).
KNOWN_KID = "ssmlab-kid"

_SEGMENT = re.compile(rb"[A-Za-z0-9_-]*")
_ES256 = ec.ECDSA(hashes.SHA256())
_COORD = 32  # P-256: R and S are 32 bytes each


class JWSError(ValueError):
    """The token is not a compact ES256 JWS (the message says which part is wrong)."""


class Header(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=False):
    """The protected header fields the envelopes use (others are tolerated and ignored)."""

    alg: Annotated[str, msgspec.Meta(max_length=16)] = ""
    kid: Annotated[str, msgspec.Meta(max_length=256)] | None = None
    typ: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    x5c: Annotated[list[Annotated[str, msgspec.Meta(max_length=16384)]], msgspec.Meta(max_length=8)] | None = None
    want_chain: bool = msgspec.field(default=False, name=WANT_CHAIN)
    known_kid: Annotated[str, msgspec.Meta(max_length=128)] | None = msgspec.field(default=None, name=KNOWN_KID)


_header_decoder = msgspec.json.Decoder(Header)
_header_encoder = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class Compact:
    """One parsed compact JWS: its header, payload and what the signature covers."""

    header: Header
    payload: bytes
    signing_input: bytes
    signature: bytes


def _b64decode(segment: bytes, name: str) -> bytes:
    if _SEGMENT.fullmatch(segment) is None or len(segment) % 4 == 1:
        raise JWSError(f"the {name} is not base64url")
    try:
        return base64.urlsafe_b64decode(segment + b"=" * (-len(segment) % 4))
    except binascii.Error as exc:
        raise JWSError(f"the {name} is not base64url") from exc


def b64encode(data: bytes) -> bytes:
    """base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def parse(token: str | bytes) -> Compact:
    """Split and decode a compact JWS; the signature is not checked here.

    Raises:
        JWSError: not three base64url segments, or a header that is not a JSON object.
    """
    raw = token.encode("ascii", "replace") if isinstance(token, str) else token
    parts = raw.strip().split(b".")
    if len(parts) != 3:
        raise JWSError(f"a compact JWS has 3 dot-separated parts, this has {len(parts)}")
    head, body, sig = parts
    try:
        header = _header_decoder.decode(_b64decode(head, "header"))
    except msgspec.DecodeError as exc:
        raise JWSError(f"the header is not a JWS header: {exc}") from exc
    return Compact(header, _b64decode(body, "payload"), head + b"." + body, _b64decode(sig, "signature"))


def verify(jws: Compact, key: ec.EllipticCurvePublicKey) -> bool:
    """Whether ``jws`` carries a valid ES256 signature by ``key`` (``alg`` must say ES256)."""
    if jws.header.alg != ALGORITHM or len(jws.signature) != 2 * _COORD:
        return False
    r = int.from_bytes(jws.signature[:_COORD], "big")
    s = int.from_bytes(jws.signature[_COORD:], "big")
    try:
        key.verify(encode_dss_signature(r, s), jws.signing_input, _ES256)
    except InvalidSignature:
        return False
    return True


def sign(payload: bytes, key: ec.EllipticCurvePrivateKey, header: Header) -> str:
    """A compact JWS of ``payload`` signed with ``key`` (ES256; ``header.alg`` is set to it)."""
    fields = msgspec.structs.replace(header, alg=ALGORITHM)
    signing_input = b64encode(_header_encoder.encode(fields)) + b"." + b64encode(payload)
    r, s = decode_dss_signature(key.sign(signing_input, _ES256))
    signature = r.to_bytes(_COORD, "big") + s.to_bytes(_COORD, "big")
    return (signing_input + b"." + b64encode(signature)).decode("ascii")
