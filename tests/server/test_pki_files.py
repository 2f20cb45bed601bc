"""``ssm-server pki init``: idempotent, keys 0600, the SANs asked for, a truststore keytool reads."""

from __future__ import annotations

import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from server.pki_files import PkiPaths, init_lab_pki, load_lab_pki
from shared import javastore, pki


def test_init_creates_everything_with_private_keys_0600(tmp_path: Path) -> None:
    """Every file is written; every private key is readable by its owner only."""
    init_lab_pki(tmp_path)
    paths = PkiPaths(tmp_path)
    for key in (paths.ca_key, paths.intermediate_key, paths.server_key, paths.signing_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    for f in (
        paths.ca_cert,
        paths.intermediate_cert,
        paths.server_cert,
        paths.signing_cert,
        paths.truststore_pem,
        paths.truststore_p12,
    ):
        assert f.exists()


def test_server_certificate_has_the_default_and_requested_sans(tmp_path: Path) -> None:
    """The server certificate covers the Cisco names, localhost, 127.0.0.1 and each --host, and
    chains to the root for each of them."""
    init_lab_pki(tmp_path, hosts=["ssm.lab.example", "10.1.2.3"])
    lab = load_lab_pki(tmp_path)
    dns, ips = pki.host_names(lab.server.cert)
    assert set(dns) >= {"smartreceiver.cisco.com", "tools.cisco.com", "localhost", "ssm.lab.example"}
    assert set(ips) >= {"127.0.0.1", "10.1.2.3"}
    for host in ("smartreceiver.cisco.com", "10.1.2.3", "127.0.0.1"):
        pki.verify_server_chain(
            lab.server.cert, lab.server.chain, [lab.root], host=host, at=lab.server.cert.not_valid_before_utc
        )


def test_init_is_idempotent_and_keeps_added_hosts(tmp_path: Path) -> None:
    """A second run keeps the CA and the server certificate; adding a host reissues only the
    server certificate and keeps the hosts it had."""
    init_lab_pki(tmp_path, hosts=["one.example"])
    first = load_lab_pki(tmp_path)
    report = init_lab_pki(tmp_path)
    again = load_lab_pki(tmp_path)
    assert pki.fingerprint(again.root) == pki.fingerprint(first.root)
    assert pki.fingerprint(again.server.cert) == pki.fingerprint(first.server.cert)
    assert all(what.startswith(("kept", "written")) for _, what in report.lines)
    init_lab_pki(tmp_path, hosts=["two.example"])
    third = load_lab_pki(tmp_path)
    assert pki.fingerprint(third.root) == pki.fingerprint(first.root)
    assert pki.fingerprint(third.server.cert) != pki.fingerprint(first.server.cert)
    dns, _ = pki.host_names(third.server.cert)
    assert {"one.example", "two.example"} <= set(dns)


def test_pkcs12_truststore_holds_the_root(tmp_path: Path) -> None:
    """cacerts (password changeit) holds the lab root under the alias ssmlab-root-ca."""
    init_lab_pki(tmp_path)
    entries = javastore.read_java_truststore(PkiPaths(tmp_path).truststore_p12.read_bytes(), b"changeit")
    lab = load_lab_pki(tmp_path)
    assert [(a, pki.fingerprint(c)) for a, c in entries] == [("ssmlab-root-ca", pki.fingerprint(lab.root))]


@pytest.mark.skipif(shutil.which("keytool") is None, reason="keytool (a JDK) is not installed")
def test_keytool_lists_the_truststore(tmp_path: Path) -> None:
    """keytool -list reads cacerts with the password changeit, as the seed's commands expect."""
    init_lab_pki(tmp_path)
    out = subprocess.run(
        ["keytool", "-list", "-keystore", str(PkiPaths(tmp_path).truststore_p12), "-storepass", "changeit"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "ssmlab-root-ca" in out
    assert "trustedCertEntry" in out
