"""The lab PKI on disk: ``ssm-server pki init`` writes it, ``ssm-server run`` reads it.

Files under the output folder (private keys mode 0600, everything git-ignored)::

    ca.pem            lab root CA (what the agent trusts)
    ca.key            its key
    intermediate.pem  "ssmlab Issuing CA": issues the server, signing and ID certificates
    intermediate.key
    server.pem        SSM TLS certificate followed by the intermediate (the chain served)
    server.key
    signing.pem       SSM response-signing certificate followed by the intermediate
    signing.key
    truststore.pem    the agent truststore as a PEM bundle (the root CA)
    cacerts           the same as a PKCS12 Java truststore, password "changeit"

TLS certificates carry real-time validity (OpenSSL checks them in the handshake); ID
certificates, issued later by the running SSM, carry domain-time validity.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509

from shared import javastore, pki
from shared.clock import real_now

TRUSTSTORE_PASSWORD = b"changeit"
ROOT_ALIAS = "ssmlab-root-ca"
ROOT_CN = "ssmlab Lab Root CA"
INTERMEDIATE_CN = "ssmlab Issuing CA"
SIGNING_CN = pki.SIGNING_CN


@dataclass(frozen=True)
class PkiPaths:
    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def intermediate_cert(self) -> Path:
        return self.root / "intermediate.pem"

    @property
    def intermediate_key(self) -> Path:
        return self.root / "intermediate.key"

    @property
    def server_cert(self) -> Path:
        return self.root / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.root / "server.key"

    @property
    def signing_cert(self) -> Path:
        return self.root / "signing.pem"

    @property
    def signing_key(self) -> Path:
        return self.root / "signing.key"

    @property
    def truststore_pem(self) -> Path:
        return self.root / "truststore.pem"

    @property
    def truststore_p12(self) -> Path:
        return self.root / "cacerts"


def write_private(path: Path, data: bytes) -> None:
    """Write a secret file readable by its owner only (0600), even if it existed before."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def write_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def load_pair(cert: Path, key: Path) -> pki.CertifiedKey | None:
    if not (cert.exists() and key.exists()):
        return None
    certs = pki.load_certs(cert.read_bytes())
    return pki.CertifiedKey(certs[0], pki.load_key(key.read_bytes()), tuple(certs[1:]))


@dataclass(frozen=True)
class LabPki:
    """The PKI material a running SSM needs."""

    root: x509.Certificate
    issuer: pki.CertifiedKey  # the intermediate
    server: pki.CertifiedKey
    signing: pki.CertifiedKey
    paths: PkiPaths

    def fingerprints(self) -> dict[str, str]:
        return {
            "root": pki.fingerprint(self.root),
            "intermediate": pki.fingerprint(self.issuer.cert),
            "server": pki.fingerprint(self.server.cert),
            "signing": pki.fingerprint(self.signing.cert),
        }


class PkiMissing(Exception):
    """The lab PKI has not been created (or is incomplete) in the given folder."""


def load_lab_pki(folder: Path) -> LabPki:
    """Read the lab PKI written by ``pki init``.

    Raises:
        PkiMissing: naming the missing file and the command that creates it.
    """
    paths = PkiPaths(folder)
    for p in (
        paths.ca_cert,
        paths.intermediate_cert,
        paths.intermediate_key,
        paths.server_cert,
        paths.server_key,
        paths.signing_cert,
        paths.signing_key,
    ):
        if not p.exists():
            raise PkiMissing(f"{p} is missing; create the lab PKI with 'ssm-server pki init --out {folder}'")
    root = pki.load_cert(paths.ca_cert.read_bytes())
    issuer = load_pair(paths.intermediate_cert, paths.intermediate_key)
    server = load_pair(paths.server_cert, paths.server_key)
    signing = load_pair(paths.signing_cert, paths.signing_key)
    assert issuer and server and signing
    return LabPki(root, pki.CertifiedKey(issuer.cert, issuer.key, ()), server, signing, paths)


@dataclass(frozen=True)
class InitReport:
    lines: list[tuple[str, str]]  # (file, what happened)

    def render(self) -> str:
        width = max(len(f) for f, _ in self.lines)
        return "\n".join(f"  {f.ljust(width)}  {what}" for f, what in self.lines)


