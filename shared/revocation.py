"""Revocation of the SSM's TLS certificate: what its CRL and its OCSP responder say, judged.

The certificate names where to ask (CRL distribution points, the OCSP URL of its Authority
Information Access); the caller fetches (``agent.revocheck``) and passes the bytes here. Each
answer is GOOD, REVOKED, or UNKNOWN (unreachable, unreadable, not signed by the issuer, stale).
The Transport Settings option decides what UNKNOWN means: ``soft-fail`` goes on, ``hard-fail``
refuses; REVOKED is refused unless checking is ``off``.

Pure: no IO; the caller passes the real time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID

from shared.tlsfinding import Finding, cn, ssm_side, when


class RevocationMode(StrEnum):
    OFF = "off"
    SOFT_FAIL = "soft-fail"
    HARD_FAIL = "hard-fail"


class Status(StrEnum):
    GOOD = "good"
    REVOKED = "revoked"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Answer:
    source: str  # "CRL" or "OCSP"
    url: str
    status: Status
    detail: str

    def describe(self) -> str:
        return f"{self.source} {self.url}: {self.status} ({self.detail})"


def where_to_ask(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """(CRL distribution point URLs, OCSP responder URLs) the certificate names."""
    crls: list[str] = []
    try:
        for point in cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value:
            crls += [str(n.value) for n in point.full_name or () if isinstance(n, x509.UniformResourceIdentifier)]
    except x509.ExtensionNotFound:
        pass
    responders: list[str] = []
    try:
        for desc in cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value:
            if desc.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
                desc.access_location, x509.UniformResourceIdentifier
            ):
                responders.append(desc.access_location.value)
    except x509.ExtensionNotFound:
        pass
    return crls, responders


def ocsp_request(leaf: x509.Certificate, issuer: x509.Certificate) -> bytes:
    """The DER OCSP request for ``leaf`` (SHA-1 CertID, as every responder accepts)."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1())  # noqa: S303 - RFC 6960 CertID
    return builder.build().public_bytes(serialization.Encoding.DER)


def judge_crl(url: str, data: bytes, leaf: x509.Certificate, issuer: x509.Certificate, now: datetime) -> Answer:
    try:
        crl = x509.load_der_x509_crl(data) if not data.startswith(b"-----") else x509.load_pem_x509_crl(data)
    except ValueError as exc:
        return Answer("CRL", url, Status.UNKNOWN, f"not a CRL: {exc}")
    public = issuer.public_key()
    if (
        crl.issuer != issuer.subject
        or not isinstance(public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
        or not crl.is_signature_valid(public)
    ):
        return Answer("CRL", url, Status.UNKNOWN, f"not signed by {cn(issuer)}")
    if crl.next_update_utc is not None and crl.next_update_utc < now:
        return Answer("CRL", url, Status.UNKNOWN, f"stale: its next update was due {when(crl.next_update_utc)}")
    entry = crl.get_revoked_certificate_by_serial_number(leaf.serial_number)
    if entry is None:
        return Answer("CRL", url, Status.GOOD, f"serial {leaf.serial_number:x} not listed")
    return Answer(
        "CRL", url, Status.REVOKED, f"serial {leaf.serial_number:x} revoked on {when(entry.revocation_date_utc)}"
    )


def judge_ocsp(url: str, data: bytes, leaf: x509.Certificate, issuer: x509.Certificate, now: datetime) -> Answer:
    try:
        resp = ocsp.load_der_ocsp_response(data)
    except ValueError as exc:
        return Answer("OCSP", url, Status.UNKNOWN, f"not an OCSP response: {exc}")
    if resp.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        return Answer("OCSP", url, Status.UNKNOWN, f"the responder answered {resp.response_status.name}")
    if not _signed_by(issuer, resp):
        return Answer("OCSP", url, Status.UNKNOWN, f"the response is not signed by {cn(issuer)}")
    if resp.serial_number != leaf.serial_number:
        return Answer("OCSP", url, Status.UNKNOWN, "the response is about another certificate")
    if resp.next_update_utc is not None and resp.next_update_utc < now:
        return Answer("OCSP", url, Status.UNKNOWN, f"stale: valid until {when(resp.next_update_utc)}")
    if resp.certificate_status is ocsp.OCSPCertStatus.REVOKED:
        assert resp.revocation_time_utc is not None
        return Answer("OCSP", url, Status.REVOKED, f"revoked on {when(resp.revocation_time_utc)}")
    if resp.certificate_status is ocsp.OCSPCertStatus.GOOD:
        return Answer("OCSP", url, Status.GOOD, f"good, produced {when(resp.produced_at_utc)}")
    return Answer("OCSP", url, Status.UNKNOWN, "the responder does not know the certificate")


def _signed_by(issuer: x509.Certificate, resp: ocsp.OCSPResponse) -> bool:
    """Whether the issuer's own key signed the response (the lab answers for its CA directly)."""
    key, algorithm = issuer.public_key(), resp.signature_hash_algorithm
    try:
        if isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(algorithm))
            return True
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(), algorithm)
            return True
    except InvalidSignature:
        return False
    return False


def finding(leaf: x509.Certificate, answers: Sequence[Answer], mode: RevocationMode, ssm: str) -> Finding | None:
    """The verdict on the answers: revoked (any source says so), unknown under hard-fail, else None."""
    if mode == RevocationMode.OFF:
        return None
    said = "; ".join(a.describe() for a in answers)
    if any(a.status is Status.REVOKED for a in answers):
        return ssm_side(
            "tls_cert_revoked",
            f"the SSM's certificate {cn(leaf)} is revoked by its CA: {said}",
            "the SSM needs a new certificate from its CA; a revoked one is never trusted again",
            ssm,
        )
    if mode == RevocationMode.HARD_FAIL and not any(a.status is Status.GOOD for a in answers):
        return Finding(
            "tls_revocation_unknown",
            f"no CRL or OCSP answer says the SSM's certificate {cn(leaf)} is good "
            f"({said or 'it names no CRL or OCSP responder'}), and revocation checking is hard-fail",
            "make the CRL distribution point or the OCSP responder reachable from the agent, or set "
            "revocation checking to soft-fail: smart-agent transport set --revocation soft-fail",
        )
    return None
