"""Certificate matching and the TLS diagnosis, pure: the host rule as Java and OpenSSL apply it,
each mismatch explained with the URL that would work or the SAN to add, and each broken chain
classified with its code and a fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from shared import pki
from shared.hostmatch import CertNames, MatchedBy, explain_mismatch, match_host
from shared.states import TransportMode
from shared.tlsdiag import FixKind, TrustHints, alias_for, assess
from shared.transportsettings import check_url

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ST = TransportMode.SMART_TRANSPORT


@pytest.fixture(scope="module")
def root() -> pki.CertifiedKey:
    return pki.make_ca("Test Root", not_before=NOW - timedelta(days=10), not_after=NOW + timedelta(days=3650))


@pytest.fixture(scope="module")
def inter(root: pki.CertifiedKey) -> pki.CertifiedKey:
    return pki.make_ca(
        "Test Issuing CA",
        issuer=root,
        path_length=0,
        not_before=NOW - timedelta(days=10),
        not_after=NOW + timedelta(days=900),
    )


def leaf(
    issuer: pki.CertifiedKey, hosts: list[str], *, san: bool = True, days: tuple[int, int] = (-1, 300)
) -> pki.CertifiedKey:
    return pki.make_server_cert(
        issuer,
        hosts=hosts,
        include_san=san,
        not_before=NOW + timedelta(days=days[0]),
        not_after=NOW + timedelta(days=days[1]),
    )


def names(dns: tuple[str, ...] = (), ips: tuple[str, ...] = (), cn: str | None = None) -> CertNames:
    return CertNames(dns, ips, cn, bool(dns or ips))


@pytest.mark.parametrize(
    ("cert", "host", "matched"),
    [
        (names(dns=("smartreceiver.cisco.com",)), "smartreceiver.cisco.com", MatchedBy.SAN_DNS),
        (names(dns=("smartreceiver.cisco.com",)), "SmartReceiver.Cisco.com", MatchedBy.SAN_DNS),
        (names(dns=("*.lab.example",)), "ssm.lab.example", MatchedBy.SAN_DNS),
        (names(dns=("*.lab.example",)), "a.ssm.lab.example", None),
        (names(dns=("*.lab.example",)), "lab.example", None),
        (names(ips=("10.0.0.5",)), "10.0.0.5", MatchedBy.SAN_IP),
        (names(ips=("::1",)), "0:0:0:0:0:0:0:1", MatchedBy.SAN_IP),
        (names(dns=("10.0.0.5",)), "10.0.0.5", None),  # an IP never matches a DNS SAN
        (names(cn="ssm.lab.example"), "ssm.lab.example", MatchedBy.CN),  # no SAN: the CN
        (names(cn="10.0.0.5"), "10.0.0.5", None),  # ... but never for an IP
        (CertNames((), ("10.0.0.5",), "ssm.lab.example", True), "ssm.lab.example", MatchedBy.CN),  # no DNS SAN
        (CertNames(("other.example",), (), "ssm.lab.example", True), "ssm.lab.example", None),
    ],
)
def test_host_rule(cert: CertNames, host: str, matched: MatchedBy | None) -> None:
    """A host matches a DNS SAN, an IP SAN for an IP, or the CN when there is no DNS SAN."""
    assert match_host(host, cert) == matched


RESOLVE = {"smartreceiver.cisco.com:443": "127.0.0.1:8443", "ssm.lab.example:443": "127.0.0.1:8443"}
PEER = ("127.0.0.1", 8443)


@pytest.mark.parametrize(
    ("url", "cert", "code", "suggested", "san"),
    [
        # an IP in the URL, a DNS-only certificate: use a name it carries that leads to the SSM
        (
            "https://127.0.0.1:8443/licservice/license",
            names(dns=("other.example", "smartreceiver.cisco.com")),
            "tls_host_ip_vs_name",
            "https://smartreceiver.cisco.com/licservice/license",
            "IP:127.0.0.1",
        ),
        # a name in the URL, an IP-only certificate: use the IP actually reached, with its port
        (
            "https://smartreceiver.cisco.com/licservice/license",
            names(ips=("127.0.0.1",)),
            "tls_host_name_vs_ip",
            "https://127.0.0.1:8443/licservice/license",
            "DNS:smartreceiver.cisco.com",
        ),
        # no SAN: only the CN, by name
        (
            "https://127.0.0.1:8443/SmartTransport",
            names(cn="ssm.lab.example"),
            "tls_host_cn_only",
            "https://ssm.lab.example/SmartTransport",
            "IP:127.0.0.1",
        ),
        # other names: the name, and how it must resolve when the agent has no mapping for it
        (
            "https://smartreceiver.cisco.com/licservice/license",
            names(dns=("wrong.example",)),
            "tls_host_mismatch",
            "https://wrong.example/licservice/license",
            "DNS:smartreceiver.cisco.com",
        ),
    ],
)
def test_mismatch_names_the_url_that_works_or_the_san_to_add(
    url: str, cert: CertNames, code: str, suggested: str, san: str
) -> None:
    """Each mismatch has its code, the URL to use (with the command that sets it) and the SAN to add."""
    m = explain_mismatch(check_url(url, ST), cert, peer=PEER, resolve=RESOLVE)
    assert (m.code, m.url) == (code, suggested)
    assert f"smart-agent transport set --gateway {suggested}" in m.fix or "--direct" in m.fix
    assert f"add SAN {san}" in m.fix


def test_suggesting_the_default_url_offers_direct() -> None:
    """When the URL that works is the mode's default, the fix selects Direct."""
    m = explain_mismatch(
        check_url("https://127.0.0.1:8443/licservice/license", ST),
        names(dns=("smartreceiver.cisco.com",)),
        peer=PEER,
        resolve=RESOLVE,
    )
    assert "smart-agent transport set --mode smart-transport --direct" in m.fix