def init_lab_pki(
    folder: Path, *, hosts: Sequence[str] = (), now: datetime | None = None, generation: str = ""
) -> InitReport:
    """Create what is missing of the lab PKI in ``folder``; keep what is valid (idempotent).

    The server certificate is reissued when it lacks a requested host, expires within 30 days,
    or was not issued by the current intermediate. Hosts it already had are kept. ``generation``
    ("G2") names the CAs of a rollover's new PKI ("ssmlab Lab Root CA G2", ``server.rollover``).
    """
    root_cn = f"{ROOT_CN} {generation}".strip()
    intermediate_cn = f"{INTERMEDIATE_CN} {generation}".strip()
    now = now or real_now()
    paths = PkiPaths(folder)
    folder.mkdir(parents=True, exist_ok=True)
    report: list[tuple[str, str]] = []
    start = now - timedelta(days=1)  # tolerate small clock differences between machines

    root = load_pair(paths.ca_cert, paths.ca_key)
    if root is None:
        root = pki.make_ca(root_cn, not_before=start, not_after=now + timedelta(days=3650))
        write_public(paths.ca_cert, root.cert_pem())
        write_private(paths.ca_key, root.key_pem())
        report.append((str(paths.ca_cert), "created (lab root CA, 10 years)"))
    else:
        os.chmod(paths.ca_key, 0o600)
        report.append((str(paths.ca_cert), "kept"))

    inter = load_pair(paths.intermediate_cert, paths.intermediate_key)
    if inter is None or not pki.signature_matches(inter.cert, root.cert):
        inter = pki.make_ca(
            intermediate_cn,
            issuer=root,
            path_length=0,
            not_before=start,
            not_after=now + timedelta(days=1825),
        )
        write_public(paths.intermediate_cert, inter.cert_pem())
        write_private(paths.intermediate_key, inter.key_pem())
        report.append((str(paths.intermediate_cert), "created (issuing CA, 5 years)"))
        reissue_all = True
    else:
        os.chmod(paths.intermediate_key, 0o600)
        report.append((str(paths.intermediate_cert), "kept"))
        reissue_all = False

    wanted = list(dict.fromkeys([*pki.DEFAULT_SERVER_HOSTS, *hosts]))
    server = load_pair(paths.server_cert, paths.server_key)
    reason = None
    if server is None:
        reason = "created"
    else:
        dns, ips = pki.host_names(server.cert)
        have = [*dns, *ips]
        wanted = list(dict.fromkeys([*wanted, *have]))
        if reissue_all or not pki.signature_matches(server.cert, inter.cert):
            reason = "reissued (new issuing CA)"
        elif missing := [h for h in wanted if h not in have]:
            reason = f"reissued (added {', '.join(missing)})"
        elif server.cert.not_valid_after_utc - now < timedelta(days=30):
            reason = "reissued (was about to expire)"
    if reason:
        server = pki.make_server_cert(inter, hosts=wanted, not_before=start, not_after=now + timedelta(days=397))
        write_public(paths.server_cert, server.chain_pem())
        write_private(paths.server_key, server.key_pem())
        report.append((str(paths.server_cert), f"{reason}; SANs: {', '.join(wanted)}"))
    else:
        os.chmod(paths.server_key, 0o600)
        report.append((str(paths.server_cert), "kept"))

    signing = load_pair(paths.signing_cert, paths.signing_key)
    if signing is None or reissue_all or not pki.signature_matches(signing.cert, inter.cert):
        signing = pki.make_signing_cert(
            inter, common_name=SIGNING_CN, not_before=start, not_after=now + timedelta(days=1825)
        )
        write_public(paths.signing_cert, signing.chain_pem())
        write_private(paths.signing_key, signing.key_pem())
        report.append((str(paths.signing_cert), "created (response signing, ES256)"))
    else:
        os.chmod(paths.signing_key, 0o600)
        report.append((str(paths.signing_cert), "kept"))

    write_public(paths.truststore_pem, root.cert_pem())
    write_public(paths.truststore_p12, javastore.java_truststore([(ROOT_ALIAS, root.cert)], TRUSTSTORE_PASSWORD))
    report.append((str(paths.truststore_pem), "written (agent truststore, PEM)"))
    report.append((str(paths.truststore_p12), "written (PKCS12 truststore, password 'changeit')"))
    return InitReport(report)
