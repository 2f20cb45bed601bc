"""Mutual TLS on the device plane: what the SSM makes of the ID certificate an instance presents.

With ``ssm-server run --device-mtls`` the SSM asks every device-plane client for a certificate.
The handshake (OpenSSL) already refused one that does not chain to a CA the SSM trusts for ID
certificates (an ID certificate of another product's CA never gets this far). ID certificates
live on the domain clock, so the handshake does not check their dates; ``judge`` does, for a
signed request whose signer is known:

- none presented: ``client_cert_missing`` (a registration, unsigned, needs none: the instance
  has no ID certificate yet);
- not the signer's: ``client_cert_mismatch`` (its key is not the instance's current or previous
  ID-certificate key);
- ``client_cert_revoked``: its serial is on the SSM's list of revoked ID certificates;
- ``client_cert_expired`` / ``client_cert_not_yet_valid`` on the domain clock.

Each refusal says which certificate (serial, issuer) and how to fix it. Pure: no IO, no clock.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from shared import pki
from shared.codes import ErrorCode
from shared.errors import Unauthorized

MISSING = ErrorCode.CLIENT_CERT_MISSING
MISMATCH = ErrorCode.CLIENT_CERT_MISMATCH
REVOKED = ErrorCode.CLIENT_CERT_REVOKED
EXPIRED = ErrorCode.CLIENT_CERT_EXPIRED
NOT_YET_VALID = ErrorCode.CLIENT_CERT_NOT_YET_VALID
OK = "ok"

#: What a refused instance does: the SSM issues a new ID certificate only at registration.
REREGISTER = (
    "reregister the product instance with a new token ('smart-agent reregister TOKEN --instance NAME'): "
    "the SSM issues it a new ID certificate"
)


@dataclass(frozen=True, slots=True)
class Presented:
    """What an instance presented in its last handshake, and what the SSM made of it."""

    serial: str  # hex, as the instance row's cert_serial
    subject: str
    issuer: str
    fingerprint: str
    not_before: datetime
    not_after: datetime
    verdict: str  # OK or one of the refusal codes
    at: datetime  # domain time of the request

    def to_dict(self) -> dict[str, str]:
        return {
            "serial": self.serial,
            "subject": self.subject,
            "issuer": self.issuer,
            "fingerprint": self.fingerprint,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "verdict": self.verdict,
            "at": self.at.isoformat(),
        }


def serial_of(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def public_der(key: CertificatePublicKeyTypes) -> bytes:
    """A public key as DER SubjectPublicKeyInfo (what compares two keys)."""
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def same_public_key(a: CertificatePublicKeyTypes, b: CertificatePublicKeyTypes) -> bool:
    return public_der(a) == public_der(b)


def issuer_name(cert: x509.Certificate) -> str:
    names = cert.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(names[0].value) if names else cert.issuer.rfc4514_string()


def _describe(cert: x509.Certificate) -> str:
    return f"serial {serial_of(cert)}, issued by '{issuer_name(cert)}'"


def revoked_signer(piid: str, serial: str) -> Unauthorized:
    """A signed request of an instance whose ID certificate the SSM revoked (mutual TLS or not)."""
    return Unauthorized(
        f"the ID certificate of {piid} (serial {serial}) is revoked by the SSM: its key signs for nobody",
        code=REVOKED,
        fix=REREGISTER,
        detail={"serial": serial},
    )


def judge(
    presented: x509.Certificate | None,
    *,
    piid: str,
    keys: Collection[bytes],
    revoked: Collection[str],
    now: datetime,
) -> Presented:
    """Judge the certificate an instance presented; what to record about it.

    ``keys``: the SubjectPublicKeyInfo (DER) of the instance's current and previous ID-certificate keys.

    Raises:
        Unauthorized: ``client_cert_missing``.
        Refused: ``client_cert_mismatch``, ``client_cert_revoked``, ``client_cert_expired``,
            ``client_cert_not_yet_valid``; it carries what to record about the certificate.
    """
    if presented is None:
        raise Unauthorized(
            f"this SSM demands mutual TLS on the device plane, and {piid} presented no client certificate",
            code=MISSING,
            fix="present the instance's ID certificate in the TLS handshake (the Smart Agent does once "
            "registered); in the lab, 'ssm-server run' without --device-mtls does not ask for one",
        )
    verdict, error = OK, None
    described = _describe(presented)
    if public_der(presented.public_key()) not in keys:
        verdict, error = (
            MISMATCH,
            (
                f"{piid} signed the request but presented another certificate in the handshake ({described}): "
                "its key is not this instance's ID-certificate key",
                "present the instance's own ID certificate (the one the SSM issued at registration); "
                "if it was replaced, " + REREGISTER,
            ),
        )
    elif serial_of(presented) in revoked:
        verdict, error = (
            REVOKED,
            (
                f"the ID certificate that {piid} presented ({described}) is revoked by the SSM",
                REREGISTER,
            ),
        )
    elif now >= presented.not_valid_after_utc:
        verdict, error = (
            EXPIRED,
            (
                f"the ID certificate that {piid} presented ({described}) expired at "
                f"{presented.not_valid_after_utc.isoformat()} (SSM time {now.isoformat()})",
                REREGISTER,
            ),
        )
    elif now < presented.not_valid_before_utc:
        verdict, error = (
            NOT_YET_VALID,
            (
                f"the ID certificate that {piid} presented ({described}) is valid only from "
                f"{presented.not_valid_before_utc.isoformat()} (SSM time {now.isoformat()})",
                "check that the SSM's and the instance's clocks agree; else " + REREGISTER,
            ),
        )
    seen = Presented(
        serial=serial_of(presented),
        subject=presented.subject.rfc4514_string(),
        issuer=issuer_name(presented),
        fingerprint=pki.fingerprint(presented),
        not_before=presented.not_valid_before_utc,
        not_after=presented.not_valid_after_utc,
        verdict=verdict,
        at=now,
    )
    if error is not None:
        message, fix = error
        raise Refused(message, code=str(verdict), fix=fix, seen=seen)
    return seen


class Refused(Unauthorized):
    """A presented certificate the SSM refuses, with what to record about it."""

    def __init__(self, message: str, *, code: str, fix: str, seen: Presented) -> None:
        super().__init__(message, code=code, fix=fix, detail={"serial": seen.serial, "issuer": seen.issuer})
        self.seen = seen
