"""The refusals of a chain's profile and of the handshake, pure (issue 19): each named with its
real cause, the fix on the SSM's side, and the lab mode that works."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from server import drillcerts
from shared import pki, tlsprofile
from shared.tlsfinding import FixKind

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SSM = "https://127.0.0.1:8443"
HOSTS = ["smartreceiver.cisco.com", "127.0.0.1"]


@pytest.fixture(scope="module")
def root() -> pki.CertifiedKey:
    return pki.make_ca("Root", not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=900))


def issued(issuer: pki.CertifiedKey | drillcerts.Leaf, **kw: object) -> x509.Certificate:
    key = kw.pop("key", None) or pki.new_key()
    return drillcerts.certificate(
        subject="smartreceiver.cisco.com",
        key=key,  # type: ignore[arg-type]
        issuer=issuer.cert.subject,
        signer=issuer.key,
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=90),
        hosts=kw.pop("hosts", HOSTS),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def ca(root: pki.CertifiedKey, **kw: object) -> drillcerts.Leaf:
    key = pki.new_key()
    cert = drillcerts.certificate(
        subject="Sub CA",
        key=key,
        issuer=root.cert.subject,
        signer=root.key,
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=90),
        ca=True,
        **kw,  # type: ignore[arg-type]
    )
    return drillcerts.Leaf(cert, key)


def test_a_good_chain_has_no_profile_refusal(root: pki.CertifiedKey) -> None:
    sub = ca(root)
    assert tlsprofile.chain_profile([issued(sub), sub.cert], SSM) is None


@pytest.mark.parametrize(
    ("key", "says"),
    [
        (rsa.generate_private_key(public_exponent=65537, key_size=1024), "1024-bit RSA key"),  # noqa: S505
        (ec.generate_private_key(ec.SECP192R1()), "192-bit EC key"),
    ],
)
def test_a_weak_key_names_its_size(root: pki.CertifiedKey, key: object, says: str) -> None:
    found = tlsprofile.chain_profile([issued(root, key=key)], SSM)
    assert found is not None and found.code == "tls_weak_key" and says in found.message
    assert (found.fix_kind, found.fix_arg) == (FixKind.SSM_CERTIFICATE, "good")
    assert f"ssm-server tls --url {SSM} set good" in found.fix


def test_an_issuer_without_basic_constraints_is_not_a_ca(root: pki.CertifiedKey) -> None:
    sub = ca(root, basic_constraints=False)
    found = tlsprofile.chain_profile([issued(sub), sub.cert], SSM)
    assert found is not None and found.code == "tls_issuer_not_ca" and "'Sub CA'" in found.message


@pytest.mark.parametrize(
    ("permitted", "excluded", "refused"),
    [
        (["ssmlab.example"], None, True),
        (["cisco.com"], None, False),  # a subtree covers the names below it
        ([".cisco.com"], None, False),
        (["receiver.cisco.com"], None, True),  # not a label boundary
        (None, ["smartreceiver.cisco.com"], True),
    ],
)
def test_name_constraints(
    root: pki.CertifiedKey, permitted: list[str] | None, excluded: list[str] | None, refused: bool
) -> None:
    nc = x509.NameConstraints(
        permitted_subtrees=[x509.DNSName(p) for p in permitted] if permitted else None,
        excluded_subtrees=[x509.DNSName(e) for e in excluded] if excluded else None,
    )
    sub = ca(root, name_constraints=nc)
    found = tlsprofile.chain_profile([issued(sub), sub.cert], SSM)
    assert (found is not None and found.code == "tls_name_constraints") is refused


@pytest.mark.parametrize(
    ("host", "dns", "why"),
    [
        ("smartreceiver.cisco.com", ["*.smartreceiver.cisco.com"], "never smartreceiver.cisco.com itself"),
        ("a.b.cisco.com", ["*.cisco.com"], "a.b.cisco.com has 2"),
    ],
)
def test_a_wildcard_of_the_right_domain_that_does_not_cover_the_host(host: str, dns: list[str], why: str) -> None:
    found = tlsprofile.wildcard_mismatch(host, dns, SSM)
    assert found is not None and found.code == "tls_wildcard_mismatch" and why in found.message
    assert found.fix_arg == "wildcard" and f"SAN DNS:{host}" in found.fix


def test_a_wildcard_of_another_domain_is_an_ordinary_mismatch() -> None:
    assert tlsprofile.wildcard_mismatch("smartreceiver.cisco.com", ["*.example.com"], SSM) is None


@pytest.mark.parametrize(("version", "refused"), [("TLSv1", True), ("TLSv1.1", True), ("TLSv1.2", False), ("", False)])
def test_old_protocols(version: str, refused: bool) -> None:
    found = tlsprofile.protocol(version, SSM)
    assert (found is not None and found.code == "tls_protocol_too_old") is refused