def test_unresolvable_suggestion_says_how_to_reach_it() -> None:
    """A name the agent has no mapping for is suggested with how it must resolve."""
    m = explain_mismatch(
        check_url("https://127.0.0.1:8443/licservice/license", ST), names(dns=("ssm.corp.example",)), peer=PEER
    )
    assert m.url == "https://ssm.corp.example:8443/licservice/license"
    assert "must lead to the SSM at 127.0.0.1:8443" in m.fix


HINTS = TrustHints(cacerts="/agent/cacerts")
URL = check_url("https://smartreceiver.cisco.com/licservice/license", ST)


def test_good_chain_passes_every_check(root: pki.CertifiedKey, inter: pki.CertifiedKey) -> None:
    """A full chain to a held root, valid now, for the URL host: no failure, matched by SAN."""
    good = leaf(inter, ["smartreceiver.cisco.com", "127.0.0.1"])
    a = assess(URL, [good.cert, inter.cert], [root.cert], now=NOW, hints=HINTS)
    assert a.failure is None and a.matched_by is MatchedBy.SAN_DNS and not a.warnings
    assert [c.subject for c in a.chain] == [good.cert.subject.rfc4514_string(), inter.cert.subject.rfc4514_string()]


@pytest.mark.parametrize(("days", "code"), [((-400, -1), "tls_cert_expired"), ((30, 400), "tls_cert_not_yet_valid")])
def test_dates_outside_validity_name_the_dates_and_the_clocks(
    root: pki.CertifiedKey, inter: pki.CertifiedKey, days: tuple[int, int], code: str
) -> None:
    """Expired / not yet valid: the dates, real time now, and the clocks to check."""
    bad = leaf(inter, ["smartreceiver.cisco.com"], days=days)
    a = assess(URL, [bad.cert, inter.cert], [root.cert], now=NOW, hints=HINTS)
    assert a.failure is not None and a.failure.code == code
    assert "2026-03-01 12:00:00 UTC" in a.failure.message and "date -u" in a.failure.fix
    assert a.trust is None  # trust is judged apart from the dates
    assert a.failure.fix_kind is FixKind.SSM_CERTIFICATE


def test_self_signed_is_fixed_by_importing_the_saved_certificate() -> None:
    """A self-signed SSM certificate: import that very certificate (saved by the caller)."""
    ss = pki.make_self_signed_server_cert(
        hosts=["smartreceiver.cisco.com"], not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=90)
    )
    hints = TrustHints("/agent/cacerts", {pki.fingerprint(ss.cert): "/agent/diagnose/ss.pem"})
    a = assess(URL, [ss.cert], [], now=NOW, hints=hints)
    assert a.failure is not None and a.failure.code == "tls_self_signed"
    assert (a.failure.fix_kind, a.failure.fix_arg) == (FixKind.TRUST_IMPORT, "/agent/diagnose/ss.pem")
    assert "smart-agent trust import /agent/diagnose/ss.pem --alias smartreceiver-cisco-com" in a.failure.fix
    assert "keytool -keystore /agent/cacerts -trustcacerts -import -file /agent/diagnose/ss.pem" in a.failure.fix
    assert assess(URL, [ss.cert], [ss.cert], now=NOW, hints=hints).failure is None  # once imported


