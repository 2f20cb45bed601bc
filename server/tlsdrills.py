"""The TLS drill catalog: what certificate chain the SSM serves in each mode.

Every mode is built from the lab PKI on demand, with real-time validity (OpenSSL checks it in the
handshake). Each drill says what it serves (leaf first) and ``offered``: the one CA certificate
an agent would import to trust it, which the lab plane publishes at ``/_lab/tls/ca.pem`` (as
software.cisco.com publishes Cisco's root for SSM On-Prem).

What a fix imports is kept on disk beside the lab PKI, so a fix applied once keeps working, also
after the SSM restarts:

    drills/untrusted-root-ca.pem|.key            "ssmlab Untrusted Root CA" (a root no agent holds)
    drills/untrusted-issuing-ca.pem|.key         its issuing CA
    drills/self-signed.pem|.key                  the self-signed drill's certificate (the fix imports
                                                 the certificate itself); made again only when the
                                                 lab's hosts change or it nears its end
    customer-ca.pem|.key                         "ssmlab Customer Root CA": the user's own CA
                                                 (replace both files with your own CA to use it)
    drills/rsa-issuing-ca.pem|.key               "ssmlab RSA Issuing CA" (RSA-2048: slow to make),
                                                 the SHA-1 drill's signer (server/drillcerts.py)
    drills/weak-key.key                          the weak-key drill's RSA-1024 key
    drills/revoked.pem|.key                      the revoked drill's certificate, on the lab CA's
                                                 CRL (crl.pem) and revoked by its OCSP responder
                                                 (server/revocation.py)

A drill may also change the handshake (``Handshake``: OpenSSL security level 0, TLS 1.0 only, a
demanded client certificate); ``server.tls`` applies it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from cryptography import x509

from server import drillcerts, revocation
from server.pki_files import LabPki, load_pair, write_private, write_public
from shared import pki


class DrillMode(StrEnum):
    GOOD = "good"
    WRONG_HOST = "wrong-host"
    IP_ONLY = "ip-only"
    CN_ONLY = "cn-only"
    EXPIRED = "expired"
    NOT_YET_VALID = "not-yet-valid"
    SELF_SIGNED = "self-signed"
    UNTRUSTED_ROOT = "untrusted-root"
    INCOMPLETE_CHAIN = "incomplete-chain"
    CUSTOMER_CA = "customer-ca"
    # the second catalog (issue 19): server/drillcerts.py builds their certificates
    WILDCARD = "wildcard"
    WILDCARD_MISMATCH = "wildcard-mismatch"
    SHA1_SIGNATURE = "sha1-signature"
    WEAK_KEY = "weak-key"
    TLS10_ONLY = "tls1.0-only"
    WRONG_EKU = "wrong-eku"
    NO_BASIC_CONSTRAINTS = "no-basic-constraints"
    NAME_CONSTRAINTS = "name-constraints"
    EXPIRED_INTERMEDIATE = "expired-intermediate"
    CLIENT_CERT_REQUIRED = "client-cert-required"
    REVOKED = "revoked"


WRONG_HOST = "wrong-host.ssmlab.example"

DESCRIPTIONS: dict[DrillMode, str] = {
    DrillMode.GOOD: "the lab certificate: every default host as a SAN, issued by the lab CA, full chain",
    DrillMode.WRONG_HOST: f"issued by the lab CA for {WRONG_HOST} only: no URL host of the agent matches",
    DrillMode.IP_ONLY: "IP address SANs only: a URL with a host name does not match",
    DrillMode.CN_ONLY: "no SAN at all, CN = the first host name: only that name matches, never an IP",
    DrillMode.EXPIRED: "validity ended yesterday (real time)",
    DrillMode.NOT_YET_VALID: "validity starts in 30 days (real time)",
    DrillMode.SELF_SIGNED: "a self-signed certificate: no CA vouches for it",
    DrillMode.UNTRUSTED_ROOT: "chain to 'ssmlab Untrusted Root CA', a root the agent does not hold",
    DrillMode.INCOMPLETE_CHAIN: "issued by the lab's issuing CA, sent without it (intermediate missing)",
    DrillMode.CUSTOMER_CA: "issued by your own CA (customer-ca.pem beside the lab PKI), sent with that root",
    DrillMode.WILDCARD: "a wildcard certificate, *.cisco.com, issued by the lab CA: covers smartreceiver.cisco.com",
    DrillMode.WILDCARD_MISMATCH: "*.smartreceiver.cisco.com: a wildcard one label too deep, never the bare name",
    DrillMode.SHA1_SIGNATURE: "signed with SHA-1 (sha1WithRSAEncryption) by 'ssmlab RSA Issuing CA' of the lab root",
    DrillMode.WEAK_KEY: "an RSA-1024 key (clients at OpenSSL security level 2 need 2048 bits)",
    DrillMode.TLS10_ONLY: "the good certificate, but the SSM speaks TLS 1.0 only (OpenSSL security level 0)",
    DrillMode.WRONG_EKU: "extendedKeyUsage clientAuth only: not a TLS server certificate",
    DrillMode.NO_BASIC_CONSTRAINTS: "issued by a CA certificate without basicConstraints CA:TRUE",
    DrillMode.NAME_CONSTRAINTS: "issued by a CA whose name constraints permit ssmlab.example only",
    DrillMode.EXPIRED_INTERMEDIATE: "the leaf is valid, the issuing CA sent with it expired yesterday (real time)",
    DrillMode.CLIENT_CERT_REQUIRED: "the good certificate, but the SSM demands a client certificate (mutual TLS)",
    DrillMode.REVOKED: "issued by the lab CA, on its CRL and answered 'revoked' by its OCSP responder (/_lab/pki)",
}

UNTRUSTED_ROOT_CN = "ssmlab Untrusted Root CA"
UNTRUSTED_ISSUING_CN = "ssmlab Untrusted Issuing CA"
CUSTOMER_ROOT_CN = "ssmlab Customer Root CA"


class ServedLeaf(Protocol):
    """A leaf certificate and its key (``pki.CertifiedKey``, or ``drillcerts.Leaf`` for RSA keys)."""

    @property
    def cert(self) -> x509.Certificate: ...

    def key_pem(self) -> bytes: ...


@dataclass(frozen=True, slots=True)
class Handshake:
    """How the SSM's TLS context serves a drill, beyond its certificate."""

    #: OpenSSL security level 0: needed to load a SHA-1 or RSA-1024 certificate, and for TLS 1.0.
    legacy: bool = False
    #: Speak TLS 1.0 only.
    tls10_only: bool = False
    #: Demand a client certificate issued under the lab root (mutual TLS).
    client_cert: bool = False


