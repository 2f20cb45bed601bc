"""The agent's truststore: a PKCS12 ``cacerts`` (password ``changeit``) in its data directory.

It is the seed's ``<ICM install directory>\\ssl\\cacerts``: the file the keytool commands of
"Certificate Exchange for TLS" edit, and the one ``smart-agent trust import|list|remove`` edit.
At the first start it is seeded from ``transport.truststore`` of agent.toml (a PEM bundle, a DER
certificate, or a PKCS12 truststore). The transport reloads it whenever the file changes, so an
import (by either tool) applies to the next request without a restart.

Writes are atomic (a temporary file renamed over the old one): a crash loses nothing.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from shared import javastore, pki
from shared.errors import BadRequest, Conflict, NotFound, Unavailable
from shared.tlsdiag import TRUSTSTORE_PASSWORD, alias_for

PASSWORD = TRUSTSTORE_PASSWORD.encode()
ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Entry:
    alias: str
    cert: x509.Certificate

    def view(self) -> dict[str, object]:
        c = self.cert
        return {
            "alias": self.alias,
            "subject": c.subject.rfc4514_string(),
            "issuer": c.issuer.rfc4514_string(),
            "not_before": c.not_valid_before_utc.isoformat(),
            "not_after": c.not_valid_after_utc.isoformat(),
            "ca": _is_ca(c),
            "fingerprint": pki.fingerprint(c),
        }


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def read_entries(data: bytes) -> list[tuple[str | None, x509.Certificate]]:
    """(alias, certificate) of a PEM bundle, a DER certificate (no alias), or a PKCS12 truststore
    (password changeit; its aliases)."""
    if b"-----BEGIN" in data:
        return [(None, c) for c in x509.load_pem_x509_certificates(data)]
    try:
        return [(None, x509.load_der_x509_certificate(data))]
    except ValueError:
        return [(a, c) for a, c in javastore.read_java_truststore(data, PASSWORD)]


def read_certificates(data: bytes) -> list[x509.Certificate]:
    return [c for _, c in read_entries(data)]


class TrustStore:
    """``cacerts`` in the agent's data directory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def open(cls, path: Path, *, seed: Path) -> TrustStore:
        """The truststore at ``path``, created from ``seed`` at the first start."""
        store = cls(path)
        if not path.exists():
            try:
                found = read_entries(seed.read_bytes())
            except (OSError, ValueError) as exc:
                raise Unavailable(
                    f"cannot seed the truststore from {seed}: {exc}",
                    code="truststore_unreadable",
                    fix="create the lab PKI ('make certs') or point transport.truststore at a PEM or cacerts file",
                ) from None
            if not found:
                raise Unavailable(
                    f"{seed} holds no certificate to seed the truststore with",
                    code="truststore_unreadable",
                    fix="point transport.truststore at the SSM's CA certificate (PEM, DER or cacerts)",
                )
            entries: list[Entry] = []
            for name, cert in found:
                alias = base = name or alias_for(cert)
                n = 2
                while any(e.alias == alias for e in entries):
                    alias, n = f"{base}-{n}", n + 1
                entries.append(Entry(alias, cert))
            store._write(entries)
        return store

    def stamp(self) -> tuple[int, int, int]:
        """Changes whenever the file is rewritten (by the agent or by keytool)."""
        st = self.path.stat()
        return st.st_mtime_ns, st.st_size, st.st_ino

    def entries(self) -> list[Entry]:
        try:
            data = self.path.read_bytes()
            return [Entry(a, c) for a, c in javastore.read_java_truststore(data, PASSWORD)]
        except (OSError, ValueError) as exc:
            raise Unavailable(
                f"cannot read the truststore {self.path}: {exc}",
                code="truststore_unreadable",
                fix=f"check it with 'keytool -list -keystore {self.path} -storepass {TRUSTSTORE_PASSWORD}'; "
                "remove it to have it seeded again from transport.truststore at the next start",
            ) from None

    def roots(self) -> list[x509.Certificate]:
        return [e.cert for e in self.entries()]

    def pem(self) -> str:
        return "".join(pki.cert_pem(e.cert).decode() for e in self.entries())

    def add(self, alias: str, data: bytes) -> Entry:
        """Import one certificate (PEM or DER) under ``alias``; refused: an unreadable file, a bundle,
        an alias in use, a certificate already held."""
        if not ALIAS.match(alias):
            raise BadRequest(
                f"alias {alias!r} is not usable",
                code="alias_invalid",
                fix="use letters, digits, '.', '_' and '-' (at most 64), e.g. ssm-root-ca",
            )
        try:
            certs = read_certificates(data)
        except ValueError as exc:
            raise BadRequest(
                f"no certificate could be read ({exc})",
                code="certificate_unreadable",
                fix="give a certificate file, PEM ('-----BEGIN CERTIFICATE-----') or DER (.cer)",
            ) from None
        if len(certs) != 1:
            raise BadRequest(
                f"the file holds {len(certs)} certificates; import them one at a time",
                code="certificate_bundle",
                fix="split the bundle and import each certificate with its own alias",
            )
        cert = certs[0]
        entries = self.entries()
        for e in entries:
            if e.alias == alias:
                raise Conflict(
                    f"alias {alias!r} is already in the truststore ({e.cert.subject.rfc4514_string()})",
                    code="alias_exists",
                    fix=f"choose another alias, or 'smart-agent trust remove {alias}' first",
                )
            if pki.fingerprint(e.cert) == pki.fingerprint(cert):
                raise Conflict(
                    f"this certificate is already in the truststore under alias {e.alias!r}",
                    code="certificate_exists",
                    fix="nothing to do: it is trusted already",
                )
        entry = Entry(alias, cert)
        self._write([*entries, entry])
        return entry

    def remove(self, alias: str) -> Entry:
        entries = self.entries()
        found = next((e for e in entries if e.alias == alias), None)
        if found is None:
            raise NotFound(
                f"no alias {alias!r} in the truststore",
                code="alias_not_found",
                fix=f"'smart-agent trust list' shows the aliases: {', '.join(e.alias for e in entries) or 'none'}",
            )
        if len(entries) == 1:
            raise Conflict(
                f"{alias!r} is the last certificate of the truststore; without it the agent trusts no SSM",
                code="truststore_last_entry",
                fix="import the certificate that replaces it first, then remove this one",
            )
        self._write([e for e in entries if e.alias != alias])
        return found

    def _write(self, entries: list[Entry]) -> None:
        data = javastore.java_truststore([(e.alias, e.cert) for e in entries], PASSWORD)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".cacerts-", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)  # certificates only: no secret in a truststore
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
