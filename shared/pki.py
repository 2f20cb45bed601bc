"""The lab PKI in one module: keys, CAs, server and ID certificates, chain verification.

Every validity date is a parameter (trustme's lesson): callers pass domain time for ID
certificates and real time for TLS certificates. Nothing here opens a file or a socket, and
nothing reads a clock. Keys are ECDSA P-256 throughout (fast to sign and verify, ES256 on the
wire, and read by keytool).

Verification uses cryptography's RFC 5280 verifier with an explicit validation time, so a
certificate can be checked against domain time (``PolicyBuilder().time(...)``).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import DNSName, IPAddress
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import (
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from shared.errors import CsrInvalid

PrivateKey = ec.EllipticCurvePrivateKey
PublicKey = ec.EllipticCurvePublicKey

#: Cisco SSM names the agent reaches by default; the lab server certificate covers them.
DEFAULT_SERVER_HOSTS: tuple[str, ...] = (
    "smartreceiver.cisco.com",
    "tools.cisco.com",
    "localhost",
    "127.0.0.1",
)


class ChainError(Exception):
    """A certificate chain did not verify; ``reason`` is the verifier's own words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def new_key() -> PrivateKey:
    """A fresh ECDSA P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_key(pem: bytes) -> PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("expected an EC private key")
    return key


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def load_cert(data: bytes) -> x509.Certificate:
    """A certificate from PEM or DER."""
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data)
    return x509.load_der_x509_certificate(data)


def load_certs(data: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle, or the one certificate of a DER file."""
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificates(data)
    return [x509.load_der_x509_certificate(data)]


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint, colon-separated upper-case hex (as keytool prints it)."""
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def public_key_id(key: PublicKey) -> str:
    """A short stable id of a public key (hex of SHA-256 of its DER), safe to log."""
    der = key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()[:16]


@dataclass(frozen=True)
class CertifiedKey:
    """A certificate, its private key, and the intermediates that lead to its root."""

    cert: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...] = field(default=())

    def cert_pem(self) -> bytes:
        return cert_pem(self.cert)

    def key_pem(self) -> bytes:
        return key_pem(self.key)

    def chain_pem(self) -> bytes:
        """The certificate followed by its intermediates, as a TLS server sends them."""
        return b"".join(cert_pem(c) for c in (self.cert, *self.chain))


def _name(common_name: str, organization: str | None = "ssmlab") -> x509.Name:
    attrs = []
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
    return x509.Name(attrs)


def _ski(key: PublicKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key)


def make_ca(
    common_name: str,
    *,
    not_before: datetime,
    not_after: datetime,
    issuer: CertifiedKey | None = None,
    path_length: int | None = None,
    key: PrivateKey | None = None,
) -> CertifiedKey:
    """A CA certificate: self-signed root when ``issuer`` is None, else an intermediate."""
    key = key or new_key()
    subject = _name(common_name)
    signer_key = issuer.key if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(_ski(key.public_key()), critical=False)
    )
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
    cert = builder.sign(signer_key, hashes.SHA256())
    chain = (issuer.cert, *issuer.chain) if issuer else ()
    # A root is not part of the chain a server sends; keep only intermediates.
    chain = tuple(c for c in chain if c.issuer != c.subject)
    return CertifiedKey(cert, key, chain)


def _leaf_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def san_for(hosts: Sequence[str]) -> list[x509.GeneralName]:
    """DNS names and IP addresses as SAN entries (an IP literal becomes an IPAddress entry)."""
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def _server_cert(
    *,
    key: PrivateKey,
    common_name: str,
    issuer_name: x509.Name,
    signer: PrivateKey,
    hosts: Sequence[str],
    include_san: bool,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    """A TLS server certificate (serverAuth) for ``key``, signed by ``signer``."""
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(_ski(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
    )
    if include_san and hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName(san_for(hosts)), critical=False)
    return builder.sign(signer, hashes.SHA256())


def make_server_cert(
    issuer: CertifiedKey,
    *,
    hosts: Sequence[str],
    not_before: datetime,
    not_after: datetime,
    common_name: str | None = None,
    include_san: bool = True,
    key: PrivateKey | None = None,
) -> CertifiedKey:
    """A TLS server certificate for ``hosts`` (DNS names or IPs), issued by ``issuer``.

    ``include_san=False`` gives a CN-only certificate (a drill: modern verifiers refuse it).
    """
    key = key or new_key()
    cert = _server_cert(
        key=key,
        common_name=common_name or (hosts[0] if hosts else "ssmlab"),
        issuer_name=issuer.cert.subject,
        signer=issuer.key,
        hosts=hosts,
        include_san=include_san,
        not_before=not_before,
        not_after=not_after,
    )
    chain = tuple(c for c in (issuer.cert, *issuer.chain) if c.issuer != c.subject)
    return CertifiedKey(cert, key, chain)


def make_self_signed_server_cert(
    *, hosts: Sequence[str], not_before: datetime, not_after: datetime, key: PrivateKey | None = None
) -> CertifiedKey:
    """A self-signed TLS server certificate for ``hosts`` (what ``keytool -genkeypair`` or a fresh
    Tomcat gives): no CA vouches for it, so a client trusts it only by holding it."""
    key = key or new_key()
    name = hosts[0] if hosts else "ssmlab"
    cert = _server_cert(
        key=key,
        common_name=name,
        issuer_name=_name(name),
        signer=key,
        hosts=hosts,
        include_san=True,
        not_before=not_before,
        not_after=not_after,
    )
    return CertifiedKey(cert, key, ())


#: The subject CN of the SSM's response-signing certificate: what signs replies and SLR codes
#: (an ID certificate, issued by the same CA, never carries it: the SSM chooses its subject).
SIGNING_CN = "ssmlab SSM response signing"


def make_signing_cert(
    issuer: CertifiedKey,
    *,
    common_name: str,
    not_before: datetime,
    not_after: datetime,
) -> CertifiedKey:
    """The SSM response-signing certificate (digital signature, client-auth EKU)."""
    key = new_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(_ski(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
        .sign(issuer.key, hashes.SHA256())
    )
    chain = tuple(c for c in (issuer.cert, *issuer.chain) if c.issuer != c.subject)
    return CertifiedKey(cert, key, chain)


# -- ID certificates -----------------------------------------------------------------------------


def make_csr(key: PrivateKey, *, common_name: str, serial_number: str) -> bytes:
    """A PEM CSR for a product instance: CN = instance name, serialNumber = its serial."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_number[:64]),
        ]
    )
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


