"""A TLS drill as a person runs it, with the installed console scripts over real TLS: switch the
SSM to a broken certificate, see the agent fail with the code, diagnose it, run the fix command
it prints (word for word), register; then the Transport Settings verbs."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.running import cli, start_ssm, stop, wait_for_file

pytestmark = pytest.mark.e2e


def test_untrusted_root_drill_and_transport_verbs(workdir: Path) -> None:
    """tls list/set, a failing register with its code, diagnose (table and --json, exit 1), the
    printed 'smart-agent trust import' run as printed, then register succeeds; transport set
    refuses a rule-breaking URL and switches to Call Home; SmartAgent.log has the failure."""
    run = subprocess.run
    run([cli("ssm-server"), "pki", "init", "--out", "certs"], capture_output=True, check=True)
    ssm = start_ssm()
    agent = None
    try:
        port = wait_for_file(workdir / "ssm.port", ssm)
        ssm_url = f"https://127.0.0.1:{port}"
        (workdir / "agent.toml").write_text(
            'data_dir = "var/agent"\napi = "127.0.0.1:0"\n[transport]\ntruststore = "certs/truststore.pem"\n'
            f'[resolve]\n"smartreceiver.cisco.com:443" = "127.0.0.1:{port}"\n'
            f'"tools.cisco.com:443" = "127.0.0.1:{port}"\n[[instances]]\nname = "ucce-1"\n'
        )
        agent = subprocess.Popen([cli("smart-agent"), "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for_file(workdir / "var/agent/api.url", agent)

        def sa(*args: str) -> subprocess.CompletedProcess[str]:
            return run([cli("smart-agent"), *args], capture_output=True, text=True)

        def tls(*args: str) -> subprocess.CompletedProcess[str]:
            return run([cli("ssm-server"), "tls", "--url", ssm_url, *args], capture_output=True, text=True)

        listed = tls("list")
        assert listed.returncode == 0, listed.stderr
        assert "* good" in listed.stdout and "untrusted-root" in listed.stdout and "customer-ca" in listed.stdout
        assert tls("set", "untrusted-root").returncode == 0
        token = run(
            [cli("ssm-server"), "token", "create", "--va", "DEFAULT", "--db", "var/ssm.db", "-q"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip

        failed = sa("register", token)
        assert failed.returncode == 1 and "(tls_untrusted_root)" in failed.stderr
        status = sa("status").stdout
        assert "Last failure:" in status and "tls_untrusted_root" in status
        table = sa("diagnose")
        assert table.returncode == 1 and "verdict: FAIL tls_untrusted_root" in table.stdout
        assert "chain as served:" in table.stdout and "ssmlab Untrusted Issuing CA" in table.stdout
        report = json.loads(sa("diagnose", "--json").stdout)
        assert report["ok"] is False and report["verdict"]["code"] == "tls_untrusted_root"
        fix = re.search(r"smart-agent trust import \S+ --alias \S+", report["verdict"]["fix"])
        assert fix, report["verdict"]["fix"]
        imported = sa(*shlex.split(fix.group(0))[1:])
        assert imported.returncode == 0, imported.stderr
        assert "Certificate was added" in imported.stdout
        if shutil.which("keytool"):
            kt = run(["keytool", "-list", "-keystore", "var/agent/cacerts", "-storepass", "changeit"],
                     capture_output=True, text=True, check=True)  # fmt: skip
            assert "ssmlab-untrusted-root-ca" in kt.stdout
        assert sa("register", token).returncode == 0

        refused = sa("transport", "set", "--gateway", f"http://127.0.0.1:{port}/licservice/license")
        assert refused.returncode == 1 and "URL rule 'https only'" in refused.stderr
        assert f"https://127.0.0.1:{port}/licservice/license" in refused.stderr
        switched = sa("transport", "set", "--mode", "call-home")
        assert switched.returncode == 0, switched.stderr
        assert "Smart Call Home (Deprecated)" in switched.stdout and "tools.cisco.com" in switched.stdout
        assert "Renew Authorization succeeded" in sa("renew", "auth").stdout
        shown = json.loads(sa("transport", "show", "--json").stdout)
        assert shown["settings"]["mode"] == "Smart Call Home (Deprecated)"
        log = (workdir / "var/agent/SmartAgent.log").read_text()
        assert "ERROR  ucce-1  register  tls_untrusted_root:" in log and "communication with the SSM restored" in log
    finally:
        agent_log = stop(agent) if agent is not None else ""
        ssm_log = stop(ssm)
    assert ssm.returncode == 0, ssm_log
    assert agent is not None and agent.returncode == 0, agent_log
