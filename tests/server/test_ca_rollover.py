"""CA rollover (issue 19): the SSM's root, issuing CA, TLS and response-signing certificates replaced
by a new generation after an overlap on the domain clock. An agent that trusts only the old root
fails at the cutover with a diagnosis naming the new root, and the printed fix works; an agent given
the new root during the overlap never fails; ID certificates renewed after the cutover come from the
new issuing CA, and those of the old one are still accepted under mutual TLS."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from agent.instance import InstanceRunner
from shared import clientcert, pki
from shared.errors import SmartLicensingError
from shared.states import AuthorizationStatus
from tests.conftest import MakeAgent, RunningSSM
from tests.server.conftest import registered_runner
from tests.server.ownpki import lab_pki, pki_dir  # noqa: F401 - a PKI of each test's own: a rollover moves its files


async def start(ssm: RunningSSM, overlap: str = "30d") -> dict[str, Any]:
    status, view = await ssm.lab("POST", "/_lab/pki/rollover", {"overlap": overlap})
    assert status == 200, view
    return dict(view)


def issuer_of(inst: InstanceRunner) -> str:
    return clientcert.issuer_name(pki.load_cert((inst.cert_pem or "").encode()))


async def test_an_agent_that_trusts_only_the_old_root_fails_at_the_cutover_and_the_fix_works(
    ssm: RunningSSM, make_agent: MakeAgent, pki_dir: Path
) -> None:
    inst = await registered_runner(ssm, make_agent)
    view = await start(ssm)
    assert view["phase"] == "overlap" and view["generation"] == "G2"
    assert view["next_root"]["subject"].startswith("CN=ssmlab Lab Root CA G2,")
    # the lab distributes both roots; this agent seeded its truststore before: the old one only
    assert len(pki.load_certs((pki_dir / "truststore.pem").read_bytes())) == 2
    assert [pki.common_name(c) for c in inst.transport.truststore.roots()] == ["ssmlab Lab Root CA"]

    await ssm.clock.advance(timedelta(days=29))
    status = await inst.renew_authorization()  # the overlap: nothing served has changed
    assert status.license_authorization_status is AuthorizationStatus.AUTHORIZED

    await ssm.clock.advance(timedelta(days=2))  # past the cutover (domain time)
    _, after = await ssm.lab("GET", "/_lab/pki/rollover")
    assert after["phase"] == "done" and after["previous_roots"] == ["ssmlab Lab Root CA"]
    assert pki.common_name(pki.load_cert((pki_dir / "ca.pem").read_bytes())) == "ssmlab Lab Root CA G2"
    with pytest.raises(SmartLicensingError) as err:
        await inst.renew_authorization()
    assert err.value.code == "tls_untrusted_root", err.value
    assert "ssmlab Lab Root CA G2" in err.value.message
    assert "trust import" in err.value.fix

    # the printed fix: import the root the SSM offers now
    status_code, ca_pem = await ssm.lab("GET", "/_lab/tls/ca.pem")
    assert status_code == 200 and pki.common_name(pki.load_cert(ca_pem)) == "ssmlab Lab Root CA G2"
    inst.transport.truststore.add("ssmlab-lab-root-ca-g2", ca_pem)
    status = await inst.renew_authorization()  # the reply is signed by the new signing certificate
    assert status.reason is None and status.license_authorization_status is AuthorizationStatus.AUTHORIZED


async def test_an_agent_given_the_new_root_in_the_overlap_never_fails_and_renews_under_the_new_ca(
    ssm: RunningSSM, make_agent: MakeAgent
) -> None:
    inst = await registered_runner(ssm, make_agent)
    status, _ = await ssm.lab("POST", "/_lab/device-mtls", {"enabled": True})
    assert status == 200
    await inst.renew_authorization()
    assert issuer_of(inst) == "ssmlab Issuing CA"
    await start(ssm)
    status, next_root = await ssm.lab("GET", "/_lab/pki/next-ca.pem")
    assert status == 200
    inst.transport.truststore.add("ssmlab-lab-root-ca-g2", next_root)
    for _ in range(8):  # through the cutover, a renewal every 5 days: none fails
        await ssm.clock.advance(timedelta(days=5))
        view = await inst.renew_authorization()
        assert view.reason is None, view.reason
    _, plan = await ssm.lab("GET", "/_lab/pki/rollover")
    assert plan["phase"] == "done"
    # the ID certificate of the old issuing CA is still accepted in the handshake (mutual TLS) ...
    _, seen = await ssm.lab("GET", "/_lab/device-mtls")
    assert seen["presented"][inst.state.piid]["issuer"] == "ssmlab Issuing CA"
    # ... and the renewal of registration issues one from the new issuing CA, accepted in turn
    await inst.renew_registration()
    assert issuer_of(inst) == "ssmlab Issuing CA G2"
    await inst.renew_authorization()
    _, seen = await ssm.lab("GET", "/_lab/device-mtls")
    assert seen["presented"][inst.state.piid] == {**seen["presented"][inst.state.piid], "verdict": "ok"}
    assert seen["presented"][inst.state.piid]["issuer"] == "ssmlab Issuing CA G2"


async def test_cut_over_now_and_the_refusals(ssm: RunningSSM) -> None:
    status, body = await ssm.lab("POST", "/_lab/pki/rollover/cutover")
    assert status == 409 and body["error"] == "no_rollover" and body["fix"]
    status, body = await ssm.lab("GET", "/_lab/pki/next-ca.pem")
    assert status == 404 and body["error"] == "no_rollover"
    status, body = await ssm.lab("POST", "/_lab/pki/rollover", {"overlap": "soon"})
    assert status == 400 and body["error"] == "invalid_duration"
    await start(ssm, "10d")
    status, body = await ssm.lab("POST", "/_lab/pki/rollover", {"overlap": "10d"})
    assert status == 409 and body["error"] == "rollover_in_progress"
    status, view = await ssm.lab("POST", "/_lab/pki/rollover/cutover")
    assert status == 200 and view["phase"] == "done"
    assert view["cutover_at"] == ssm.clock.now().isoformat()  # when it happened, not when it was planned
    # a second rollover makes G3, and keeps trusting both earlier roots for ID certificates
    view = await start(ssm, "1d")
    assert view["generation"] == "G3"
    status, view = await ssm.lab("POST", "/_lab/pki/rollover/cutover")
    assert view["previous_roots"] == ["ssmlab Lab Root CA", "ssmlab Lab Root CA G2"]
