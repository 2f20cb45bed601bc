"""Java truststores: the PKCS12 ``cacerts`` a Java product (and ``keytool``) reads. Pure: bytes in, bytes out."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from shared.pki import fingerprint


def java_truststore(certs: Sequence[tuple[str, x509.Certificate]], password: bytes) -> bytes:
    """A PKCS12 truststore (Java ``cacerts`` style) that ``keytool -list`` reads."""
    entries = [pkcs12.PKCS12Certificate(cert, alias.encode()) for alias, cert in certs]
    return pkcs12.serialize_java_truststore(entries, serialization.BestAvailableEncryption(password))


def read_java_truststore(data: bytes, password: bytes) -> list[tuple[str, x509.Certificate]]:
    """The (alias, certificate) entries of a PKCS12 truststore."""
    store = pkcs12.load_pkcs12(data, password)
    out = []
    for entry in store.additional_certs:
        alias = entry.friendly_name.decode() if entry.friendly_name else fingerprint(entry.certificate)
        out.append((alias, entry.certificate))
    return out