def load_csr(pem: str | bytes) -> x509.CertificateSigningRequest:
    """Parse a CSR and check its self-signature and key type.

    Raises:
        CsrInvalid: unreadable, signed by a different key, or not an EC P-256 key.
    """
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        csr = x509.load_pem_x509_csr(data)
    except ValueError as exc:
        raise CsrInvalid(
            f"the CSR is not a readable PEM certificate signing request: {exc}",
            fix="send the CSR as PEM ('-----BEGIN CERTIFICATE REQUEST-----')",
        ) from exc
    if not csr.is_signature_valid:
        raise CsrInvalid(
            "the CSR's signature does not match its public key",
            code="csr_signature_invalid",
            fix="sign the CSR with the private key whose public key it carries",
        )
    key = csr.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise CsrInvalid(
            "the CSR's key is not ECDSA P-256",
            code="csr_key_unsupported",
            fix="generate an EC P-256 (secp256r1) key for the ID certificate",
        )
    return csr


def issue_id_certificate(
    issuer: CertifiedKey,
    csr: x509.CertificateSigningRequest,
    *,
    piid: str,
    serial_number: str,
    not_before: datetime,
    validity: timedelta,
) -> x509.Certificate:
    """The product instance's ID certificate, valid from ``not_before`` (domain time)."""
    public = csr.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return id_certificate_for(
        issuer, public, piid=piid, serial_number=serial_number, not_before=not_before, validity=validity
    )


def id_certificate_for(
    issuer: CertifiedKey,
    public: ec.EllipticCurvePublicKey,
    *,
    piid: str,
    serial_number: str,
    not_before: datetime,
    validity: timedelta,
) -> x509.Certificate:
    """An ID certificate for a key already known (the lab's ID-certificate drills forge these)."""
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ssmlab product instance"),
            x509.NameAttribute(NameOID.COMMON_NAME, piid),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, serial_number[:64]),
        ]
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + validity)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False,
        )
        .sign(issuer.key, hashes.SHA256())
    )


# -- verification --------------------------------------------------------------------------------


def verify_server_chain(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    *,
    host: str,
    at: datetime,
) -> list[x509.Certificate]:
    """Verify a TLS server chain for ``host`` (DNS name or IP) at time ``at``.

    Returns the verified chain, leaf first. Raises ``ChainError`` with the verifier's reason.
    """
    try:
        subject: DNSName | IPAddress = IPAddress(ipaddress.ip_address(host))
    except ValueError:
        subject = DNSName(host)
    verifier = PolicyBuilder().store(Store(list(roots))).time(at).build_server_verifier(subject)
    try:
        return verifier.verify(leaf, list(intermediates))
    except VerificationError as exc:
        raise ChainError(str(exc)) from exc


def verify_client_chain(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    *,
    at: datetime,
) -> list[x509.Certificate]:
    """Verify an ID or signing certificate chain (client-auth profile) at time ``at``."""
    return verify_issuance(leaf, intermediates, roots, at=at)


def verify_issuance(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    *,
    at: datetime,
) -> list[x509.Certificate]:
    """Verify that ``leaf`` chains to one of ``roots`` at ``at``, whatever names it carries (ID
    and signing certificates name no host; a TLS diagnosis checks names on its own)."""
    # The end-entity's extensions are not judged (no SAN needed); the CAs' are, as for WebPKI.
    verifier = (
        PolicyBuilder()
        .store(Store(list(roots)))
        .time(at)
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=ExtensionPolicy.permit_all(),
        )
        .build_client_verifier()
    )
    try:
        return list(verifier.verify(leaf, list(intermediates)).chain)
    except VerificationError as exc:
        raise ChainError(str(exc)) from exc


def signature_matches(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s key signed ``cert``."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def host_names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """(DNS SANs, IP SANs) of a certificate; both empty when it has no SAN extension."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return (
        list(san.get_values_for_type(x509.DNSName)),
        [str(ip) for ip in san.get_values_for_type(x509.IPAddress)],
    )


def common_name(cert: x509.Certificate) -> str | None:
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None
