"""What TLS clients refuse in a chain that does lead to a trusted root, and in the handshake
itself, each named with its real cause (issue 19) rather than "the chain does not verify":

    tls_weak_key              a served certificate's key under 2048 bits RSA (or 224 bits EC):
                              OpenSSL security level 2 (Python, curl, current Java) refuses it
    tls_issuer_not_ca         a certificate the SSM sent issued the next one but is not a CA
                              (no basicConstraints CA:TRUE)
    tls_name_constraints      a CA the SSM sent may not issue for the SSM's names
    tls_wrong_eku             the SSM's certificate is not for TLS servers (no serverAuth EKU)
    tls_wildcard_mismatch     a wildcard SAN of the right domain that does not cover the URL host
    tls_protocol_too_old      the SSM speaks only TLS 1.0 or 1.1 (or SSL 3)
    tls_client_cert_required  the SSM demands a client certificate (mutual TLS)

Pure: no IO. The fixes are on the SSM's side; for the lab, a drill mode that works.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from shared import pki
from shared.tlsfinding import Finding, cn, ssm_side, which

#: Below these sizes OpenSSL security level 2 (112 bits) refuses a key.
MIN_RSA_BITS = 2048
MIN_EC_BITS = 224
#: Protocols no current client speaks.
OLD_PROTOCOLS = ("SSLv3", "TLSv1", "TLSv1.1")


def _key_size(cert: x509.Certificate) -> tuple[str, int, int] | None:
    """(algorithm, bits, the least level-2 size) of a weak key, else None."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        return "RSA", key.key_size, MIN_RSA_BITS
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size < MIN_EC_BITS:
        return "EC", key.curve.key_size, MIN_EC_BITS
    return None


def weak_key(served: Sequence[x509.Certificate], ssm: str) -> Finding | None:
    for i, cert in enumerate(served):
        if (weak := _key_size(cert)) is None:
            continue
        algorithm, bits, least = weak
        return ssm_side(
            "tls_weak_key",
            f"{which(i, cert)} {cn(cert)} has a {bits}-bit {algorithm} key; TLS clients at OpenSSL security "
            f"level 2 (Python, curl, current Java) refuse keys under {least} bits "
            f"(OpenSSL: '{'EE' if i == 0 else 'CA'} certificate key too weak')",
            f"reissue it with an RSA key of {MIN_RSA_BITS} bits or more, or an EC P-256 key",
            ssm,
        )
    return None


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def issuer_not_ca(served: Sequence[x509.Certificate], ssm: str) -> Finding | None:
    for child, issuer in itertools.pairwise(served):
        if child.issuer != issuer.subject or not pki.signature_matches(child, issuer) or _is_ca(issuer):
            continue
        return ssm_side(
            "tls_issuer_not_ca",
            f"the certificate {cn(issuer)} the SSM sent issued {cn(child)} but is not a CA: it lacks "
            "basicConstraints CA:TRUE, so no client accepts what it signs "
            "(OpenSSL: 'unsuitable certificate purpose' for the CA)",
            "have the SSM's certificate issued by a real CA certificate (basicConstraints CA:TRUE, critical; "
            "keyUsage keyCertSign), and send that CA with it",
            ssm,
        )
    return None


def _within(name: str, base: str) -> bool:
    """RFC 5280 dNSName constraint: ``base`` and the names below it."""
    name, base = name.lower().rstrip(".").removeprefix("*."), base.lower().rstrip(".")
    if not base:
        return True
    if base.startswith("."):
        return name.endswith(base)
    return name == base or name.endswith("." + base)


