"""Specific License Reservation codes: formats, signatures, tampering, foreign codes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.pki_files import LabPki, init_lab_pki, load_lab_pki
from shared import pki, slr
from shared.errors import BadRequest, Unauthorized

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
#: Certificates are checked at real time (the lab PKI is created today).
AT = datetime.now(UTC)
ENTS = [slr.Entitlement("regid.2019-03.com.cisco.UCCE_X,1.0_abc", "Premium Agent (Flex, Production)", 5, "TERM")]


def sign(pki_: LabPki, request: slr.RequestCode, ents: list[slr.Entitlement] = ENTS) -> slr.Authorization:
    return slr.authorize(request, ents, now=NOW, key=pki_.signing.key, chain=[pki_.signing.cert, *pki_.signing.chain])


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    folder: Path = tmp_path_factory.mktemp("other")
    init_lab_pki(folder)
    return load_lab_pki(folder)


def test_request_code_has_ciscos_shape_and_round_trips() -> None:
    code = slr.new_request_code("UCCE", "SN-0042")
    # FDMC's pattern: 2 alnum, -Z, PID, :, serial, -, opaque, -, 2 alnum
    assert re.fullmatch(r"[A-Za-z0-9]{2}-ZUCCE:SN-0042-[A-Za-z0-9]+-[A-Za-z0-9]{2}", code.text)
    assert slr.parse_request_code(code.text) == code
    assert slr.new_request_code("UCCE", "SN-0042").nonce != code.nonce


@pytest.mark.parametrize("text", ["", "hello", "CB-ZUCCE:SN1-abc", "XX-ZUCCE:SN1-abcdefghi-00"])
def test_request_code_refuses_what_is_not_one(text: str) -> None:
    with pytest.raises(BadRequest) as info:
        slr.parse_request_code(text)
    assert info.value.code == "invalid_request_code"


def test_request_code_check_catches_a_typo() -> None:
    text = slr.new_request_code("UCCE", "SN1").text
    typo = text.replace("SN1", "SN2")
    with pytest.raises(BadRequest):
        slr.parse_request_code(typo)


def test_authorization_code_opens_for_its_request(lab_pki: LabPki) -> None:
    request = slr.new_request_code("UCCE", "SN1")
    auth = sign(lab_pki, request)
    assert auth.text.startswith("<specificPLR><authorizationCode><flag>A</flag>")
    opened = slr.open_authorization(auth.text, roots=[lab_pki.root], at=AT, expected_request=request.text)
    assert opened.entitlements == tuple(ENTS) and opened.request_code == request.text
    assert re.fullmatch(r"[0-9a-f]{8}", opened.confirmation_code)
    assert re.fullmatch(r"([A-Za-z0-9]{6}-){3}[A-Za-z0-9]{6}", opened.return_code)
    assert opened.confirmation_code == auth.confirmation_code and opened.return_code == auth.return_code


def test_tampered_code_is_refused(lab_pki: LabPki) -> None:
    request = slr.new_request_code("UCCE", "SN1")
    auth = sign(lab_pki, request)
    more = auth.text.replace("<count>5</count>", "<count>500</count>")
    with pytest.raises(Unauthorized) as info:
        slr.open_authorization(more, roots=[lab_pki.root], at=AT, expected_request=request.text)
    assert info.value.code == "authorization_code_tampered"


def test_foreign_code_is_refused(lab_pki: LabPki) -> None:
    mine, theirs = slr.new_request_code("UCCE", "SN1"), slr.new_request_code("UCCE", "SN2")
    with pytest.raises(Unauthorized) as info:
        slr.open_authorization(sign(lab_pki, theirs).text, roots=[lab_pki.root], at=AT, expected_request=mine.text)
    assert info.value.code == "authorization_code_foreign"


def test_code_of_an_untrusted_ssm_is_refused(lab_pki: LabPki, other_pki: LabPki) -> None:
    request = slr.new_request_code("UCCE", "SN1")
    with pytest.raises(Unauthorized) as info:
        slr.open_authorization(
            sign(other_pki, request).text, roots=[lab_pki.root], at=AT, expected_request=request.text
        )
    assert info.value.code == "authorization_code_untrusted" and "truststore" in info.value.message


@pytest.mark.parametrize(
    "text",
    ["", "not xml", "<specificPLR/>", "<!DOCTYPE x [<!ENTITY a 'b'>]><specificPLR>&a;</specificPLR>"],
)
def test_bad_codes_are_refused_clearly(text: str, lab_pki: LabPki) -> None:
    with pytest.raises(BadRequest) as info:
        slr.open_authorization(text, roots=[lab_pki.root], at=AT, expected_request="x")
    assert info.value.code == "invalid_authorization_code"


def test_a_shown_element_that_differs_from_the_signed_one_is_refused(lab_pki: LabPki) -> None:
    """A forged visible <authorizationCode > (with a space) and the signed original hidden in a
    comment: refused, never read."""
    request = slr.new_request_code("UCCE", "SN1")
    auth = sign(lab_pki, request)
    body = auth.text[len("<specificPLR>") : auth.text.index("<signature>")]
    forged_body = (
        body.replace("<authorizationCode>", "<authorizationCode >")
        .replace("</authorizationCode>", "</authorizationCode >")
        .replace("<count>5</count>", "<count>1000</count>")
    )
    forged = "<specificPLR>" + forged_body + "<!--" + body + "-->" + auth.text[auth.text.index("<signature>") :]
    with pytest.raises(Unauthorized) as info:
        slr.open_authorization(forged, roots=[lab_pki.root], at=AT, expected_request=request.text)
    assert info.value.code == "authorization_code_tampered"


def test_a_replacing_code_is_always_newer(lab_pki: LabPki) -> None:
    request = slr.new_request_code("UCCE", "SN1")
    first = sign(lab_pki, request)
    chain = [lab_pki.signing.cert, *lab_pki.signing.chain]
    second = slr.authorize(request, ENTS, now=NOW, key=lab_pki.signing.key, chain=chain, after_ms=first.timestamp_ms)
    assert second.timestamp_ms > first.timestamp_ms  # same instant, still newer


def test_only_the_ssms_signing_certificate_may_sign(lab_pki: LabPki) -> None:
    """A key of the same CA that is not the response-signing one (the TLS server key here; a
    device's ID key alike) cannot sign a code."""
    request = slr.new_request_code("UCCE", "SN1")
    server = lab_pki.server
    forged = slr.authorize(request, ENTS, now=NOW, key=server.key, chain=[server.cert, *server.chain])
    with pytest.raises(Unauthorized) as info:
        slr.open_authorization(forged.text, roots=[lab_pki.root], at=AT, expected_request=request.text)
    assert info.value.code == "authorization_code_untrusted"


def test_an_rsa_certificate_or_an_empty_truststore_is_refused_not_a_crash(lab_pki: LabPki) -> None:
    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    request = slr.new_request_code("UCCE", "SN1")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, pki.SIGNING_CN)])
    rsa_cert = (
        cx509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW)
        .not_valid_after(NOW.replace(year=2030))
        .sign(key, hashes.SHA256())
    )
    odd = slr.authorize(request, ENTS, now=NOW, key=lab_pki.signing.key, chain=[rsa_cert])
    with pytest.raises(Unauthorized):
        slr.open_authorization(odd.text, roots=[rsa_cert], at=AT, expected_request=request.text)
    good = sign(lab_pki, request)
    with pytest.raises(Unauthorized, match="truststore holds no certificate"):
        slr.open_authorization(good.text, roots=[], at=AT, expected_request=request.text)
