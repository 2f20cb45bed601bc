"""The second drill catalog (issue 19), end to end over real TLS: the agent's registration fails
with the drill's real cause (not "connection lost", not "incomplete chain"), ``diagnose`` names it,
and the fix it prints, applied as printed, makes the next registration succeed."""

from __future__ import annotations

import pytest

from agent.smartlog import FILENAME
from shared.errors import Unavailable
from shared.states import RegistrationStatus
from tests.conftest import MakeAgent, RunningSSM

#: mode -> (the diagnosis code, the drill mode the printed fix serves)
DRILLS = {
    "wildcard-mismatch": ("tls_wildcard_mismatch", "wildcard"),
    "sha1-signature": ("tls_weak_signature", "good"),
    "weak-key": ("tls_weak_key", "good"),
    "tls1.0-only": ("tls_protocol_too_old", "good"),
    "wrong-eku": ("tls_wrong_eku", "good"),
    "no-basic-constraints": ("tls_issuer_not_ca", "good"),
    "name-constraints": ("tls_name_constraints", "good"),
    "expired-intermediate": ("tls_ca_expired", "good"),
    "client-cert-required": ("tls_client_cert_required", "good"),
}


@pytest.mark.parametrize("mode", list(DRILLS))
async def test_drill_names_its_real_cause_and_its_printed_fix_works(
    ssm: RunningSSM, make_agent: MakeAgent, mode: str
) -> None:
    code, fixed_by = DRILLS[mode]
    running = await make_agent(data=f"agent-{mode}")
    inst = running.agent.runner(None)
    await ssm.set_tls(mode)
    token = await ssm.token()

    with pytest.raises(Unavailable) as exc:
        await inst.register(token)
    assert exc.value.code == code, exc.value.message
    reason = inst.status().reason
    assert reason is not None and reason.code == code
    assert f"ERROR  ucce-1  register  {code}: " in (running.agent.config.data_path / FILENAME).read_text()
    report = await running.agent.diagnose()
    assert report.failure is not None and report.failure.code == code
    command = f"ssm-server tls --url https://127.0.0.1:{ssm.port} set {fixed_by}"
    assert command in exc.value.fix and report.failure.fix_arg == fixed_by, exc.value.fix

    await ssm.set_tls(fixed_by)  # the printed command, as a person runs it
    view = await inst.register(token)
    assert view.registration_status is RegistrationStatus.REGISTERED
    after = await running.agent.diagnose()
    assert after.ok, after.failure


async def test_a_wildcard_of_the_right_depth_matches(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """*.cisco.com covers smartreceiver.cisco.com: registration works and diagnose passes."""
    running = await make_agent()
    await ssm.set_tls("wildcard")
    await running.agent.runner(None).register(await ssm.token())
    report = await running.agent.diagnose()
    assert report.ok, report.failure
    assert report.chain[0].names == "SAN DNS:*.cisco.com"


async def test_a_revoked_certificate_is_refused_and_diagnose_reports_crl_and_ocsp(
    ssm: RunningSSM, make_agent: MakeAgent
) -> None:
    """Revocation checking is soft-fail by default: the revoked drill is refused before any request
    goes out (tls_cert_revoked, naming the CRL's and the OCSP responder's answers); with checking
    off it is accepted; the printed fix works."""
    from shared.revocation import RevocationMode
    from shared.transportsettings import TransportSettings

    running = await make_agent(data="agent-revoked")
    inst = running.agent.runner(None)
    await ssm.set_tls("revoked")
    token = await ssm.token()
    with pytest.raises(Unavailable) as exc:
        await inst.register(token)
    assert exc.value.code == "tls_cert_revoked", exc.value.message
    assert "CRL https://smartreceiver.cisco.com/_lab/pki/crl: revoked" in exc.value.message
    assert "OCSP https://smartreceiver.cisco.com/_lab/pki/ocsp: revoked" in exc.value.message
    report = await running.agent.diagnose()
    assert report.failure is not None and report.failure.code == "tls_cert_revoked"
    step = next(s for s in report.steps if s.step == "revocation")
    assert step.verdict == "fail" and "CRL" in step.detail and "OCSP" in step.detail

    await running.agent.set_transport(TransportSettings(revocation=RevocationMode.OFF))
    assert (await inst.register(token)).registration_status is RegistrationStatus.REGISTERED
    assert not [s for s in (await running.agent.diagnose()).steps if s.step == "revocation"]

    await running.agent.set_transport(TransportSettings(revocation=RevocationMode.HARD_FAIL))
    await ssm.set_tls("good")  # the printed fix: the good certificate names no CRL, so nothing to ask
    assert (await running.agent.diagnose()).ok
