"""The TLS drill catalog on the SSM: /_lab/tls switches the certificate served on the next
handshake, without a restart; each mode serves the chain it describes; the mode is saved and
restored; bad input is refused and changes nothing."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from cryptography import x509

from server import keys
from server.app import create_app
from server.pki_files import LabPki
from server.settings import ServerSettings
from server.tlsdrills import WRONG_HOST, DrillMode
from shared import pki
from shared.clock import real_now
from shared.hostmatch import CertNames
from tests.conftest import NO_VERIFY, RunningSSM


async def served_chain(port: int, server_hostname: str | None = None) -> list[x509.Certificate]:
    """The chain the SSM sends on a new handshake, as sent (no verification)."""
    _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=NO_VERIFY, server_hostname=server_hostname)
    try:
        sslobj = writer.get_extra_info("ssl_object")
        raw = sslobj._sslobj.get_unverified_chain()
        return [x509.load_der_x509_certificate(c.public_bytes(ssl._ssl.ENCODING_DER)) for c in raw]  # type: ignore[attr-defined]
    finally:
        writer.close()


def _in_window(chain: list[x509.Certificate]) -> Any:
    return max(c.not_valid_before_utc for c in chain)


@pytest.mark.parametrize("mode", list(DrillMode)[:10])  # the first catalog; issue 19's: test_tls_drills2.py
async def test_each_mode_serves_the_chain_it_describes(ssm: RunningSSM, lab_pki: LabPki, mode: DrillMode) -> None:
    """After POST /_lab/tls the next handshake serves that mode's chain, and /_lab/tls/ca.pem is
    the CA that makes it verify."""
    view = await ssm.set_tls(mode)
    assert view["mode"] == mode and [m["mode"] for m in view["modes"] if m["current"]] == [mode]
    chain = await served_chain(ssm.port)
    leaf, now = chain[0], real_now()
    names = CertNames.of(leaf)
    status, ca_pem = await ssm.lab("GET", "/_lab/tls/ca.pem")
    assert status == 200
    ca = pki.load_cert(ca_pem)
    assert pki.fingerprint(ca) == view["ca"]["fingerprint"]
    assert [pki.fingerprint(c) for c in chain] == [c["fingerprint"] for c in view["served"]]
    if mode is DrillMode.SELF_SIGNED:
        assert leaf.issuer == leaf.subject and pki.fingerprint(ca) == pki.fingerprint(leaf)
    else:  # the offered CA completes the chain (dates aside: judged inside the leaf's window)
        pki.verify_issuance(leaf, chain[1:], [ca], at=_in_window(chain))
    expected_shape = {
        DrillMode.GOOD: lambda: names.dns and names.ips and len(chain) == 2,
        DrillMode.WRONG_HOST: lambda: names.dns == (WRONG_HOST,) and not names.ips,
        DrillMode.IP_ONLY: lambda: names.ips and not names.dns,
        DrillMode.CN_ONLY: lambda: not names.has_san and names.cn == "smartreceiver.cisco.com",
        DrillMode.EXPIRED: lambda: leaf.not_valid_after_utc < now,
        DrillMode.NOT_YET_VALID: lambda: leaf.not_valid_before_utc > now,
        DrillMode.SELF_SIGNED: lambda: len(chain) == 1,
        DrillMode.UNTRUSTED_ROOT: lambda: len(chain) == 2 and ca.subject != lab_pki.root.subject,
        DrillMode.INCOMPLETE_CHAIN: lambda: len(chain) == 1 and ca.subject == lab_pki.issuer.cert.subject,
        DrillMode.CUSTOMER_CA: lambda: chain[-1] == ca and ca.subject != lab_pki.root.subject,
    }[mode]
    assert expected_shape()
    if mode not in (DrillMode.GOOD, DrillMode.SELF_SIGNED):
        with pytest.raises(pki.ChainError):  # the lab root alone does not accept it for the usual name
            pki.verify_server_chain(leaf, chain[1:], [lab_pki.root], host="smartreceiver.cisco.com", at=now)


async def test_switch_applies_to_new_handshakes_without_restart(ssm: RunningSSM, lab_pki: LabPki) -> None:
    """The listening socket stays up; the next handshake after each switch sees the new chain,
    also when the client sends no SNI (connects by IP)."""
    first = (await served_chain(ssm.port))[0]
    assert pki.fingerprint(first) == pki.fingerprint(lab_pki.server.cert)
    await ssm.set_tls("expired")
    assert (await served_chain(ssm.port))[0].not_valid_after_utc < real_now()
    assert (await served_chain(ssm.port, "smartreceiver.cisco.com"))[0].not_valid_after_utc < real_now()
    await ssm.set_tls("good")
    assert pki.fingerprint((await served_chain(ssm.port))[0]) == pki.fingerprint(lab_pki.server.cert)


@pytest.mark.parametrize(
    ("body", "code"),
    [({"mode": "broken"}, "tls_mode_unknown"), ({"mod": "good"}, "invalid_body"), ([], "invalid_body")],
)
async def test_bad_mode_is_refused_and_changes_nothing(ssm: RunningSSM, body: object, code: str) -> None:
    """An unknown mode or a wrong body is a 400 with a code; the SSM keeps serving the same mode."""
    await ssm.set_tls("ip-only")
    status, err = await ssm.lab("POST", body=body)
    assert (status, err["error"]) == (400, code)
    assert (await ssm.lab("GET"))[1]["mode"] == "ip-only"
    assert not CertNames.of((await served_chain(ssm.port))[0]).dns


async def test_mode_is_saved_before_it_is_served_and_restored(ssm: RunningSSM, lab_pki: LabPki) -> None:
    """The mode is committed to the store when acknowledged, and an SSM started on that store
    serves it again."""
    await ssm.set_tls("cn-only")
    assert await ssm.store.read(lambda u: u.settings.get("tls_mode")) == "cn-only"
    app = create_app(ServerSettings(db_path=ssm.db_path), clock=ssm.clock, lab_pki=lab_pki, store=ssm.store)
    assert app[keys.TLS].mode is DrillMode.GOOD
    server = TestServer(app)
    await server.start_server()
    try:
        assert app[keys.TLS].mode is DrillMode.CN_ONLY
    finally:
        await server.close()


def test_the_self_signed_drill_keeps_its_certificate(tmp_path: Any) -> None:
    """The self-signed certificate is kept beside the lab PKI (key 0600) and served again by an SSM
    started later, so the trust its fix imported still holds; it is made again only when the
    lab's hosts change or it nears its end (issue 16, item 15)."""
    import os
    from datetime import timedelta

    from server.pki_files import init_lab_pki, load_lab_pki
    from server.tlsdrills import build

    init_lab_pki(tmp_path)
    now = real_now()
    first = build(DrillMode.SELF_SIGNED, load_lab_pki(tmp_path), now=now)
    kept = tmp_path / "drills" / "self-signed.key"
    assert (tmp_path / "drills" / "self-signed.pem").exists() and os.stat(kept).st_mode & 0o777 == 0o600
    again = build(DrillMode.SELF_SIGNED, load_lab_pki(tmp_path), now=now + timedelta(days=1))  # a restart
    assert pki.fingerprint(again.leaf.cert) == pki.fingerprint(first.leaf.cert)
    assert again.leaf.key_pem() == first.leaf.key_pem()
    near_end = build(DrillMode.SELF_SIGNED, load_lab_pki(tmp_path), now=now + timedelta(days=380))
    assert pki.fingerprint(near_end.leaf.cert) != pki.fingerprint(first.leaf.cert)
    init_lab_pki(tmp_path, hosts=["ssm.lab.example"])  # the lab certificate gains a host
    renamed = build(DrillMode.SELF_SIGNED, load_lab_pki(tmp_path), now=now + timedelta(days=380))
    assert "ssm.lab.example" in CertNames.of(renamed.leaf.cert).dns
