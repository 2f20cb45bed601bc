"""Every TLS drill, end to end over real TLS: the SSM switches its certificate, the agent's
registration fails with the drill's diagnosis code (in status, in SmartAgent.log, and in
``diagnose``), and the fix it prints — applied exactly as printed — makes the next attempt
succeed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from agent.smartlog import FILENAME
from shared.errors import Unavailable
from shared.states import ConnectionMode, RegistrationStatus
from shared.transportsettings import TransportSettings
from tests.conftest import MakeAgent, RunningAgent, RunningSSM

#: mode -> (the agent's URL, the diagnosis code, what the fix does)
DRILLS = {
    "wrong-host": (None, "tls_host_mismatch", "url"),
    "ip-only": (None, "tls_host_name_vs_ip", "url"),
    "cn-only": ("https://127.0.0.1:{port}/licservice/license", "tls_host_cn_only", "url"),
    "expired": (None, "tls_cert_expired", "ssm"),
    "not-yet-valid": (None, "tls_cert_not_yet_valid", "ssm"),
    "self-signed": (None, "tls_self_signed", "trust"),
    "untrusted-root": (None, "tls_untrusted_root", "trust"),
    "incomplete-chain": (None, "tls_chain_incomplete", "trust"),
    "customer-ca": (None, "tls_untrusted_root", "trust"),
}

TRUST_IMPORT = re.compile(r"smart-agent trust import (\S+) --alias (\S+)")
SET_URL = re.compile(r"smart-agent transport set (?:--gateway (\S+)|--mode (\S+) --direct)")
KEYTOOL = re.compile(r"keytool -keystore (\S+) -trustcacerts -import -file (\S+) -alias (\S+) -storepass changeit")


async def apply_fix(fix: str, kind: str, running: RunningAgent, ssm: RunningSSM) -> str:
    """Do what the printed fix says, the way a person would; return what was done."""
    agent = running.agent
    if kind == "trust":
        m = TRUST_IMPORT.search(fix)
        assert m, fix
        assert KEYTOOL.search(fix), fix  # the seed's keytool form is offered too
        agent.trust_import(m.group(2), Path(m.group(1)).read_bytes())
        return f"trust import {m.group(1)}"
    if kind == "url":
        m = SET_URL.search(fix)
        assert m, fix
        if m.group(1):
            await agent.set_transport(TransportSettings(connection=ConnectionMode.GATEWAY, url=m.group(1)))
        else:
            await agent.set_transport(TransportSettings())
        return m.group(0)
    # the SSM the agent reached, not the default one (issue 16, item 16)
    command = f"ssm-server tls --url https://127.0.0.1:{ssm.port} set good"
    assert command in fix, fix
    await ssm.set_tls("good")
    return command


@pytest.mark.parametrize("mode", list(DRILLS))
async def test_drill_is_diagnosed_and_its_printed_fix_works(ssm: RunningSSM, make_agent: MakeAgent, mode: str) -> None:
    """The drill's code reaches the caller, status, SmartAgent.log and diagnose; applying the
    printed fix makes registration succeed, and diagnose then passes."""
    url, code, kind = DRILLS[mode]
    extra = f'url = "{url.format(port=ssm.port)}"' if url else ""
    running = await make_agent(extra=extra, data=f"agent-{mode}")
    inst = running.agent.runner(None)
    await ssm.set_tls(mode)
    token = await ssm.token()

    with pytest.raises(Unavailable) as exc:
        await inst.register(token)
    assert exc.value.code == code, exc.value.message
    fix = exc.value.fix
    reason = inst.status().reason
    assert reason is not None and (reason.code, reason.fix) == (code, fix)
    log = (running.agent.config.data_path / FILENAME).read_text()
    assert f"ERROR  ucce-1  register  {code}: " in log and "| fix: " in log
    report = await running.agent.diagnose()
    assert report.failure is not None and report.failure.code == code
    assert inst.status().registration_status is RegistrationStatus.UNREGISTERED

    await apply_fix(fix, kind, running, ssm)
    view = await inst.register(token)
    assert view.registration_status is RegistrationStatus.REGISTERED
    assert "communication with the SSM restored" in (running.agent.config.data_path / FILENAME).read_text()
    after = await running.agent.diagnose()
    assert after.ok, after.failure
    assert [s.step for s in after.steps][-1] == "path"


async def test_good_mode_needs_no_fix_and_diagnose_passes_every_step(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """In the good mode registration succeeds and every diagnose step is OK, the chain shown."""
    running = await make_agent()
    await ssm.set_tls("good")
    await running.agent.runner(None).register(await ssm.token())
    report = await running.agent.diagnose()
    assert report.ok
    steps = ["url", "resolve", "connect", "tls", "validity", "trust", "hostname", "path"]
    assert [s.step for s in report.steps] == steps
    assert all(s.verdict == "ok" for s in report.steps)
    assert report.chain[0].subject.startswith("CN=smartreceiver.cisco.com")
    assert "ssmlab Lab Root CA" in next(s.detail for s in report.steps if s.step == "trust")


async def test_cn_only_by_name_works_with_a_warning(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """A CN-only certificate reached by its CN name is accepted (as Java and OpenSSL do); diagnose
    warns that it has no SAN."""
    running = await make_agent()
    await ssm.set_tls("cn-only")
    await running.agent.runner(None).register(await ssm.token())
    report = await running.agent.diagnose()
    assert report.ok
    assert [s.step for s in report.steps if s.verdict == "warn"] == ["tls_cn_only_match"]


async def test_diagnose_names_a_path_that_does_not_answer(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """A URL whose TLS is fine but whose path this (cloud) SSM does not serve fails at 'path'."""
    running = await make_agent()
    report = await running.agent.diagnose("https://smartreceiver.cisco.com/SmartTransport")
    assert report.failure is not None and report.failure.code == "path_not_answering"
    assert next(s for s in report.steps if s.step == "trust").verdict == "ok"


async def test_diagnose_refuses_a_url_breaking_a_rule(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """A URL given to diagnose is checked by the URL rules first; nothing is contacted."""
    running = await make_agent()
    report = await running.agent.diagnose("http://smartreceiver.cisco.com/licservice/license")
    assert report.failure is not None and report.failure.code == "url_not_https"
    assert [s.verdict for s in report.steps][1:] == ["skipped"] * 7


async def test_diagnose_url_names_that_url_in_its_messages(ssm: RunningSSM, make_agent: MakeAgent) -> None:
    """'diagnose URL' is about URL: a failure of its last step (the device endpoint, through the
    agent's verifying client) names URL, not the saved one (issue 16, item 16)."""
    running = await make_agent()
    saved = running.agent.transport.url
    other = "https://tools.cisco.com/licservice/license"
    status, _ = await ssm.lab("POST", "/_lab/faults", {"kind": "drop"})
    assert status == 201
    report = await running.agent.diagnose(other)
    assert report.url == other and report.failure is not None
    step = next(s for s in report.steps if s.step == "path")
    assert other in report.failure.message and other in step.detail
    assert saved not in report.failure.message and saved not in step.detail
