"""Specific License Reservation codes, in the formats Cisco's products print. Sans-IO.

The flow (seed: "Specific License Reservation", entitlement status "ReservedInCompliance"):

1. The product instance prints a **request code**: ``CB-Z<PID>:<serial>-<nonce>-<check>``, the
   format of Cisco's (e.g. ``CE-ZC9300-48P-4X:XDC240312LB5-A6rZG7jGd-75``): two letters, ``-Z``,
   the UDI product id and serial, an opaque nonce, a two-character check over the rest.
2. The SSM's reserve operation answers an **authorization code**, the XML of Cisco's SLR codes::

     <specificPLR><authorizationCode><flag>A</flag><version>C</version><piid>..</piid>
       <timestamp>ms</timestamp><entitlements><entitlement><tag/><count/>...</entitlement>
       </entitlements></authorizationCode><signature>JWS</signature><udi>P:..,S:..</udi></specificPLR>

   The ``<signature>`` is a compact JWS (ES256) of the ``<authorizationCode>`` element's exact
   text, by the SSM's signing key, its certificate chain in ``x5c``: the instance checks the chain
   against its truststore, the signature, that the signed text is the text shown (tampering), and
   that the code answers its own request code (a foreign code).
3. Installing it prints an 8-hex **confirmation code**; the SSM's confirm operation accepts it.
4. Returning the reservation prints a **return code** (``xxxxxx-xxxxxx-xxxxxx-xxxxxx``); the SSM's
   remove operation accepts it and releases the licenses.

Confirmation and return codes are digests of the authorization code's signature, so the SSM
checks them against the code it issued without any secret of the instance (an emulator's choice:
Cisco's are not public).
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from xml.etree.ElementTree import Element  # the type only: parsing goes through defusedxml
from xml.sax.saxutils import escape

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from defusedxml import ElementTree

from shared import envelope, pki
from shared.errors import BadRequest, Unauthorized
from shared.pki import PrivateKey

TYP = "ssmlab-slr+jws"
_ALNUM = string.ascii_letters + string.digits
_jws = jwt.api_jws.PyJWS(algorithms=[envelope.ALGORITHM])
_HEAD = "CB"
_PART = re.compile(r"^[A-Za-z0-9]+$")


def _check(body: str) -> str:
    return hashlib.sha256(body.encode()).hexdigest()[:2].upper()


@dataclass(frozen=True, slots=True)
class RequestCode:
    udi_pid: str
    serial_number: str
    nonce: str

    @property
    def text(self) -> str:
        body = f"{_HEAD}-Z{self.udi_pid}:{self.serial_number}-{self.nonce}"
        return f"{body}-{_check(body)}"


def new_request_code(udi_pid: str, serial_number: str) -> RequestCode:
    """A request code for this instance, with a fresh nonce."""
    if not udi_pid or not serial_number or ":" in udi_pid or ":" in serial_number:
        raise BadRequest(
            "a reservation request needs a UDI product id and a serial number (without ':')",
            code="reservation_identity_missing",
            fix="generate a serial number first ('smart-agent serial generate')",
        )
    nonce = "".join(secrets.choice(_ALNUM) for _ in range(9))
    return RequestCode(udi_pid, serial_number, nonce)


def parse_request_code(text: str) -> RequestCode:
    """Read a request code, refusing anything that is not one (or whose check fails).

    Raises:
        BadRequest: ``invalid_request_code``.
    """
    code = text.strip()
    bad = BadRequest(
        f"{code[:80]!r} is not a reservation request code",
        code="invalid_request_code",
        fix="paste the code 'smart-agent reservation request' printed, e.g. CB-ZUCCE:SN123-Ab3dE5gH7-4F",
    )
    try:
        head, nonce, check = code.rsplit("-", 2)
    except ValueError:
        raise bad from None
    if not head.startswith(f"{_HEAD}-Z") or ":" not in head or not _PART.match(nonce):
        raise bad
    pid, _, serial = head[4:].rpartition(":")
    if not pid or not serial or check != _check(f"{head}-{nonce}"):
        raise bad
    return RequestCode(pid, serial, nonce)


@dataclass(frozen=True, slots=True)
class Entitlement:
    tag: str
    name: str
    count: int
    license_type: str
    start_date: str = ""
    end_date: str = ""


@dataclass(frozen=True, slots=True)
class Authorization:
    """An authorization code, read (and, by ``open_authorization``, verified)."""

    request_code: str
    udi_pid: str
    serial_number: str
    timestamp_ms: int
    entitlements: tuple[Entitlement, ...]
    signature: str
    text: str

    @property
    def confirmation_code(self) -> str:
        return confirmation_code(self.signature)

    @property
    def return_code(self) -> str:
        return return_code(self.signature)


def _el(tag: str, text: str) -> str:
    return f"<{tag}>{escape(text)}</{tag}>"


def _body(request: RequestCode, stamp: int, entitlements: Sequence[Entitlement]) -> str:
    ents = "".join(
        "<entitlement>"
        + _el("tag", e.tag)
        + _el("count", str(e.count))
        + _el("startDate", e.start_date)
        + _el("endDate", e.end_date)
        + _el("licenseType", e.license_type)
        + _el("displayName", e.name)
        + "</entitlement>"
        for e in entitlements
    )
    return (
        "<authorizationCode>"
        + _el("flag", "A")
        + _el("version", "C")
        + _el("piid", request.text)
        + _el("timestamp", str(stamp))
        + f"<entitlements>{ents}</entitlements>"
        + "</authorizationCode>"
    )


def authorize(
    request: RequestCode,
    entitlements: Sequence[Entitlement],
    *,
    now: datetime,
    key: PrivateKey,
    chain: Sequence[x509.Certificate],
    after_ms: int = 0,
) -> Authorization:
    """The SSM's signed authorization code for ``request``, listing ``entitlements``. Its
    timestamp is later than ``after_ms`` (the code it replaces): a device installs only newer codes."""
    stamp = max(int(now.timestamp() * 1000), after_ms + 1)
    body = _body(request, stamp, entitlements)
    headers: dict[str, object] = {
        "kid": envelope.thumbprint(chain[0]),
        "typ": TYP,
        "x5c": [base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode() for c in chain],
    }
    signature = _jws.encode(body.encode(), key, algorithm=envelope.ALGORITHM, headers=headers)
    udi = f"P:{request.udi_pid},S:{request.serial_number}"
    text = f"<specificPLR>{body}<signature>{signature}</signature>{_el('udi', udi)}</specificPLR>"
    return Authorization(
        request.text,
        request.udi_pid,
        request.serial_number,
        stamp,
        tuple(entitlements),
        signature,
        text,
    )


def _malformed(why: str) -> BadRequest:
    return BadRequest(
        f"this is not an SLR authorization code: {why}",
        code="invalid_authorization_code",
        fix="paste the whole authorizationCode the SSM's reserve operation returned (it starts with <specificPLR>)",
    )


def read_authorization(text: str) -> Authorization:
    """Parse an authorization code without checking its signature (``open_authorization`` does).

    Raises:
        BadRequest: ``invalid_authorization_code``.
    """
    code = text.strip()
    try:
        root = ElementTree.fromstring(code)
    except Exception as exc:  # defusedxml raises ParseError or its own refusals
        raise _malformed(f"unreadable XML ({exc})") from None
    signature = root.findtext("signature")
    auth = root.find("authorizationCode")
    if root.tag != "specificPLR" or auth is None or not signature:
        raise _malformed("it lacks <specificPLR>, <authorizationCode> or <signature>")
    return _from_element(auth, signature.strip(), code)


def _from_element(auth: Element, signature: str, text: str) -> Authorization:
    request_text = auth.findtext("piid") or ""
    try:
        request = parse_request_code(request_text)
        ents = tuple(
            Entitlement(
                tag=e.findtext("tag") or "",
                name=e.findtext("displayName") or "",
                count=int(e.findtext("count") or ""),
                license_type=e.findtext("licenseType") or "",
                start_date=e.findtext("startDate") or "",
                end_date=e.findtext("endDate") or "",
            )
            for e in auth.iterfind("entitlements/entitlement")
        )
        timestamp = int(auth.findtext("timestamp") or "")
    except (ValueError, BadRequest):
        raise _malformed("its fields are not well formed") from None
    if not ents or any(not e.tag or e.count < 1 for e in ents):
        raise _malformed("it lists no entitlement")
    return Authorization(request.text, request.udi_pid, request.serial_number, timestamp, ents, signature, text)


def open_authorization(
    text: str, *, roots: Sequence[x509.Certificate], at: datetime, expected_request: str
) -> Authorization:
    """Read and verify an authorization code for the instance that printed ``expected_request``.

    Raises:
        BadRequest: ``invalid_authorization_code`` (not a code).
        Unauthorized: ``authorization_code_untrusted`` (signed by a certificate the truststore does
            not trust), ``authorization_code_tampered`` (altered after signing),
            ``authorization_code_foreign`` (issued for another request code or device).
    """
    code = read_authorization(text)
    try:
        chain = envelope.reply_chain(code.signature)
    except Unauthorized:
        raise _malformed("its signature carries no certificate") from None
    untrusted = Unauthorized(
        "the authorization code is not signed by an SSM's response-signing certificate",
        code="authorization_code_untrusted",
        fix="use a code returned by the SSM's reserve or update operation",
    )
    public = chain[0].public_key()
    if pki.common_name(chain[0]) != pki.SIGNING_CN or not isinstance(public, ec.EllipticCurvePublicKey):
        raise untrusted  # another certificate of the same CA (a device's ID certificate, a TLS one)
    if not roots:
        raise Unauthorized(
            "the truststore holds no certificate: no authorization code can be trusted",
            code="authorization_code_untrusted",
            fix="import the SSM's root CA ('smart-agent trust import FILE --alias NAME')",
        )
    try:
        pki.verify_client_chain(chain[0], chain[1:], roots, at=at)
    except pki.ChainError as exc:
        raise Unauthorized(
            f"the authorization code is signed by a certificate the truststore does not trust: {exc.reason}",
            code="authorization_code_untrusted",
            fix="use a code from the SSM this instance trusts, or import that SSM's root CA "
            "('smart-agent trust import FILE --alias NAME')",
        ) from None
    try:
        signed = envelope.verify(code.signature, public, what="authorization code").decode()
    except (Unauthorized, BadRequest):
        raise _tampered() from None
    if not code.text.startswith(f"<specificPLR>{signed}<signature>"):
        raise _tampered()  # the code shown is not, exactly, the code signed
    try:
        element = ElementTree.fromstring(signed)
    except Exception:
        raise _tampered() from None
    if element.tag != "authorizationCode":
        raise _tampered()
    code = _from_element(element, code.signature, code.text)  # what was signed, never what is shown
    if code.request_code != expected_request.strip():
        raise Unauthorized(
            f"this authorization code answers request code {code.request_code}, not this instance's {expected_request}",
            code="authorization_code_foreign",
            fix="reserve licenses with the request code this instance printed "
            "('smart-agent reservation request' shows it again)",
        )
    return code


def _tampered() -> Unauthorized:
    return Unauthorized(
        "the authorization code was altered after the SSM signed it",
        code="authorization_code_tampered",
        fix="paste the code exactly as the SSM returned it, or reserve again",
    )


def confirmation_code(signature: str) -> str:
    """The 8-hex confirmation code an instance prints after installing a code."""
    return hashlib.sha256(b"ssmlab-slr-confirm:" + signature.encode()).hexdigest()[:8]


def _base62(data: bytes, length: int) -> str:
    n = int.from_bytes(data, "big")
    out = []
    for _ in range(length):
        n, r = divmod(n, 62)
        out.append(_ALNUM[r])
    return "".join(out)


def universal_authorization(request: RequestCode, *, stamp_ms: int) -> str:
    """A Universal (PLR) authorization code for the device of ``request``, in Cisco's format of
    dash-separated groups (``BAACiY-iYWDQo-rg59GZ-8v98am-2zyeDM-bxFN``): it names no license (it
    unlocks every feature of the product) and is derived from the request code and the instant."""
    raw = _base62(hashlib.sha256(f"ssmlab-plr:{request.text}:{stamp_ms}".encode()).digest(), 34)
    return "-".join(raw[i : i + 6] for i in range(0, 34, 6))


def return_code(signature: str) -> str:
    """The return code an instance prints when it gives its reservation back."""
    raw = _base62(hashlib.sha256(b"ssmlab-slr-return:" + signature.encode()).digest(), 24)
    return "-".join(raw[i : i + 6] for i in range(0, 24, 6))
