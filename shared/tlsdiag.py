"""What is wrong with the certificate chain an SSM serves for a URL, and how to fix it.

``assess`` takes the chain as served (leaf first, fetched without verification), the agent's
truststore, the real time (TLS validity is transport time) and the URL, and judges in order:

0. the handshake                          tls_protocol_too_old, tls_client_cert_required
1. validity of every served certificate   tls_cert_expired, tls_cert_not_yet_valid, tls_ca_expired
2. trust: does the chain lead to a certificate of the truststore?
                                          tls_weak_signature (a served certificate signed with
                                          SHA-1 or MD5, which OpenSSL refuses: "CA signature
                                          digest algorithm too weak"), the profile refusals of
                                          ``shared.tlsprofile`` (weak key, issuer not a CA, name
                                          constraints, wrong EKU), tls_self_signed,
                                          tls_chain_incomplete, tls_untrusted_root, tls_chain_invalid
3. the URL host against the leaf          tls_wildcard_mismatch, the codes of ``shared.hostmatch``
4. the whole chain with ``pki.verify_server_chain`` (RFC 5280 / WebPKI), when 1-3 passed

Each failure is a ``Finding``: a stable code, a message naming the certificate, and a fix a
person can run (``smart-agent trust import``, the keytool command of the seed, a URL to set, or
what to change on the SSM: for the lab, ``ssm-server tls --url URL set good`` naming the SSM the
agent reached), plus ``fix_kind``/``fix_arg`` for programs.

Pure: no IO; the caller passes ``now`` and the files it saved certificates to.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm

from shared import pki, tlsprofile
from shared.hostmatch import CertNames, MatchedBy, explain_mismatch, match_host
from shared.tlsfinding import Finding, FixKind, lab_mode
from shared.tlsfinding import cn as _cn
from shared.tlsfinding import when as _when
from shared.transportsettings import DeviceUrl

__all__ = ["Assessment", "CertInfo", "Finding", "FixKind", "TrustHints", "alias_for", "assess"]

TRUSTSTORE_PASSWORD = "changeit"  # noqa: S105 - the seed's (and Java's) well-known truststore password
#: A certificate expiring sooner than this is worth a warning.
EXPIRY_WARNING = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class CertInfo:
    """One certificate of the chain as served, as the diagnosis shows it."""

    subject: str
    issuer: str
    names: str
    not_before: datetime
    not_after: datetime
    fingerprint: str
    self_signed: bool

    @classmethod
    def of(cls, cert: x509.Certificate) -> CertInfo:
        return cls(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            names=CertNames.of(cert).describe(),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
            fingerprint=pki.fingerprint(cert),
            self_signed=is_self_signed(cert),
        )


@dataclass(frozen=True, slots=True)
class TrustHints:
    """Where the agent keeps its truststore, and files holding certificates it may import."""

    cacerts: str
    #: SHA-256 fingerprint (as ``pki.fingerprint``) -> a file holding that certificate.
    saved: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Assessment:
    chain: list[CertInfo]
    validity: Finding | None
    trust: Finding | None
    host: Finding | None
    matched_by: MatchedBy | None
    anchor: str | None
    warnings: list[Finding]
    #: What the handshake itself refused (an old protocol, a demanded client certificate).
    handshake: Finding | None = None

    @property
    def failure(self) -> Finding | None:
        return self.handshake or self.validity or self.trust or self.host


def is_self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject and pki.signature_matches(cert, cert)


def is_self_issued(cert: x509.Certificate) -> bool:
    """Its issuer is its subject (a root, or a self-signed leaf), whatever signed it."""
    return cert.issuer == cert.subject


def alias_for(cert: x509.Certificate) -> str:
    """A truststore alias from a certificate's CN: ``ssmlab Issuing CA`` -> ``ssmlab-issuing-ca``."""
    name = pki.common_name(cert) or cert.subject.rfc4514_string()
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "ssm-ca"


def is_pinned(leaf: x509.Certificate, roots: Sequence[x509.Certificate]) -> bool:
    """The truststore holds the SSM's own certificate (a trusted certificate entry, as Java has)."""
    return pki.fingerprint(leaf) in {pki.fingerprint(r) for r in roots}


#: Signature digests OpenSSL refuses in a chain at its default security level, as people write them.
WEAK_DIGESTS = {"md5": "MD5", "sha1": "SHA-1"}


def ssm_lab_url(url: DeviceUrl, peer: tuple[str, int] | None) -> str:
    """The SSM the lab's ``ssm-server tls --url`` reaches: the address the agent connected to
    (after [resolve]), else, through a proxy, the URL's host and port."""
    host, port = peer or (url.host, url.port)
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def _good(ssm: str) -> str:
    """The lab's command that makes the SSM serve its good certificate again."""
    return lab_mode(ssm)


def _digest(cert: x509.Certificate) -> str | None:
    """The name of the digest ``cert`` is signed with (None: unknown, or none, as Ed25519)."""
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return None
    return algorithm.name if algorithm is not None else None


def _weak(served: Sequence[x509.Certificate], ssm: str) -> Finding | None:
    """A served certificate signed with a digest TLS libraries refuse (a self-signature aside:
    nothing checks a root's own)."""
    for i, cert in enumerate(served):
        digest = _digest(cert)
        if digest is None or digest not in WEAK_DIGESTS or is_self_issued(cert):
            continue
        which = "the SSM's certificate" if i == 0 else f"the CA certificate {_cn(cert)} the SSM sent"
        return Finding(
            "tls_weak_signature",
            f"{which} {_cn(cert)} is signed with {WEAK_DIGESTS[digest]}, a digest too weak to be trusted "
            "(OpenSSL: 'CA signature digest algorithm too weak')",
            f"reissue it signed with SHA-256 by its CA (lab: {_good(ssm)})",
            FixKind.SSM_CERTIFICATE,
            "good",
        )
    return None


def _validity(served: Sequence[x509.Certificate], now: datetime, ssm: str) -> Finding | None:
    for i, cert in enumerate(served):
        which = "the SSM's certificate" if i == 0 else f"the CA certificate {_cn(cert)} the SSM sent"
        start, end = cert.not_valid_before_utc, cert.not_valid_after_utc
        span = f"valid {_when(start)} to {_when(end)}; real time here is {_when(now)}"
        clocks = (
            "check the real clocks of the SSM and of this machine (date -u): TLS validity is real time, "
            "which the lab's domain clock (ssmlab clock) never changes"
        )
        if now > end and i > 0:
            return Finding(
                "tls_ca_expired",
                f"{which} expired on {_when(end)}: the SSM's certificate is issued by a CA whose validity "
                f"has ended ({span}), and no client accepts a chain through an expired CA",
                f"have the SSM's certificate issued under a current issuing CA and send that CA with it "
                f"(lab: {_good(ssm)}); if the CA should still be valid, {clocks}",
                FixKind.SSM_CERTIFICATE,
                "good",
            )
        if now > end:
            return Finding(
                "tls_cert_expired",
                f"{which} {_cn(cert)} expired on {_when(end)} ({span})",
                f"renew the SSM's TLS certificate (lab: {_good(ssm)}); if it should still be valid, {clocks}",
                FixKind.SSM_CERTIFICATE,
                "good",
            )
        if now < start:
            return Finding(
                "tls_cert_not_yet_valid",
                f"{which} {_cn(cert)} is not valid before {_when(start)} ({span})",
                f"reissue the SSM's certificate with a start date in the past (lab: {_good(ssm)}); "
                f"if its dates look right, this machine's clock may be behind: {clocks}",
                FixKind.SSM_CERTIFICATE,
                "good",
            )
    return None


