"""The lab CA's revocation service (issue 19): a CRL and an OCSP responder for what the lab's
issuing CA issued, and the ``revoked`` drill's certificate they both call revoked.

- ``revoked_leaf``: a server certificate for the lab's hosts, kept beside the lab PKI
  (``drills/revoked.pem|.key``; its serial stays the same across restarts) and made again only
  when the issuing CA changes or it nears its end. It names where to ask: the CRL distribution
  point ``https://<first lab host>/_lab/pki/crl`` and the OCSP responder ``.../_lab/pki/ocsp``,
  both on the lab plane (the agent reaches that host as it reaches the SSM, through ``[resolve]``).
- ``crl``: signed by the issuing CA, listing that serial; also written to ``crl.pem`` beside the
  lab PKI for ``openssl verify -crl_check``.
- ``ocsp_answer``: a signed OCSP response (the ``cryptography`` builders): revoked for that serial,
  good for any other serial of the issuing CA, unauthorized for another issuer.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID

from server import drillcerts
from server.pki_files import LabPki, load_pair, write_private, write_public
from shared import pki
from shared.transportsettings import is_ip

CRL_PATH = "/_lab/pki/crl"
OCSP_PATH = "/_lab/pki/ocsp"
#: When the drill's certificate was revoked, relative to its start.
_REVOKED_AFTER = timedelta(hours=1)


def _base(hosts: list[str]) -> str:
    dns = [h for h in hosts if not is_ip(h)]
    return f"https://{dns[0] if dns else 'localhost'}"


def where(hosts: list[str]) -> list[x509.ExtensionType]:
    """The extensions naming the lab's CRL and OCSP responder."""
    base = _base(hosts)
    return [
        x509.CRLDistributionPoints(
            [x509.DistributionPoint([x509.UniformResourceIdentifier(base + CRL_PATH)], None, None, None)]
        ),
        x509.AuthorityInformationAccess(
            [
                x509.AccessDescription(
                    AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(base + OCSP_PATH)
                )
            ]
        ),
    ]


def revoked_leaf(lab: LabPki, hosts: list[str], now: datetime) -> pki.CertifiedKey:
    drills = lab.paths.root / "drills"
    cert_path, key_path = drills / "revoked.pem", drills / "revoked.key"
    found = load_pair(cert_path, key_path)
    if (
        found is not None
        and pki.signature_matches(found.cert, lab.issuer.cert)
        and found.cert.not_valid_after_utc - now > timedelta(days=30)
    ):
        return pki.CertifiedKey(found.cert, found.key, (lab.issuer.cert,))
    key = pki.new_key()
    dns = [h for h in hosts if not is_ip(h)]
    cert = drillcerts.certificate(
        subject=dns[0] if dns else "ssmlab",
        key=key,
        issuer=lab.issuer.cert.subject,
        signer=lab.issuer.key,
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=397),
        hosts=hosts,
        extensions=where(hosts),
    )
    write_private(key_path, pki.key_pem(key))
    write_public(cert_path, pki.cert_pem(cert))
    return pki.CertifiedKey(cert, key, (lab.issuer.cert,))


def _revoked(lab: LabPki) -> list[x509.Certificate]:
    """The certificates the lab CA has revoked: the revoked drill's, once made."""
    path = lab.paths.root / "drills" / "revoked.pem"
    if not path.exists():
        return []
    cert = pki.load_cert(path.read_bytes())
    return [cert] if pki.signature_matches(cert, lab.issuer.cert) else []


def crl(lab: LabPki, now: datetime) -> x509.CertificateRevocationList:
    """The issuing CA's CRL at real time ``now`` (next update in a day); also kept as ``crl.pem``."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(lab.issuer.cert.subject)
        .last_update(now - timedelta(minutes=5))
        .next_update(now + timedelta(days=1))
        .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
    )
    for cert in _revoked(lab):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(cert.serial_number)
            .revocation_date(cert.not_valid_before_utc + _REVOKED_AFTER)
            .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False)
            .build()
        )
    signed = builder.sign(lab.issuer.key, hashes.SHA256())
    write_public(lab.paths.root / "crl.pem", signed.public_bytes(serialization.Encoding.PEM))
    return signed


def ocsp_answer(lab: LabPki, request_der: bytes, now: datetime) -> bytes:
    """The DER OCSP response to ``request_der`` (malformed: a MALFORMED_REQUEST response)."""
    try:
        request = ocsp.load_der_ocsp_request(request_der)
    except ValueError:
        return ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST).public_bytes(
            serialization.Encoding.DER
        )
    issuer = lab.issuer.cert
    algorithm = request.hash_algorithm
    name_hash = _hash(algorithm, issuer.subject.public_bytes())
    key_hash = _hash(algorithm, _key_bits(issuer))
    if (request.issuer_name_hash, request.issuer_key_hash) != (name_hash, key_hash):
        return ocsp.OCSPResponseBuilder.build_unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(
            serialization.Encoding.DER
        )
    revoked = {c.serial_number: c for c in _revoked(lab)}
    hit = revoked.get(request.serial_number)
    builder = ocsp.OCSPResponseBuilder().add_response_by_hash(
        issuer_name_hash=name_hash,
        issuer_key_hash=key_hash,
        serial_number=request.serial_number,
        algorithm=algorithm,
        cert_status=ocsp.OCSPCertStatus.REVOKED if hit else ocsp.OCSPCertStatus.GOOD,
        this_update=now - timedelta(minutes=5),
        next_update=now + timedelta(hours=1),
        revocation_time=hit.not_valid_before_utc + _REVOKED_AFTER if hit else None,
        revocation_reason=x509.ReasonFlags.key_compromise if hit else None,
    )
    response = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, issuer).sign(lab.issuer.key, hashes.SHA256())
    return response.public_bytes(serialization.Encoding.DER)


def _hash(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize()


def _key_bits(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING contents (what an OCSP CertID hashes)."""
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):  # the lab's issuing CA is EC P-256
        raise TypeError("the lab's issuing CA has an EC key")
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