@dataclass(frozen=True, slots=True)
class Drill:
    mode: DrillMode
    leaf: ServedLeaf
    #: The certificates sent after the leaf.
    sent: tuple[x509.Certificate, ...]
    #: The CA certificate an agent imports to trust this chain.
    offered: x509.Certificate
    handshake: Handshake = Handshake()

    def chain_pem(self) -> bytes:
        return b"".join(pki.cert_pem(c) for c in (self.leaf.cert, *self.sent))


def load_or_create_ca(
    cert: Path, key: Path, common_name: str, *, now: datetime, issuer: pki.CertifiedKey | None = None
) -> pki.CertifiedKey:
    """A CA kept on disk (key 0600), created at first use for 10 years."""
    found = load_pair(cert, key)
    if found is not None:
        return found
    ca = pki.make_ca(
        common_name,
        issuer=issuer,
        path_length=0 if issuer else None,
        not_before=now - timedelta(days=1),
        not_after=now + timedelta(days=3650),
    )
    write_private(key, ca.key_pem())
    write_public(cert, ca.cert_pem())
    return ca


#: A kept self-signed certificate closer than this to its end is made again (as ``pki init`` does).
RENEW_BEFORE = timedelta(days=30)


def load_or_create_self_signed(cert: Path, key: Path, hosts: Sequence[str], *, now: datetime) -> pki.CertifiedKey:
    """The self-signed drill's certificate, kept on disk (key 0600): an agent that imported it (the
    drill's fix) trusts the same certificate after the SSM restarts. Made again when it does not
    name exactly ``hosts``, is not valid at real time ``now``, or ends within ``RENEW_BEFORE``."""
    found = load_pair(cert, key)
    if found is not None:
        dns, ips = pki.host_names(found.cert)
        valid = found.cert.not_valid_before_utc <= now and found.cert.not_valid_after_utc - now > RENEW_BEFORE
        if valid and set([*dns, *ips]) == set(hosts) and found.cert.issuer == found.cert.subject:
            return found
    leaf = pki.make_self_signed_server_cert(
        hosts=hosts, not_before=now - timedelta(days=1), not_after=now + timedelta(days=397)
    )
    write_private(key, leaf.key_pem())
    write_public(cert, leaf.cert_pem())
    return leaf


def lab_hosts(lab: LabPki) -> list[str]:
    """The hosts of the lab server certificate, DNS names first."""
    dns, ips = pki.host_names(lab.server.cert)
    return [*dns, *ips] or list(pki.DEFAULT_SERVER_HOSTS)