def test_untrusted_root_imports_the_offered_root(root: pki.CertifiedKey, inter: pki.CertifiedKey) -> None:
    """A chain to a root the truststore lacks: the root the SSM offers (and only one that issued
    the chain) is what the fix imports; once held, the chain verifies."""
    other_root = pki.make_ca("Other Root", not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=900))
    other_inter = pki.make_ca(
        "Other Issuing",
        issuer=other_root,
        path_length=0,
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=900),
    )
    cert = leaf(other_inter, ["smartreceiver.cisco.com"])
    served = [cert.cert, other_inter.cert]
    hints = TrustHints("/c", {pki.fingerprint(other_root.cert): "/saved/other.pem"})
    unrelated = assess(URL, served, [root.cert], now=NOW, hints=hints, offered=[root.cert])
    assert unrelated.failure is not None and unrelated.failure.code == "tls_untrusted_root"
    assert unrelated.failure.fix_arg == ""  # the lab root did not issue this chain: nothing to import
    a = assess(URL, served, [root.cert], now=NOW, hints=hints, offered=[other_root.cert])
    assert a.failure is not None and a.failure.code == "tls_untrusted_root"
    assert "'CN=Other Root,O=ssmlab'" in a.failure.message
    assert (a.failure.fix_kind, a.failure.fix_arg) == (FixKind.TRUST_IMPORT, "/saved/other.pem")
    assert f"--alias {alias_for(other_root.cert)}" in a.failure.fix
    assert assess(URL, served, [root.cert, other_root.cert], now=NOW, hints=hints).failure is None


def test_missing_intermediate_is_an_incomplete_chain(root: pki.CertifiedKey, inter: pki.CertifiedKey) -> None:
    """The leaf alone, its issuer neither sent nor held: incomplete chain; importing the issuing
    CA (offered) fixes it, as does the SSM sending it."""
    cert = leaf(inter, ["smartreceiver.cisco.com"])
    hints = TrustHints("/c", {pki.fingerprint(inter.cert): "/saved/inter.pem"})
    a = assess(URL, [cert.cert], [root.cert], now=NOW, hints=hints, offered=[inter.cert])
    assert a.failure is not None and a.failure.code == "tls_chain_incomplete"
    assert "Test Issuing CA" in a.failure.message and "send its intermediate" in a.failure.fix
    assert a.failure.fix_arg == "/saved/inter.pem"
    assert assess(URL, [cert.cert], [root.cert, inter.cert], now=NOW, hints=hints).failure is None
    assert assess(URL, [cert.cert, inter.cert], [root.cert], now=NOW, hints=hints).failure is None


def test_cn_only_certificate_matches_by_name_with_a_warning(root: pki.CertifiedKey, inter: pki.CertifiedKey) -> None:
    """No SAN: the CN matches the name (a warning), an IP URL fails with tls_host_cn_only."""
    cert = leaf(inter, ["smartreceiver.cisco.com"], san=False)
    by_name = assess(URL, [cert.cert, inter.cert], [root.cert], now=NOW, hints=HINTS)
    assert by_name.failure is None and by_name.matched_by is MatchedBy.CN
    assert [w.code for w in by_name.warnings] == ["tls_cn_only_match"]
    ip_url = check_url("https://127.0.0.1:8443/licservice/license", ST)
    by_ip = assess(ip_url, [cert.cert, inter.cert], [root.cert], now=NOW, hints=HINTS, peer=PEER, resolve=RESOLVE)
    assert by_ip.failure is not None and by_ip.failure.code == "tls_host_cn_only"
    assert (by_ip.failure.fix_kind, by_ip.failure.fix_arg) == (
        FixKind.SET_URL,
        "https://smartreceiver.cisco.com/licservice/license",
    )


def test_chain_that_verifier_refuses_is_chain_invalid(root: pki.CertifiedKey, inter: pki.CertifiedKey) -> None:
    """A chain the steps above accept but the RFC 5280 verifier refuses (here: a leaf with a critical
    extension no client knows) is tls_chain_invalid with the verifier's words."""
    good = leaf(inter, ["smartreceiver.cisco.com"]).cert
    key = pki.new_key()
    unknown = x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00")
    builder = (
        x509.CertificateBuilder()
        .subject_name(good.subject)
        .issuer_name(inter.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=90))
        .add_extension(unknown, critical=True)
    )
    for ext in good.extensions:
        builder = builder.add_extension(ext.value, critical=ext.critical)
    odd = builder.sign(inter.key, hashes.SHA256())
    a = assess(URL, [odd, inter.cert], [root.cert], now=NOW, hints=HINTS)
    assert a.failure is not None and a.failure.code == "tls_chain_invalid"
    assert "does not verify" in a.failure.message


