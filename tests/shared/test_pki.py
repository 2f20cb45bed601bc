"""The lab PKI: server chains for DNS and IP names, ID certificates from CSRs in domain time, CSR
checks and the Java truststore. Every key and certificate is generated here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared import javastore, pki
from shared.errors import CsrInvalid
from shared.pki import CertifiedKey, ChainError

NOT_BEFORE = datetime(2025, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2027, 1, 1, tzinfo=UTC)
AT = datetime(2026, 1, 1, tzinfo=UTC)
HOSTS = ("smartreceiver.cisco.com", "localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class Lab:
    root: CertifiedKey
    intermediate: CertifiedKey
    server: CertifiedKey


def make_lab(hosts: tuple[str, ...] = HOSTS) -> Lab:
    ca_end = datetime(2040, 1, 1, tzinfo=UTC)
    root = pki.make_ca("test root", not_before=NOT_BEFORE, not_after=ca_end)
    inter = pki.make_ca("test intermediate", issuer=root, path_length=0, not_before=NOT_BEFORE, not_after=ca_end)
    server = pki.make_server_cert(inter, hosts=hosts, not_before=NOT_BEFORE, not_after=NOT_AFTER)
    return Lab(root, inter, server)


@pytest.fixture(scope="module")
def lab() -> Lab:
    return make_lab()


# -- server chains -------------------------------------------------------------------------------


@pytest.mark.parametrize("host", HOSTS)
def test_server_chain_verifies_for_dns_and_ip_names(lab: Lab, host: str) -> None:
    """A leaf with DNS and IP SANs verifies for each name, giving leaf, intermediate, root."""
    chain = pki.verify_server_chain(lab.server.cert, lab.server.chain, [lab.root.cert], host=host, at=AT)
    assert chain == [lab.server.cert, lab.intermediate.cert, lab.root.cert]


def test_host_names_splits_dns_and_ip_sans(lab: Lab) -> None:
    """The SAN of the server certificate lists DNS names and IP addresses separately."""
    assert pki.host_names(lab.server.cert) == (["smartreceiver.cisco.com", "localhost"], ["127.0.0.1", "::1"])
    assert lab.server.chain == (lab.intermediate.cert,)


@pytest.mark.parametrize("host", ["tools.cisco.com", "evil.example.com", "10.0.0.1", "127.0.0.2", "::2"])
def test_server_chain_fails_for_a_wrong_host(lab: Lab, host: str) -> None:
    """A name or address the certificate does not cover is refused."""
    with pytest.raises(ChainError):
        pki.verify_server_chain(lab.server.cert, lab.server.chain, [lab.root.cert], host=host, at=AT)


def test_server_chain_fails_with_a_wrong_ca(lab: Lab) -> None:
    """A root that did not issue the chain is not trusted, even with the same name."""
    other = pki.make_ca("test root", not_before=NOT_BEFORE, not_after=NOT_AFTER)
    with pytest.raises(ChainError):
        pki.verify_server_chain(lab.server.cert, lab.server.chain, [other.cert], host="localhost", at=AT)


def test_server_chain_fails_without_its_intermediate(lab: Lab) -> None:
    """A server that omits its intermediate cannot be chained to the root."""
    with pytest.raises(ChainError):
        pki.verify_server_chain(lab.server.cert, [], [lab.root.cert], host="localhost", at=AT)


@pytest.mark.parametrize(
    "at", [NOT_AFTER + timedelta(seconds=1), NOT_AFTER + timedelta(days=365), NOT_BEFORE - timedelta(seconds=1)]
)
def test_server_chain_fails_outside_its_validity(lab: Lab, at: datetime) -> None:
    """At a time after not_after (or before not_before) the chain is refused."""
    with pytest.raises(ChainError):
        pki.verify_server_chain(lab.server.cert, lab.server.chain, [lab.root.cert], host="localhost", at=at)


def test_cn_only_certificate_fails_as_a_server_certificate(lab: Lab) -> None:
    """A certificate naming its host only in the CN (no SAN) is refused for that host."""
    cn_only = pki.make_server_cert(
        lab.intermediate, hosts=["localhost"], not_before=NOT_BEFORE, not_after=NOT_AFTER, include_san=False
    )
    assert pki.common_name(cn_only.cert) == "localhost"
    assert pki.host_names(cn_only.cert) == ([], [])
    with pytest.raises(ChainError):
        pki.verify_server_chain(cn_only.cert, cn_only.chain, [lab.root.cert], host="localhost", at=AT)


# -- ID certificates -----------------------------------------------------------------------------

DOMAIN_T = datetime(2031, 6, 15, 8, 30, tzinfo=UTC)  # far from real time: validity is domain time


def test_id_certificate_from_a_csr(lab: Lab) -> None:
    """The ID certificate carries the CSR's key, CN = piid, and is valid exactly [not_before, +validity]."""
    key = pki.new_key()
    csr = pki.load_csr(pki.make_csr(key, common_name="ucce-1", serial_number="SN-1"))
    validity = timedelta(days=365)
    cert = pki.issue_id_certificate(
        lab.intermediate, csr, piid="piid-42", serial_number="SN-1", not_before=DOMAIN_T, validity=validity
    )
    assert cert.not_valid_before_utc == DOMAIN_T
    assert cert.not_valid_after_utc == DOMAIN_T + validity
    assert pki.common_name(cert) == "piid-42"
    assert pki.public_key_id(cert.public_key()) == pki.public_key_id(key.public_key())  # type: ignore[arg-type]
    assert pki.signature_matches(cert, lab.intermediate.cert)
    assert not pki.signature_matches(cert, lab.root.cert)
    roots = [lab.root.cert]
    chain = pki.verify_client_chain(cert, [lab.intermediate.cert], roots, at=DOMAIN_T + validity - timedelta(days=1))
    assert chain[0] == cert
    with pytest.raises(ChainError):
        pki.verify_client_chain(cert, [lab.intermediate.cert], roots, at=DOMAIN_T + validity + timedelta(days=1))