def _issued(
    issuer: pki.CertifiedKey,
    hosts: Sequence[str],
    now: datetime,
    *,
    days: tuple[int, int] = (-1, 397),
    include_san: bool = True,
) -> pki.CertifiedKey:
    return pki.make_server_cert(
        issuer,
        hosts=hosts,
        not_before=now + timedelta(days=days[0]),
        not_after=now + timedelta(days=days[1]),
        include_san=include_san,
    )


def build(mode: DrillMode, lab: LabPki, *, now: datetime) -> Drill:
    """The chain ``mode`` serves, built at real time ``now`` (CAs kept on disk are reused)."""
    hosts = lab_hosts(lab)
    dns, ips = pki.host_names(lab.server.cert)
    inter, root = lab.issuer, lab.root
    if mode is DrillMode.GOOD:
        return Drill(mode, lab.server, lab.server.chain, root)
    if mode is DrillMode.TLS10_ONLY:
        return Drill(mode, lab.server, lab.server.chain, root, Handshake(legacy=True, tls10_only=True))
    if mode is DrillMode.REVOKED:
        return _with_chain(mode, revocation.revoked_leaf(lab, hosts, now), root)
    if mode is DrillMode.CLIENT_CERT_REQUIRED:
        return Drill(mode, lab.server, lab.server.chain, root, Handshake(client_cert=True))
    if mode is DrillMode.WILDCARD or mode is DrillMode.WILDCARD_MISMATCH:
        wild, sent = drillcerts.wildcard(lab, hosts, now, deeper=mode is DrillMode.WILDCARD_MISMATCH)
        return Drill(mode, wild, sent, root)
    if (second := _SECOND.get(mode)) is not None:
        served, sent = second(lab, hosts, now)
        legacy = mode in (DrillMode.SHA1_SIGNATURE, DrillMode.WEAK_KEY)
        return Drill(mode, served, sent, root, Handshake(legacy=legacy))
    if mode is DrillMode.WRONG_HOST:
        return _with_chain(mode, _issued(inter, [WRONG_HOST], now), root)
    if mode is DrillMode.IP_ONLY:
        return _with_chain(mode, _issued(inter, ips or ["127.0.0.1"], now), root)
    if mode is DrillMode.CN_ONLY:
        return _with_chain(mode, _issued(inter, dns[:1] or ["ssmlab"], now, include_san=False), root)
    if mode is DrillMode.EXPIRED:
        return _with_chain(mode, _issued(inter, hosts, now, days=(-398, -1)), root)
    if mode is DrillMode.NOT_YET_VALID:
        return _with_chain(mode, _issued(inter, hosts, now, days=(30, 427)), root)
    if mode is DrillMode.SELF_SIGNED:
        drills = lab.paths.root / "drills"
        leaf = load_or_create_self_signed(drills / "self-signed.pem", drills / "self-signed.key", hosts, now=now)
        return Drill(mode, leaf, (), leaf.cert)
    if mode is DrillMode.INCOMPLETE_CHAIN:
        return Drill(mode, _issued(inter, hosts, now), (), inter.cert)
    folder = lab.paths.root
    if mode is DrillMode.UNTRUSTED_ROOT:
        drills = folder / "drills"
        uroot = load_or_create_ca(
            drills / "untrusted-root-ca.pem", drills / "untrusted-root-ca.key", UNTRUSTED_ROOT_CN, now=now
        )
        uinter = load_or_create_ca(
            drills / "untrusted-issuing-ca.pem",
            drills / "untrusted-issuing-ca.key",
            UNTRUSTED_ISSUING_CN,
            now=now,
            issuer=uroot,
        )
        return Drill(mode, _issued(uinter, hosts, now), (uinter.cert,), uroot.cert)
    customer = load_or_create_ca(folder / "customer-ca.pem", folder / "customer-ca.key", CUSTOMER_ROOT_CN, now=now)
    return Drill(mode, _issued(customer, hosts, now), (customer.cert,), customer.cert)


_SECOND = {
    DrillMode.SHA1_SIGNATURE: drillcerts.sha1_signature,
    DrillMode.WEAK_KEY: drillcerts.weak_key,
    DrillMode.WRONG_EKU: drillcerts.wrong_eku,
    DrillMode.NO_BASIC_CONSTRAINTS: drillcerts.no_basic_constraints,
    DrillMode.NAME_CONSTRAINTS: drillcerts.name_constraints,
    DrillMode.EXPIRED_INTERMEDIATE: drillcerts.expired_intermediate,
}


def _with_chain(mode: DrillMode, leaf: pki.CertifiedKey, root: x509.Certificate) -> Drill:
    return Drill(mode, leaf, leaf.chain, root)
