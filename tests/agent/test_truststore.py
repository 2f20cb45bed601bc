"""The agent's truststore (cacerts in its data directory): import PEM or DER, list, remove,
refusals that change nothing, and the seed's keytool commands working on the same file, with
the transport picking up every change without a restart."""

from __future__ import annotations

import base64
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import serialization

from agent.api import create_api
from agent.truststore import TrustStore
from server.pki_files import LabPki
from shared import pki
from shared.clock import real_now
from shared.errors import Unavailable
from tests.conftest import MakeAgent, RunningAgent, RunningSSM, no_persist

KEYTOOL = shutil.which("keytool")


def a_ca(name: str) -> pki.CertifiedKey:
    now = real_now()
    return pki.make_ca(name, not_before=now - timedelta(days=1), not_after=now + timedelta(days=30))


@pytest.fixture
async def api(ssm: RunningSSM, make_agent: MakeAgent, aiohttp_client: Any) -> tuple[TestClient[Any, Any], RunningAgent]:
    running = await make_agent()
    client: TestClient[Any, Any] = await aiohttp_client(create_api(running.agent, no_persist))
    return client, running


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_seeded_from_agent_toml_then_import_list_remove(
    api: tuple[TestClient[Any, Any], RunningAgent], lab_pki: LabPki
) -> None:
    """The first start seeds cacerts with the lab root; a PEM and a DER certificate are imported,
    listed with their fingerprints, and removed."""
    client, running = api
    listed = await (await client.get("/api/v1/trust")).json()
    assert [e["alias"] for e in listed["entries"]] == ["ssmlab-lab-root-ca"]
    assert listed["entries"][0]["fingerprint"] == pki.fingerprint(lab_pki.root)
    pem_ca, der_ca = a_ca("Example PEM CA"), a_ca("Example DER CA")
    der = der_ca.cert.public_bytes(serialization.Encoding.DER)
    for alias, data in (("pem-ca", pem_ca.cert_pem()), ("der-ca", der)):
        resp = await client.post("/api/v1/trust", json={"alias": alias, "data": _b64(data)})
        assert resp.status == 201, await resp.text()
    listed = await (await client.get("/api/v1/trust")).json()
    assert [e["alias"] for e in listed["entries"]] == ["ssmlab-lab-root-ca", "pem-ca", "der-ca"]
    assert listed["entries"][2]["subject"] == der_ca.cert.subject.rfc4514_string()
    assert (await client.delete("/api/v1/trust/pem-ca")).status == 200
    assert [e.alias for e in running.agent.trust_list()] == ["ssmlab-lab-root-ca", "der-ca"]


async def test_bad_imports_are_refused_and_change_nothing(
    api: tuple[TestClient[Any, Any], RunningAgent], lab_pki: LabPki
) -> None:
    """Unreadable files, bundles, a used alias, a certificate already held, an unknown alias and
    the last certificate are each refused with a code; the file is byte-for-byte unchanged."""
    client, running = api
    path = running.transport.truststore.path
    before = path.read_bytes()
    bundle = a_ca("One").cert_pem() + a_ca("Two").cert_pem()
    cases = [
        ({"alias": "x", "data": _b64(b"not a certificate")}, 400, "certificate_unreadable"),
        ({"alias": "x", "data": _b64(bundle)}, 400, "certificate_bundle"),
        ({"alias": "bad alias!", "data": _b64(a_ca("Three").cert_pem())}, 400, "alias_invalid"),
        ({"alias": "ssmlab-lab-root-ca", "data": _b64(a_ca("Four").cert_pem())}, 409, "alias_exists"),
        ({"alias": "again", "data": _b64(pki.cert_pem(lab_pki.root))}, 409, "certificate_exists"),
        ({"alias": "x", "data": "***"}, 400, "invalid_body"),
        ({"alias": "x"}, 400, "invalid_body"),
    ]
    for body, status, code in cases:
        resp = await client.post("/api/v1/trust", json=body)
        assert (resp.status, (await resp.json())["error"]) == (status, code), body
    for alias, status, code in (("nope", 404, "alias_not_found"), ("ssmlab-lab-root-ca", 409, "truststore_last_entry")):
        resp = await client.delete(f"/api/v1/trust/{alias}")
        assert (resp.status, (await resp.json())["error"]) == (status, code)
    assert path.read_bytes() == before


async def test_import_applies_to_the_next_request_without_restart(
    ssm: RunningSSM, make_agent: MakeAgent, lab_pki: LabPki
) -> None:
    """Untrusted-root: refused; once its root is imported through the agent, the same running
    agent registers (the transport reloads cacerts); removed again, refused again."""
    running = await make_agent()
    inst = running.agent.runner(None)
    await ssm.set_tls("untrusted-root")
    with pytest.raises(Unavailable):
        await inst.register(await ssm.token())
    _, ca_pem = await ssm.lab("GET", "/_lab/tls/ca.pem")
    running.agent.trust_import("drill-root", ca_pem)
    await inst.register(await ssm.token())
    running.agent.trust_remove("drill-root")
    with pytest.raises(Unavailable) as exc:
        await inst.renew_registration()
    assert exc.value.code == "tls_untrusted_root"


def test_seed_from_a_pkcs12_truststore(tmp_path: Path, pki_dir: Path) -> None:
    """transport.truststore may be a PKCS12 cacerts too; its aliases are kept."""
    store = TrustStore.open(tmp_path / "cacerts", seed=pki_dir / "cacerts")
    assert [e.alias for e in store.entries()] == ["ssmlab-root-ca"]
    with pytest.raises(Unavailable) as exc:
        TrustStore.open(tmp_path / "other", seed=tmp_path / "missing.pem")
    assert exc.value.code == "truststore_unreadable"


@pytest.mark.skipif(KEYTOOL is None, reason="keytool (a Java runtime) is not installed")
async def test_keytool_reads_and_writes_the_agent_truststore(
    ssm: RunningSSM, make_agent: MakeAgent, tmp_path: Path
) -> None:
    """The seed's keytool commands work on the agent's cacerts (password changeit): keytool lists
    what 'trust import' added, and a certificate keytool imports is trusted by the running agent."""
    assert KEYTOOL is not None
    running = await make_agent()
    cacerts = str(running.transport.truststore.path)
    running.agent.trust_import("example-ca", a_ca("Example CA").cert_pem())
    listed = subprocess.run(
        [KEYTOOL, "-list", "-keystore", cacerts, "-storepass", "changeit"], capture_output=True, text=True, check=True
    ).stdout
    assert "example-ca" in listed and "ssmlab-lab-root-ca" in listed and "trustedCertEntry" in listed
    await ssm.set_tls("customer-ca")
    inst = running.agent.runner(None)
    with pytest.raises(Unavailable):
        await inst.register(await ssm.token())
    _, ca_pem = await ssm.lab("GET", "/_lab/tls/ca.pem")
    (tmp_path / "customer.pem").write_bytes(ca_pem)
    subprocess.run(
        [KEYTOOL, "-keystore", cacerts, "-trustcacerts", "-import", "-file", str(tmp_path / "customer.pem"),
         "-alias", "customer-root", "-storepass", "changeit", "-noprompt"],
        capture_output=True, check=True,
    )  # fmt: skip
    assert "customer-root" in [e.alias for e in running.agent.trust_list()]
    await inst.register(await ssm.token())