def _import(cert: x509.Certificate, hints: TrustHints, what: str, server_side: str = "") -> tuple[str, FixKind, str]:
    """The fix that imports ``cert`` (when the caller saved it to a file), else how to get it."""
    alias = alias_for(cert)
    path = hints.saved.get(pki.fingerprint(cert))
    tail = f"; or {server_side}" if server_side else ""
    if path is None:
        return (
            f"get the certificate of {what} {_cn(cert)} (SHA-256 {pki.fingerprint(cert)}) and import it: "
            f"smart-agent trust import FILE --alias {alias}{tail}",
            FixKind.SSM_CERTIFICATE if server_side else FixKind.TRUST_IMPORT,
            "good" if server_side else "",
        )
    keytool = (
        f"keytool -keystore {hints.cacerts} -trustcacerts -import -file {path} -alias {alias} "
        f"-storepass {TRUSTSTORE_PASSWORD} -noprompt"
    )
    return (
        f"import {what} {_cn(cert)} (saved to {path}; SHA-256 {pki.fingerprint(cert)}): "
        f"smart-agent trust import {path} --alias {alias} (or: {keytool}){tail}",
        FixKind.TRUST_IMPORT,
        path,
    )


def _issuer_of(cert: x509.Certificate, pool: Sequence[x509.Certificate]) -> x509.Certificate | None:
    return next((c for c in pool if c.subject == cert.issuer and pki.signature_matches(cert, c)), None)


def _trust(
    served: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    now: datetime,
    hints: TrustHints,
    offered: Sequence[x509.Certificate],
    ssm: str,
) -> tuple[Finding | None, str | None]:
    """(the trust failure or None, the truststore certificate the chain leads to)."""
    leaf = served[0]
    if is_pinned(leaf, roots):
        return None, _cn(leaf)
    if (weak := _weak(served, ssm) or tlsprofile.chain_profile(served, ssm)) is not None:
        return weak, None
    if is_self_signed(leaf):
        text, kind, arg = _import(leaf, hints, "the SSM's own certificate")
        return Finding(
            "tls_self_signed",
            f"the SSM presented a self-signed certificate {_cn(leaf)}, which the truststore ({hints.cacerts}) "
            "does not hold",
            f"{text}; better, give the SSM a certificate issued by a CA the truststore holds",
            kind,
            arg,
        ), None
    try:
        chain = pki.verify_issuance(leaf, served[1:], roots, at=now)
        return None, _cn(chain[-1])
    except pki.ChainError as exc:
        reason = exc.reason
    top = leaf
    while (nxt := _issuer_of(top, [c for c in served[1:] if c is not top])) is not None and nxt is not top:
        top = nxt
        if is_self_signed(top):
            break
    if _issuer_of(top, roots) is not None:
        return Finding(
            "tls_chain_invalid",
            f"the SSM's chain leads to a trusted CA but does not verify: {reason}",
            f"reissue the SSM's certificate with the usual server extensions (lab: {_good(ssm)})",
            FixKind.SSM_CERTIFICATE,
            "good",
        ), None
    issuer_name = top.issuer.rfc4514_string()
    candidate = top if is_self_signed(top) else _issuer_of(top, offered)
    if top is leaf:
        server_side = f"better, make the SSM send its intermediate with its certificate (lab: {_good(ssm)})"
        message = (
            f"the SSM sent its certificate without the CA that issued it ('{issuer_name}'), and the truststore "
            f"({hints.cacerts}) does not hold that CA: the chain is incomplete"
        )
        if candidate is None:
            return Finding(
                "tls_chain_incomplete", message, server_side[len("better, ") :], FixKind.SSM_CERTIFICATE, "good"
            ), None
        text, kind, arg = _import(candidate, hints, "the issuing CA", server_side)
        return Finding("tls_chain_incomplete", message, text, kind, arg), None
    message = f"the SSM's chain leads to '{issuer_name}', a CA the truststore ({hints.cacerts}) does not hold" + (
        " (the SSM sent that root too; sending it does not make it trusted)" if candidate is top else ""
    )
    what = "the root CA"
    whose = " (your own CA if the SSM uses certificates of your CA, else the root its vendor publishes)"
    if candidate is None:
        return Finding(
            "tls_untrusted_root",
            message,
            f"get the certificate of '{issuer_name}'{whose} and import it: smart-agent trust import FILE "
            f"--alias ALIAS (or keytool -keystore {hints.cacerts} -trustcacerts -import -file FILE -alias ALIAS "
            f"-storepass {TRUSTSTORE_PASSWORD})",
            FixKind.TRUST_IMPORT,
            "",
        ), None
    text, kind, arg = _import(candidate, hints, what)
    return Finding(
        "tls_untrusted_root", message, f"check that it is a CA you trust{whose}, then {text}", kind, arg
    ), None


