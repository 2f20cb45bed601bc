"""The certificates of the second drill catalog (issue 19), each a genuine instance of its problem.

Built from the lab PKI at real time; OpenSSL refuses each for the reason its drill names
(tests/server/test_tls_drills2.py checks them with ``openssl s_client`` and ``openssl verify``):

    wildcard              *.cisco.com (one label above each lab host): matches
    wildcard-mismatch     *.smartreceiver.cisco.com: one label too deep, never the bare name
    sha1-signature        signed sha1WithRSAEncryption by "ssmlab RSA Issuing CA" (the lab root's)
    weak-key              an RSA-1024 key, issued by the lab's issuing CA
    wrong-eku             extendedKeyUsage clientAuth only
    no-basic-constraints  issued by a CA certificate without basicConstraints (nor keyUsage)
    name-constraints      issued by a CA constrained to ssmlab.example
    expired-intermediate  issued by an issuing CA whose validity ended yesterday

RSA keys are slow to make: the RSA issuing CA (2048) and the weak key (1024) are kept beside the
lab PKI (``drills/``, keys 0600) and made again only when the lab root changes. cryptography no
longer signs with SHA-1, so the SHA-1 certificate is signed as ``openssl x509 -sha1`` would: the
SHA-256 algorithm identifier is swapped for SHA-1's (same length) and the new TBS signed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from server.pki_files import LabPki, write_private, write_public
from shared import pki
from shared.transportsettings import is_ip

RSA_ISSUING_CN = "ssmlab RSA Issuing CA"
NO_BC_CN = "ssmlab Issuing CA (no basicConstraints)"
CONSTRAINED_CN = "ssmlab Constrained Issuing CA"
EXPIRED_CN = "ssmlab Issuing CA (expired)"
#: The only DNS subtree the constrained CA may issue for.
PERMITTED_DOMAIN = "ssmlab.example"

_SHA256_RSA = bytes.fromhex("06092A864886F70D01010B")
_SHA1_RSA = bytes.fromhex("06092A864886F70D010105")


class Leaf:
    """A served certificate and its key (an EC or an RSA key), as ``pki.CertifiedKey`` shows one."""

    def __init__(self, cert: x509.Certificate, key: CertificateIssuerPrivateKeyTypes) -> None:
        self.cert, self.key = cert, key

    def key_pem(self) -> bytes:
        return key_pem(self.key)


def _name(cn: str) -> x509.Name:
    return x509.Name(
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ssmlab"), x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    )


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=not ca,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def certificate(
    *,
    subject: str,
    key: CertificateIssuerPrivateKeyTypes,
    issuer: x509.Name | None,
    signer: CertificateIssuerPrivateKeyTypes,
    not_before: datetime,
    not_after: datetime,
    hosts: Sequence[str] = (),
    ca: bool = False,
    basic_constraints: bool = True,
    eku: Sequence[x509.ObjectIdentifier] = (ExtendedKeyUsageOID.SERVER_AUTH,),
    name_constraints: x509.NameConstraints | None = None,
    extensions: Sequence[x509.ExtensionType] = (),
) -> x509.Certificate:
    """One certificate of a drill (SHA-256), with the extensions a server or CA certificate has
    unless told otherwise (``basic_constraints=False`` drops basicConstraints and keyUsage)."""
    public = key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer or _name(subject))
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False)
    )
    if basic_constraints:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=0 if ca else None), critical=True
        ).add_extension(_usage(ca=ca), critical=True)
    if hosts:
        builder = builder.add_extension(x509.SubjectAlternativeName(pki.san_for(hosts)), critical=False)
    if eku and not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if name_constraints is not None:
        builder = builder.add_extension(name_constraints, critical=True)
    for ext in extensions:
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(signer, hashes.SHA256())


def sha1_signed(cert: x509.Certificate, issuer_key: rsa.RSAPrivateKey) -> x509.Certificate:
    """``cert`` (signed sha256WithRSAEncryption by ``issuer_key``) signed again with SHA-1."""
    der = cert.public_bytes(serialization.Encoding.DER)
    if der.count(_SHA256_RSA) != 2:  # in the TBS and in the outer signatureAlgorithm
        raise ValueError("expected a certificate signed sha256WithRSAEncryption")
    der = der.replace(_SHA256_RSA, _SHA1_RSA)
    unsigned = x509.load_der_x509_certificate(der)
    signature = issuer_key.sign(unsigned.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    return x509.load_der_x509_certificate(der.replace(unsigned.signature, signature))


def key_pem(key: CertificateIssuerPrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _kept_rsa_key(path: Path, bits: int) -> rsa.RSAPrivateKey:
    """An RSA key kept at ``path`` (0600), made once: RSA keys are slow to generate."""
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if isinstance(key, rsa.RSAPrivateKey) and key.key_size == bits:
            return key
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    write_private(path, key_pem(key))
    return key


def _root_key(lab: LabPki) -> pki.PrivateKey:
    return pki.load_key(lab.paths.ca_key.read_bytes())


def rsa_issuing_ca(lab: LabPki, now: datetime) -> Leaf:
    """ "ssmlab RSA Issuing CA" (RSA-2048, issued by the lab root), kept under ``drills/``."""
    drills = lab.paths.root / "drills"
    cert_path = drills / "rsa-issuing-ca.pem"
    key = _kept_rsa_key(drills / "rsa-issuing-ca.key", 2048)
    if cert_path.exists():
        cert = pki.load_cert(cert_path.read_bytes())
        if (
            cert.public_key() == key.public_key()
            and pki.signature_matches(cert, lab.root)
            and cert.not_valid_after_utc - now > timedelta(days=30)
        ):
            return Leaf(cert, key)
    cert = certificate(
        subject=RSA_ISSUING_CN,
        key=key,
        issuer=lab.root.subject,
        signer=_root_key(lab),
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=1825),
        ca=True,
    )
    write_public(cert_path, pki.cert_pem(cert))
    return Leaf(cert, key)


def _ca(lab: LabPki, cn: str, now: datetime, days: tuple[int, int] = (-1, 1825), **kw: object) -> Leaf:
    """An issuing CA of a drill, issued by the lab root (EC: cheap, made at each switch)."""
    key = pki.new_key()
    cert = certificate(
        subject=cn,
        key=key,
        issuer=lab.root.subject,
        signer=_root_key(lab),
        not_before=now + timedelta(days=days[0]),
        not_after=now + timedelta(days=days[1]),
        ca=True,
        **kw,  # type: ignore[arg-type]
    )
    return Leaf(cert, key)


def _leaf(
    issuer: Leaf | pki.CertifiedKey,
    hosts: Sequence[str],
    now: datetime,
    *,
    key: CertificateIssuerPrivateKeyTypes | None = None,
    eku: Sequence[x509.ObjectIdentifier] = (ExtendedKeyUsageOID.SERVER_AUTH,),
    days: tuple[int, int] = (-1, 397),
) -> Leaf:
    key = key or pki.new_key()
    dns = [h for h in hosts if not is_ip(h)]
    cert = certificate(
        subject=dns[0] if dns else "ssmlab",
        key=key,
        issuer=issuer.cert.subject,
        signer=issuer.key,
        not_before=now + timedelta(days=days[0]),
        not_after=now + timedelta(days=days[1]),
        hosts=hosts,
        eku=eku,
    )
    return Leaf(cert, key)


def wildcards(hosts: Sequence[str], *, deeper: bool) -> list[str]:
    """Wildcard names for the lab's DNS hosts: one label above each (``*.cisco.com`` for
    smartreceiver.cisco.com), or, ``deeper``, one label below (``*.smartreceiver.cisco.com``),
    which never matches the host itself."""
    out: list[str] = []
    for host in hosts:
        if is_ip(host) or "." not in host:
            continue
        parent = host.partition(".")[2]
        name = f"*.{host}" if deeper else f"*.{parent}"
        if not deeper and "." not in parent:
            continue  # *.com: no verifier accepts a wildcard over a top-level domain
        if name not in out:
            out.append(name)
    return out


def wildcard(
    lab: LabPki, hosts: Sequence[str], now: datetime, *, deeper: bool
) -> tuple[Leaf, tuple[x509.Certificate, ...]]:
    return _leaf(lab.issuer, wildcards(hosts, deeper=deeper), now), (lab.issuer.cert,)


def sha1_signature(lab: LabPki, hosts: Sequence[str], now: datetime) -> tuple[Leaf, tuple[x509.Certificate, ...]]:
    ca = rsa_issuing_ca(lab, now)
    assert isinstance(ca.key, rsa.RSAPrivateKey)
    leaf = _leaf(ca, hosts, now)
    return Leaf(sha1_signed(leaf.cert, ca.key), leaf.key), (ca.cert,)


def weak_key(lab: LabPki, hosts: Sequence[str], now: datetime) -> tuple[Leaf, tuple[x509.Certificate, ...]]:
    key = _kept_rsa_key(lab.paths.root / "drills" / "weak-key.key", 1024)
    return _leaf(lab.issuer, hosts, now, key=key), (lab.issuer.cert,)


def wrong_eku(lab: LabPki, hosts: Sequence[str], now: datetime) -> tuple[Leaf, tuple[x509.Certificate, ...]]:
    return _leaf(lab.issuer, hosts, now, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,)), (lab.issuer.cert,)


def no_basic_constraints(lab: LabPki, hosts: Sequence[str], now: datetime) -> tuple[Leaf, tuple[x509.Certificate, ...]]:
    ca = _ca(lab, NO_BC_CN, now, basic_constraints=False)
    return _leaf(ca, hosts, now), (ca.cert,)


def name_constraints(lab: LabPki, hosts: Sequence[str], now: datetime) -> tuple[Leaf, tuple[x509.Certificate, ...]]:
    constraints = x509.NameConstraints(permitted_subtrees=[x509.DNSName(PERMITTED_DOMAIN)], excluded_subtrees=None)
    ca = _ca(lab, CONSTRAINED_CN, now, name_constraints=constraints)
    return _leaf(ca, hosts, now), (ca.cert,)


def expired_intermediate(lab: LabPki, hosts: Sequence[str], now: datetime) -> tuple[Leaf, tuple[x509.Certificate, ...]]:
    ca = _ca(lab, EXPIRED_CN, now, days=(-800, -1))
    return _leaf(ca, hosts, now, days=(-30, 367)), (ca.cert,)