def test_a_leaf_for_client_authentication_only_is_a_wrong_eku(root: pki.CertifiedKey, inter: pki.CertifiedKey) -> None:
    """A leaf for client authentication only: named as the wrong EKU (issue 19), no longer as a
    chain that does not verify."""
    key = pki.new_key()
    client_only = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "smartreceiver.cisco.com")]))
        .issuer_name(inter.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=90))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("smartreceiver.cisco.com")]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(inter.key.public_key()), critical=False)
        .sign(inter.key, hashes.SHA256())
    )
    a = assess(URL, [client_only, inter.cert], [root.cert], now=NOW, hints=HINTS)
    assert a.failure is not None and a.failure.code == "tls_wrong_eku"
    assert "clientAuth only" in a.failure.message and "serverAuth" in a.failure.fix


def sha1_signed(issuer_key: object, cert: x509.Certificate) -> x509.Certificate:
    """``cert`` (signed sha256WithRSAEncryption) signed again with SHA-1, as ``openssl x509 -sha1``
    would: cryptography no longer signs with SHA-1, so the algorithm's OID is swapped (same length)
    and the new TBS signed with the RSA primitive."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    assert isinstance(issuer_key, rsa.RSAPrivateKey)
    sha256_rsa, sha1_rsa = bytes.fromhex("06092A864886F70D01010B"), bytes.fromhex("06092A864886F70D010105")
    der = cert.public_bytes(serialization.Encoding.DER)
    assert der.count(sha256_rsa) == 2  # in the TBS and in the outer signatureAlgorithm
    der = der.replace(sha256_rsa, sha1_rsa)
    unsigned = x509.load_der_x509_certificate(der)
    signature = issuer_key.sign(unsigned.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303
    return x509.load_der_x509_certificate(der.replace(unsigned.signature, signature))


@pytest.mark.parametrize("with_intermediate", [True, False])
def test_a_leaf_signed_with_sha1_is_a_weak_signature(with_intermediate: bool) -> None:
    """OpenSSL refuses it ("CA signature digest algorithm too weak"); the diagnosis says so rather
    than calling the chain incomplete (issue 16, item 16)."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    rsa_root = pki.make_ca(
        "RSA Root",
        not_before=NOW - timedelta(days=10),
        not_after=NOW + timedelta(days=900),
        key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )
    rsa_inter = pki.make_ca(
        "RSA Issuing CA",
        issuer=rsa_root,
        path_length=0,
        not_before=NOW - timedelta(days=10),
        not_after=NOW + timedelta(days=900),
        key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )
    weak = sha1_signed(rsa_inter.key, leaf(rsa_inter, ["smartreceiver.cisco.com"]).cert)
    assert weak.signature_hash_algorithm is not None and weak.signature_hash_algorithm.name == "sha1"
    served = [weak, rsa_inter.cert] if with_intermediate else [weak]
    a = assess(URL, served, [rsa_root.cert], now=NOW, hints=HINTS, peer=PEER)
    assert a.failure is not None and a.failure.code == "tls_weak_signature"
    assert "SHA-1" in a.failure.message and "CA signature digest algorithm too weak" in a.failure.message
    assert (a.failure.fix_kind, a.failure.fix_arg) == (FixKind.SSM_CERTIFICATE, "good")
    assert "SHA-256" in a.failure.fix


def test_the_ssm_side_fix_names_the_ssm_the_agent_reached(root: pki.CertifiedKey, inter: pki.CertifiedKey) -> None:
    """'ssm-server tls set good' alone would talk to the default SSM: the fix names the one reached
    (the address connected to), or the URL's host and port through a proxy (issue 16, item 16)."""
    expired = leaf(inter, ["smartreceiver.cisco.com"], days=(-400, -1))
    served = [expired.cert, inter.cert]
    direct = assess(URL, served, [root.cert], now=NOW, hints=HINTS, peer=("127.0.0.1", 9443))
    assert direct.failure is not None and direct.failure.code == "tls_cert_expired"
    assert "ssm-server tls --url https://127.0.0.1:9443 set good" in direct.failure.fix
    proxied = assess(URL, served, [root.cert], now=NOW, hints=HINTS)
    assert proxied.failure is not None
    assert "ssm-server tls --url https://smartreceiver.cisco.com:443 set good" in proxied.failure.fix
    alone = assess(URL, [leaf(inter, ["smartreceiver.cisco.com"]).cert], [root.cert], now=NOW, hints=HINTS, peer=PEER)
    assert alone.failure is not None and alone.failure.code == "tls_chain_incomplete"
    assert f"ssm-server tls --url https://{PEER[0]}:{PEER[1]} set good" in alone.failure.fix