def assess(
    url: DeviceUrl,
    served: Sequence[x509.Certificate],
    roots: Sequence[x509.Certificate],
    *,
    now: datetime,
    hints: TrustHints,
    peer: tuple[str, int] | None = None,
    resolve: Mapping[str, str] | None = None,
    offered: Sequence[x509.Certificate] = (),
    tls_version: str = "",
    client_cert_required: bool = False,
) -> Assessment:
    """Judge the chain ``served`` (leaf first) for ``url`` at real time ``now``.

    ``offered`` are CA certificates the SSM publishes (the lab's ``/_lab/tls/ca.pem``); one that
    issued the chain is what a trust fix imports. ``peer`` is the address actually reached.
    ``tls_version`` is the protocol the SSM spoke to a probe that accepts any; ``client_cert_required``
    that it ended the connection for want of a client certificate.
    """
    if not served:
        raise ValueError("assess needs the served chain (at least the leaf)")
    leaf = served[0]
    ssm = ssm_lab_url(url, peer)
    validity = _validity(served, now, ssm)
    # Trust is judged apart from the dates (step 1 reports those): inside the chain's common window.
    trust_time = now if validity is None else max(c.not_valid_before_utc for c in served)
    trust, anchor = _trust(served, roots, trust_time, hints, offered, ssm)
    names = CertNames.of(leaf)
    matched = match_host(url.host, names)
    host: Finding | None = None
    if matched is None:
        host = tlsprofile.wildcard_mismatch(url.host, names.dns, ssm)
    if matched is None and host is None:
        mismatch = explain_mismatch(url, names, peer=peer, resolve=resolve)
        host = Finding(
            mismatch.code,
            mismatch.message,
            mismatch.fix,
            FixKind.SET_URL if mismatch.url else FixKind.SSM_CERTIFICATE,
            mismatch.url or "good",
        )
    warnings: list[Finding] = []
    if matched is MatchedBy.CN:
        warnings.append(
            Finding(
                "tls_cn_only_match",
                f"{url.host} matched the certificate's CN: it has no SAN. Java and OpenSSL accept this; "
                "browsers and strict clients do not",
                f"reissue the SSM certificate with SAN DNS:{url.host}",
            )
        )
    if validity is None and leaf.not_valid_after_utc - now < EXPIRY_WARNING:
        warnings.append(
            Finding(
                "tls_cert_expiring",
                f"the SSM's certificate expires on {_when(leaf.not_valid_after_utc)}",
                "renew it before then",
            )
        )
    checked = validity is None and trust is None and host is None
    if checked and matched is not MatchedBy.CN and not is_pinned(leaf, roots):
        try:  # the verifier has the last word on everything the steps above did not look at
            pki.verify_server_chain(leaf, served[1:], roots, host=url.host, at=now)
        except pki.ChainError as exc:
            trust = Finding(
                "tls_chain_invalid",
                f"the SSM's chain does not verify: {exc.reason}",
                f"reissue the SSM's certificate with the usual server extensions (lab: {_good(ssm)})",
                FixKind.SSM_CERTIFICATE,
                "good",
            )
    handshake = tlsprofile.protocol(tls_version, ssm)
    if handshake is None and client_cert_required:
        handshake = tlsprofile.client_cert_required(ssm)
    return Assessment(
        handshake=handshake,
        chain=[CertInfo.of(c) for c in served],
        validity=validity,
        trust=trust,
        host=host,
        matched_by=matched,
        anchor=anchor,
        warnings=warnings,
    )