def test_load_csr_accepts_text_and_bytes() -> None:
    """A valid P-256 CSR loads from PEM bytes or str, keeping its subject."""
    pem = pki.make_csr(pki.new_key(), common_name="ucce-1", serial_number="SN-1")
    for data in (pem, pem.decode()):
        csr = pki.load_csr(data)
        assert csr.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "ucce-1"


def _tampered_csr() -> bytes:
    pem = pki.make_csr(pki.new_key(), common_name="ucce-1", serial_number="SN-1")
    der = bytearray(x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01  # the last byte of the ECDSA signature's s
    return x509.load_der_x509_csr(bytes(der)).public_bytes(serialization.Encoding.PEM)


def _swapped_key_csr() -> bytes:
    """A CSR whose body carries one key but whose signature was made with another."""
    signed = x509.load_pem_x509_csr(pki.make_csr(pki.new_key(), common_name="a", serial_number="1"))
    other = x509.load_pem_x509_csr(pki.make_csr(pki.new_key(), common_name="a", serial_number="1"))
    body = other.tbs_certrequest_bytes
    der = signed.public_bytes(serialization.Encoding.DER)
    tail = der[der.index(signed.tbs_certrequest_bytes) + len(signed.tbs_certrequest_bytes) :]  # alg + signature
    content = body + tail
    n, size = len(content), (len(content).bit_length() + 7) // 8
    length = bytes([n]) if n < 0x80 else bytes([0x80 | size]) + n.to_bytes(size, "big")  # DER length
    return x509.load_der_x509_csr(b"\x30" + length + content).public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize("build", [_tampered_csr, _swapped_key_csr], ids=["flipped-signature", "swapped-key"])
def test_load_csr_rejects_a_signature_that_does_not_match(build: Callable[[], bytes]) -> None:
    """A CSR not signed by the key it carries is refused as csr_signature_invalid."""
    with pytest.raises(CsrInvalid) as caught:
        pki.load_csr(build())
    assert caught.value.code == "csr_signature_invalid"
    assert caught.value.http_status == 400


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
        b"\x30\x03\x02\x01\x00",
    ],
)
def test_load_csr_rejects_garbage(data: str | bytes) -> None:
    """Text that is not a PEM CSR is refused as csr_invalid."""
    with pytest.raises(CsrInvalid) as caught:
        pki.load_csr(data)
    assert caught.value.code == "csr_invalid"


def _csr_with(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "ucce-1")])
    csr = x509.CertificateSigningRequestBuilder().subject_name(name).sign(key, hashes.SHA256())
    return csr.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    "make_key",
    [
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048),
        lambda: ec.generate_private_key(ec.SECP384R1()),
    ],
    ids=["rsa-2048", "ec-p384"],
)
def test_load_csr_rejects_keys_other_than_p256(make_key: Callable[[], rsa.RSAPrivateKey]) -> None:
    """A correctly signed CSR with an RSA or non-P-256 key is refused as csr_key_unsupported."""
    with pytest.raises(CsrInvalid) as caught:
        pki.load_csr(_csr_with(make_key()))
    assert caught.value.code == "csr_key_unsupported"


# -- files ---------------------------------------------------------------------------------------


def test_java_truststore_round_trip(lab: Lab) -> None:
    """A truststore written with aliases reads back as the same (alias, certificate) entries."""
    entries = [("ssmlab-root", lab.root.cert), ("ssmlab-intermediate", lab.intermediate.cert)]
    data = javastore.java_truststore(entries, b"changeit")
    assert javastore.read_java_truststore(data, b"changeit") == entries
    with pytest.raises(ValueError, match="Invalid password"):
        javastore.read_java_truststore(data, b"wrong")


def test_pem_round_trips(lab: Lab) -> None:
    """Keys, certificates and bundles written as PEM load back as the same objects."""
    key = lab.server.key
    assert pki.load_key(pki.key_pem(key)).private_numbers() == key.private_numbers()
    assert pki.load_cert(lab.server.cert_pem()) == lab.server.cert
    der = lab.server.cert.public_bytes(serialization.Encoding.DER)
    assert pki.load_cert(der) == lab.server.cert
    assert pki.load_certs(lab.server.chain_pem()) == [lab.server.cert, lab.intermediate.cert]
    fp = pki.fingerprint(lab.server.cert)
    assert len(fp.split(":")) == 32 and fp == fp.upper()