def name_constraints(served: Sequence[x509.Certificate], ssm: str) -> Finding | None:
    dns, _ = pki.host_names(served[0])
    for ca in served[1:]:
        try:
            nc = ca.extensions.get_extension_for_class(x509.NameConstraints).value
        except x509.ExtensionNotFound:
            continue
        permitted = [str(g.value) for g in nc.permitted_subtrees or () if isinstance(g, x509.DNSName)]
        excluded = [str(g.value) for g in nc.excluded_subtrees or () if isinstance(g, x509.DNSName)]
        outside = [
            n
            for n in dns
            if (permitted and not any(_within(n, b) for b in permitted)) or any(_within(n, b) for b in excluded)
        ]
        if not outside:
            continue
        limits = ", ".join([*(f"permitted {b}" for b in permitted), *(f"excluded {b}" for b in excluded)])
        return ssm_side(
            "tls_name_constraints",
            f"the CA {cn(ca)} the SSM sent is constrained to names it may issue for ({limits}); the SSM's "
            f"certificate names {', '.join(outside)} outside them (OpenSSL: 'permitted subtree violation')",
            "have the SSM's certificate issued by a CA allowed to issue for its names (or widen the CA's "
            "name constraints)",
            ssm,
        )
    return None


_EKU_NAMES = {
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
}


def wrong_eku(leaf: x509.Certificate, ssm: str) -> Finding | None:
    try:
        usages = list(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        return None
    if ExtendedKeyUsageOID.SERVER_AUTH in usages or ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE in usages:
        return None
    names = ", ".join(_EKU_NAMES.get(u, u.dotted_string) for u in usages)
    return ssm_side(
        "tls_wrong_eku",
        f"the SSM's certificate {cn(leaf)} is for {names} only: its extendedKeyUsage lacks serverAuth, so "
        "no TLS client accepts it from a server (OpenSSL: 'unsuitable certificate purpose')",
        "reissue it with extendedKeyUsage serverAuth (a TLS server certificate profile)",
        ssm,
    )


def chain_profile(served: Sequence[x509.Certificate], ssm: str) -> Finding | None:
    """The first refusal of the chain's profile, in the order a person should fix them."""
    return (
        weak_key(served, ssm)
        or issuer_not_ca(served, ssm)
        or name_constraints(served, ssm)
        or wrong_eku(served[0], ssm)
    )


def wildcard_mismatch(host: str, dns: Sequence[str], ssm: str) -> Finding | None:
    """A wildcard of the URL host's own domain that does not cover it: ``*.`` stands for exactly one
    label, so ``*.smartreceiver.cisco.com`` never matches smartreceiver.cisco.com, nor
    ``*.cisco.com`` a.b.cisco.com."""
    host = host.lower().rstrip(".")
    for name in dns:
        if not name.startswith("*."):
            continue
        base = name[2:].lower()
        if host == base:
            why = f"it covers one label below {base} (like ssm.{base}), never {base} itself"
        elif host.endswith("." + base):
            why = f"it covers one label in place of '*', but {host} has {host[: -len(base) - 1].count('.') + 1}"
        else:
            continue
        parent = host.partition(".")[2]
        better = f"SAN DNS:{host}" + (f" or a wildcard one label up, *.{parent}" if "." in parent else "")
        return ssm_side(
            "tls_wildcard_mismatch",
            f"the SSM's certificate names {name} and the URL host is {host}: {why} (OpenSSL: 'hostname mismatch')",
            f"reissue the SSM's certificate with {better}",
            ssm,
            "wildcard",
        )
    return None


def protocol(version: str, ssm: str) -> Finding | None:
    if version not in OLD_PROTOCOLS:
        return None
    return ssm_side(
        "tls_protocol_too_old",
        f"the SSM speaks {version} only: the agent requires TLS 1.2 or later (as Cisco's SSM, current Java, "
        "curl and browsers do), and OpenSSL 3 allows TLS 1.0/1.1 only at security level 0",
        'enable TLS 1.2 and 1.3 on the SSM (Tomcat: sslEnabledProtocols="TLSv1.2,TLSv1.3")',
        ssm,
    )


def client_cert_required(ssm: str) -> Finding:
    return ssm_side(
        "tls_client_cert_required",
        "the SSM demands a client certificate in the TLS handshake (mutual TLS) and ended the connection "
        "without one (TLS alert 'certificate required'); this agent presents no certificate to it",
        "do not require client certificates on the SSM's device listener (a product instance has no "
        "certificate before it registers)",
        ssm,
    )
