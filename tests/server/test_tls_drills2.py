"""The second drill catalog (issue 19) on the SSM, checked with the ``openssl`` command line: each
mode is a genuine instance of its problem, refused by OpenSSL for the reason the drill names (the
``Verify return code`` of ``openssl s_client``, as a person would check it), and the offered CA is
the lab root the agent already holds."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path

import pytest

from plumbing.clients.lab import CLIENT_CERT_FILE
from server.pki_files import LabPki
from server.tlsdrills import DrillMode
from shared import pki
from shared.hostmatch import CertNames
from tests.conftest import RunningSSM
from tests.server.test_tls_drills import served_chain

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command line")

HOST = "smartreceiver.cisco.com"


async def s_client(ssm: RunningSSM, *flags: str, send: bytes = b"") -> str:
    """``openssl s_client`` against the SSM for HOST, verifying with the lab truststore (stdout and stderr)."""
    proc = await asyncio.create_subprocess_exec(
        "openssl",
        "s_client",
        "-connect",
        f"127.0.0.1:{ssm.port}",
        "-servername",
        HOST,
        "-verify_hostname",
        HOST,
        "-CAfile",
        str(ssm.truststore),
        *flags,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(send), 30)
    return out.decode(errors="replace")


def verify_code(out: str) -> tuple[int, str]:
    m = re.search(r"Verify return code: (\d+) \(([^)]*)\)", out)
    assert m, out
    return int(m.group(1)), m.group(2)


#: mode -> (extra s_client flags, OpenSSL's verify code and words)
REFUSED = {
    DrillMode.WILDCARD_MISMATCH: ((), (62, "hostname mismatch")),
    DrillMode.SHA1_SIGNATURE: ((), (68, "CA signature digest algorithm too weak")),
    # the openssl command line verifies at security level 1 (RSA-1024 is 80 bits: allowed); Python,
    # curl and current Java verify at level 2 (112 bits), as -auth_level 2 does
    DrillMode.WEAK_KEY: (("-auth_level", "2"), (66, "EE certificate key too weak")),
    DrillMode.WRONG_EKU: ((), (26, "unsuitable certificate purpose")),
    # OpenSSL judges the issuer's purpose first: a certificate without basicConstraints is no CA
    DrillMode.NO_BASIC_CONSTRAINTS: ((), (26, "unsuitable certificate purpose")),
    DrillMode.NAME_CONSTRAINTS: ((), (47, "permitted subtree violation")),
    DrillMode.EXPIRED_INTERMEDIATE: ((), (10, "certificate has expired")),
}


@pytest.mark.parametrize("mode", list(REFUSED))
async def test_openssl_refuses_each_drill_for_its_reason(ssm: RunningSSM, lab_pki: LabPki, mode: DrillMode) -> None:
    view = await ssm.set_tls(mode)
    assert view["ca"]["fingerprint"] == pki.fingerprint(lab_pki.root)  # the root the agent holds
    flags, expected = REFUSED[mode]
    out = await s_client(ssm, *flags)
    assert verify_code(out) == expected
    depth = 1 if mode in (DrillMode.NO_BASIC_CONSTRAINTS, DrillMode.EXPIRED_INTERMEDIATE) else 0
    assert re.search(rf"depth={depth} .*\nverify error:num={expected[0]}:", out), out  # which certificate
    await ssm.set_tls("good")  # and the good certificate passes the same check
    assert verify_code(await s_client(ssm, *flags)) == (0, "ok")


async def test_a_wildcard_one_label_up_matches(ssm: RunningSSM) -> None:
    await ssm.set_tls("wildcard")
    assert verify_code(await s_client(ssm)) == (0, "ok")
    assert CertNames.of((await served_chain(ssm.port))[0]).dns == ("*.cisco.com",)
    await ssm.set_tls("wildcard-mismatch")
    assert CertNames.of((await served_chain(ssm.port))[0]).dns == ("*.smartreceiver.cisco.com", "*.tools.cisco.com")


async def test_tls10_only_speaks_tls10_and_nothing_newer(ssm: RunningSSM) -> None:
    """A TLS 1.2 client gets no handshake; a TLS 1.0 client at security level 0 gets one (OpenSSL 3
    allows TLS 1.0 only at level 0, and this machine's OpenSSL does)."""
    await ssm.set_tls("tls1.0-only")
    modern = await s_client(ssm, "-tls1_2")
    assert "Cipher is (NONE)" in modern or "alert protocol version" in modern, modern
    old = await s_client(ssm, "-tls1", "-cipher", "DEFAULT:@SECLEVEL=0")
    assert re.search(r"Protocol\s*: TLSv1\n", old), old
    assert verify_code(old) == (0, "ok")  # the certificate itself is the good one


async def test_client_cert_required_asks_for_one_and_takes_the_lab_operators(ssm: RunningSSM) -> None:
    """The SSM sends a CertificateRequest and ends the connection without a
    certificate; with one issued under the lab root it answers."""
    await ssm.set_tls("client-cert-required")
    request = b"GET /_lab/tls HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    without = await s_client(ssm, "-ign_eof", send=request)
    # s_client prints what a CertificateRequest asks (Python's server names no CA in it)
    assert "Requested Signature Algorithms" in without and "client certificate CA names sent" in without
    assert "HTTP/1.1 200" not in without
    operator = Path(ssm.db_path).parent / CLIENT_CERT_FILE
    assert operator.stat().st_mode & 0o777 == 0o600
    pem = str(operator)  # certificate, chain and key in one file
    with_cert = await s_client(ssm, "-ign_eof", "-cert", pem, "-cert_chain", pem, "-key", pem, send=request)
    assert "HTTP/1.1 200" in with_cert, with_cert
    await ssm.set_tls("good")
    assert "Requested Signature Algorithms" not in await s_client(ssm, send=request)


async def test_the_revoked_drill_is_on_the_crl_and_revoked_by_ocsp(
    ssm: RunningSSM, lab_pki: LabPki, tmp_path: Path
) -> None:
    """The leaf names the lab's CRL and OCSP responder; ``openssl verify -crl_check`` with the CRL the
    lab plane serves says "certificate revoked", and ``openssl ocsp`` reads the responder's answer as
    revoked; the good certificate is neither."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    from shared import revocation

    await ssm.set_tls("revoked")
    chain = await served_chain(ssm.port)
    leaf = chain[0]
    crls, responders = revocation.where_to_ask(leaf)
    assert crls == [f"https://{HOST}/_lab/pki/crl"] and responders == [f"https://{HOST}/_lab/pki/ocsp"]
    assert verify_code(await s_client(ssm)) == (0, "ok")  # without a revocation check it passes

    status, der = await ssm.lab("GET", "/_lab/pki/crl")
    assert status == 200
    crl_file = tmp_path / "crl.pem"
    crl_file.write_bytes(x509.load_der_x509_crl(der).public_bytes(serialization.Encoding.PEM))
    (tmp_path / "leaf.pem").write_bytes(pki.cert_pem(leaf))
    (tmp_path / "inter.pem").write_bytes(pki.cert_pem(chain[1]))
    verify = ["openssl", "verify", "-crl_check", "-CRLfile", str(crl_file), "-CAfile", str(ssm.truststore)]
    out = await run(*verify, "-untrusted", str(tmp_path / "inter.pem"), str(tmp_path / "leaf.pem"))
    assert "error 23 at 0 depth lookup: certificate revoked" in out, out

    import base64
    from urllib.parse import quote

    request = revocation.ocsp_request(leaf, chain[1])
    status, answer = await ssm.lab("GET", "/_lab/pki/ocsp/" + quote(base64.b64encode(request).decode(), safe=""))
    assert status == 200
    (tmp_path / "resp.der").write_bytes(answer)
    out = await run(
        "openssl", "ocsp", "-respin", str(tmp_path / "resp.der"), "-issuer", str(tmp_path / "inter.pem"),
        "-cert", str(tmp_path / "leaf.pem"), "-CAfile", str(ssm.truststore), "-VAfile", str(tmp_path / "inter.pem"),
    )  # fmt: skip
    assert "Response verify OK" in out and "leaf.pem: revoked" in out, out

    (tmp_path / "good.pem").write_bytes(pki.cert_pem(lab_pki.server.cert))
    out = await run(*verify, "-untrusted", str(tmp_path / "inter.pem"), str(tmp_path / "good.pem"))
    assert out.strip().endswith("good.pem: OK"), out


async def run(*argv: str) -> str:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return out.decode(errors="replace")


@pytest.mark.parametrize("garbage", ["!!!", "bm90IGFuIE9DU1AgcmVxdWVzdA%3D%3D", "A" * 2000])
async def test_a_malformed_ocsp_request_gets_the_protocol_s_refusal(ssm: RunningSSM, garbage: str) -> None:
    """A request that is not base64 or not an OCSP request is answered as RFC 6960 says
    (malformedRequest, unsigned), never a 500."""
    from cryptography.x509 import ocsp

    status, answer = await ssm.lab("GET", "/_lab/pki/ocsp/" + garbage)
    assert status == 200
    assert ocsp.load_der_ocsp_response(answer).response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST
