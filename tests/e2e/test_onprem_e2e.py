"""An SSM On-Prem in Disconnected mode beside a cloud SSM, as a user types it: each database knows
what kind of SSM it is (verbs of the other kind refuse), the Disconnected On-Prem refuses to
synchronize over the network, the cloud lists its On-Prems, and an On-Prem the cloud removed
after 90 days registers again. Each a real subprocess of the installed console scripts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.e2e.running import cli, run_ssm, stop, wait_for_file

pytestmark = pytest.mark.e2e


def ssm(*args: str, db: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([cli("ssm-server"), *args, "--db", db], capture_output=True, text=True)


def ok(*args: str, db: str) -> str:
    out = ssm(*args, db=db)
    assert out.returncode == 0, out.stderr
    return out.stdout


def refused(*args: str, db: str) -> str:
    out = ssm(*args, db=db)
    assert out.returncode == 2, (out.stdout, out.stderr)
    assert "fix:" in out.stderr, out.stderr
    return out.stderr


def test_a_disconnected_onprem_from_the_command_line(workdir: Path) -> None:
    subprocess.run([cli("ssm-server"), "pki", "init", "--out", "certs"], capture_output=True, check=True)
    cloud_db, onprem_db = "var/cloud.db", "var/onprem.db"
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        return run_ssm(procs, *args)

    try:
        cloud = start("--listen", "127.0.0.1:0", "--port-file", "cloud.port", "--db", cloud_db)
        cport = wait_for_file(workdir / "cloud.port", cloud)
        op = start("--mode", "onprem", "--sync", "disconnected", "--listen", "127.0.0.1:0",
                   "--port-file", "onprem.port", "--db", onprem_db)  # fmt: skip
        oport = wait_for_file(workdir / "onprem.port", op)
        url = f"https://127.0.0.1:{cport}/licservice/license"

        # the On-Prem's database is an On-Prem's: its own account's tokens, no cloud purchase
        assert ok("token", "create", "--va", "DEFAULT", "-q", db=onprem_db).strip()
        accounts = json.loads(ok("account", "list", "--json", db=onprem_db))
        assert [a["domain"] for a in accounts] == ["onprem.ssmlab.example"]
        err = refused("license", "add", "--type", "Flex", "--name", "Premium Agent", "--quantity", "5", db=onprem_db)
        assert "this database is an SSM On-Prem's" in err
        assert "is for an SSM On-Prem" in refused("sync", "now", db=cloud_db)

        token = ok("token", "create", "--va", "DEFAULT", "-q", db=cloud_db).strip()
        reg = ok("onprem", "register", token, "--cloud", url, "--name", "branch-e2e", db=onprem_db)
        assert "as branch-e2e" in reg
        # Disconnected: never over the network; the files carry it
        assert "Disconnected mode" in refused("sync", "now", db=onprem_db)
        ok("sync", "export", "--out", "request.json", db=onprem_db)
        ok("sync", "import", "request.json", "--out", "response.json", db=cloud_db)
        assert "sync response applied (sequence 1)" in ok("sync", "import", "response.json", db=onprem_db)
        status = ok("sync", "status", db=cloud_db)
        assert "this is a cloud SSM" in status and "branch-e2e" in status
        assert "branch-e2e (Disconnected mode)" in ok("sync", "status", db=onprem_db)

        # 91 days later (both clocks) the cloud has removed it; its next request file says how to
        # come back, and the On-Prem knows its deadline passed: it registers again
        for port in (cport, oport):
            subprocess.run(
                [cli("ssm-server"), "clock", "--url", f"https://127.0.0.1:{port}", "--cacert", "certs/ca.pem",
                 "advance", "91d"],
                capture_output=True, check=True,
            )  # fmt: skip
        ok("sync", "export", "--out", "request2.json", db=onprem_db)
        err = refused("sync", "import", "request2.json", "--out", "response2.json", db=cloud_db)
        assert "ssm-server onprem register TOKEN --cloud URL" in err and "smart-agent" not in err
        token = ok("token", "create", "--va", "DEFAULT", "-q", db=cloud_db).strip()
        assert "as branch-e2e" in ok("onprem", "register", token, "--cloud", url, db=onprem_db)
        ok("sync", "export", "--out", "request3.json", db=onprem_db)
        ok("sync", "import", "request3.json", "--out", "response3.json", db=cloud_db)
        assert "sync response applied (sequence 1)" in ok("sync", "import", "response3.json", db=onprem_db)
        listed = json.loads(ok("sync", "status", "--json", db=cloud_db))["onprems"]
        assert [(o["name"], o["status"]) for o in listed] == [
            ("branch-e2e", "removed (removed)"),
            ("branch-e2e", "registered"),
        ]
    finally:
        logs = [stop(p) for p in reversed(procs)]
    assert all(p.returncode == 0 for p in procs), logs
