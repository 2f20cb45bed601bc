"""End to end, as the README says: pki init, server run, token create, agent run, register,
status --json — each a real subprocess of the installed console scripts, over real TLS."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.running import cli, run_ssm, start_ssm, stop, wait_for_file

pytestmark = pytest.mark.e2e


def test_register_end_to_end_with_the_command_line(workdir: Path) -> None:
    """The README's walk-through works on a fresh folder and ends with Table 2 as JSON."""
    run = subprocess.run
    out = run([cli("ssm-server"), "pki", "init", "--out", "certs"], capture_output=True, text=True, check=True)
    assert "created (lab root CA" in out.stdout

    ssm = start_ssm()
    agent = None
    try:
        port = wait_for_file(workdir / "ssm.port", ssm)
        health = json.loads(
            urllib.request.urlopen(
                f"https://127.0.0.1:{port}/_lab/health",
                context=__import__("ssl").create_default_context(cafile="certs/truststore.pem"),
            ).read()
        )
        assert health["status"] == "ok" and health["mode"] == "cloud"

        token = run(
            [cli("ssm-server"), "token", "create", "--va", "DEFAULT", "--db", "var/ssm.db", "-q"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert "%0A" in token  # Cisco's URL-encoded, line-wrapped base64 form

        (workdir / "agent.toml").write_text(
            'data_dir = "var/agent"\napi = "127.0.0.1:0"\n'
            '[transport]\ntruststore = "certs/truststore.pem"\n'
            f'[resolve]\n"smartreceiver.cisco.com:443" = "127.0.0.1:{port}"\n'
            '[[instances]]\nname = "ucce-1"\nproduct = "Unified CCE"\n'
        )
        agent = subprocess.Popen(
            [cli("smart-agent"), "--config", "agent.toml", "run"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        wait_for_file(workdir / "var/agent/api.url", agent)

        before = json.loads(
            run([cli("smart-agent"), "status", "--json"], capture_output=True, text=True, check=True).stdout
        )
        assert before[0]["registration_status"] == "Unregistered"
        assert before[0]["license_authorization_status"] == "Evaluation Mode"

        bad = run([cli("smart-agent"), "register", "not-a-token"], capture_output=True, text=True)
        assert bad.returncode == 1 and "malformed" in bad.stderr and "fix:" in bad.stderr

        reg = run([cli("smart-agent"), "register", token], capture_output=True, text=True)
        assert reg.returncode == 0, reg.stderr
        assert "Registration Status:" in reg.stdout and "Registered (" in reg.stdout

        status = json.loads(
            run([cli("smart-agent"), "status", "--json"], capture_output=True, text=True, check=True).stdout
        )[0]
        assert status["registration_status"] == "Registered"
        assert status["license_authorization_status"] == "Authorized"
        assert status["export_controlled_functionality"] == "Not Allowed"
        assert status["smart_account"] == "ssmlab Lab Account"
        assert status["virtual_account"] == "DEFAULT"
        assert status["product_instance_name"] == "ucce-1"
        assert status["serial_number"]

        listed = json.loads(
            run(
                [cli("ssm-server"), "instance", "list", "--db", "var/ssm.db", "--json"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        assert [i["piid"] for i in listed] == [status["piid"]]
    finally:
        agent_log = stop(agent) if agent is not None else ""
        ssm_log = stop(ssm)
    assert ssm.returncode == 0, ssm_log
    assert agent is not None and agent.returncode == 0, agent_log
    secret_part = token.split("%")[0]
    assert secret_part not in ssm_log and secret_part not in agent_log  # tokens never reach a log


def test_lifecycle_verbs_and_the_lab_clock(workdir: Path) -> None:
    """The lifecycle verbs as a user types them: ssmlab clock advances SSM and agent together
    (the 30-day renewal happens at its instant on both sides), renew, license-type, deregister."""
    run = subprocess.run
    run([cli("ssm-server"), "pki", "init", "--out", "certs"], capture_output=True, check=True)
    ssm = start_ssm()
    agent = None
    try:
        port = wait_for_file(workdir / "ssm.port", ssm)
        (workdir / "agent.toml").write_text(
            'data_dir = "var/agent"\napi = "127.0.0.1:0"\n[transport]\ntruststore = "certs/truststore.pem"\n'
            f'[resolve]\n"smartreceiver.cisco.com:443" = "127.0.0.1:{port}"\n[[instances]]\nname = "ucce-1"\n'
        )
        agent = subprocess.Popen([cli("smart-agent"), "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        api = wait_for_file(workdir / "var/agent/api.url", agent)

        def agent_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
            return run([cli("smart-agent"), *args], capture_output=True, text=True, check=check)

        lt = agent_cli("license-type", "--type", "Perpetual", "--mode", "Production")
        assert "License Type: Perpetual Production" in lt.stdout
        token = run(
            [cli("ssm-server"), "token", "create", "--va", "DEFAULT", "--db", "var/ssm.db", "-q"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        empty = run([cli("smart-agent"), "register", "-"], input="", capture_output=True, text=True)
        assert empty.returncode == 1 and "malformed" in empty.stderr
        reg = run([cli("smart-agent"), "register", "-"], input=token, capture_output=True, text=True)
        assert reg.returncode == 0, reg.stderr
        refused = agent_cli("license-type", "--type", "Flex", check=False)
        assert refused.returncode == 1 and "deregister" in refused.stderr

        first = json.loads(agent_cli("status", "--json").stdout)[0]
        advanced = run(
            [
                cli("ssmlab"),
                "clock",
                "--ssm",
                f"https://127.0.0.1:{port}",
                "--agent",
                api,
                "--cacert",
                "certs/ca.pem",
                "advance",
                "31d",
            ],
            capture_output=True,
            text=True,
        )
        assert advanced.returncode == 0, advanced.stderr
        assert "ssm" in advanced.stdout and "agent" in advanced.stdout
        after = json.loads(agent_cli("status", "--json").stdout)[0]
        from datetime import datetime, timedelta

        renewed = datetime.fromisoformat(after["authorization_time"])
        assert renewed == datetime.fromisoformat(first["authorization_time"]) + timedelta(days=30)
        assert after["license_authorization_status"] == "Authorized"

        shown = run(
            [cli("ssm-server"), "clock", "--url", f"https://127.0.0.1:{port}", "--cacert", "certs/ca.pem", "show"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert "now " in shown.stdout
        assert "now " in agent_cli("clock", "show").stdout

        assert "Renew Authorization succeeded" in agent_cli("renew", "auth").stdout
        assert "Renew Registration succeeded" in agent_cli("renew", "id").stdout
        blocked = agent_cli("agents", "add", "2")
        assert "2 agent(s) added" in blocked.stdout
        dereg = agent_cli("deregister", "--yes")
        assert "Deregistered" in dereg.stdout and "Unregistered" in dereg.stdout
        listed = json.loads(
            run(
                [cli("ssm-server"), "instance", "list", "--db", "var/ssm.db", "--json"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        assert listed == []
        events = agent_cli("events").stdout
        assert "authorization_renewed" in events and "deregistered" in events
    finally:
        agent_log = stop(agent) if agent is not None else ""
        ssm_log = stop(ssm)
    assert ssm.returncode == 0, ssm_log
    assert agent is not None and agent.returncode == 0, agent_log


def test_usage_and_compliance_from_the_command_line(workdir: Path) -> None:
    """usage set, the lab clock, license list / add, banner, usage show: Scenario 1 as typed."""
    run = subprocess.run
    run([cli("ssm-server"), "pki", "init", "--out", "certs"], capture_output=True, check=True)
    ssm = start_ssm()
    agent = None
    try:
        port = wait_for_file(workdir / "ssm.port", ssm)
        (workdir / "agent.toml").write_text(
            'data_dir = "var/agent"\napi = "127.0.0.1:0"\n[transport]\ntruststore = "certs/truststore.pem"\n'
            f'[resolve]\n"smartreceiver.cisco.com:443" = "127.0.0.1:{port}"\n[[instances]]\nname = "ucce-1"\n'
        )
        agent = subprocess.Popen([cli("smart-agent"), "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        api = wait_for_file(workdir / "var/agent/api.url", agent)

        def sa(*args: str) -> subprocess.CompletedProcess[str]:
            return run([cli("smart-agent"), *args], capture_output=True, text=True)

        def ssm_cli(*args: str) -> str:
            return run(
                [cli("ssm-server"), *args, "--db", "var/ssm.db"], capture_output=True, text=True, check=True
            ).stdout

        def advance(duration: str) -> None:
            out = run(
                [
                    cli("ssmlab"),
                    "clock",
                    "--ssm",
                    f"https://127.0.0.1:{port}",
                    "--agent",
                    api,
                    "--cacert",
                    "certs/ca.pem",
                    "advance",
                    duration,
                ],
                capture_output=True,
                text=True,
            )
            assert out.returncode == 0, out.stderr

        token = ssm_cli("token", "create", "--va", "DEFAULT", "-q").strip()
        assert sa("register", token).returncode == 0
        bad = sa("usage", "set", "Premium Agent=-4")
        assert bad.returncode == 1 and "whole number" in bad.stderr
        unknown = sa("usage", "set", "Wizard=4")
        assert unknown.returncode == 1 and "not a Unified CCE license" in unknown.stderr
        assert sa("usage", "set", "Premium Agent=130").returncode == 0
        advance("75m")
        pools = json.loads(ssm_cli("license", "list", "--json"))
        premium = next(p for p in pools if p["license"] == "Premium Agent" and p["license_type"] == "Flex")
        assert (premium["in_use"], premium["balance"], premium["status"]) == (130, "-30 deficit", "Out of Compliance")
        banner = sa("banner").stdout
        assert "[Out of Compliance]" in banner
        assert "Insufficient Licenses" in ssm_cli("outbox")
        shown = sa("usage", "show").stdout
        assert "Premium Agent" in shown and "Out of Compliance" in shown

        ssm_cli("license", "add", "--type", "Flex", "--name", "Premium Agent", "--quantity", "30")
        advance("15m")
        status = json.loads(sa("status", "--json").stdout)[0]
        assert status["license_authorization_status"] == "Authorized"
        assert "No banner" in sa("banner").stdout
        listed = ssm_cli("instance", "list")
        assert "Premium Agent 130" in listed
    finally:
        agent_log = stop(agent) if agent is not None else ""
        ssm_log = stop(ssm)
    assert ssm.returncode == 0, ssm_log
    assert agent is not None and agent.returncode == 0, agent_log


def test_onprem_connected_end_to_end(workdir: Path) -> None:
    """Two SSM processes (cloud, On-Prem with an admin listener) and an agent registered to the
    On-Prem's /SmartTransport: usage counts in the cloud after 'ssm-server sync now'; the wrong
    device path of each mode answers 404."""
    import ssl as _ssl

    run = subprocess.run
    run([cli("ssm-server"), "pki", "init", "--out", "certs"], capture_output=True, check=True)
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str) -> subprocess.Popen[str]:
        return run_ssm(procs, *args)

    try:
        cloud = start("--listen", "127.0.0.1:0", "--port-file", "cloud.port", "--db", "var/cloud.db")
        cport = wait_for_file(workdir / "cloud.port", cloud)
        op = start(
            "--mode",
            "onprem",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--port-file",
            "onprem.port",
            "--db",
            "var/onprem.db",
            "--sync",
            "connected",
        )
        dport, aport = wait_for_file(workdir / "onprem.port", op).split()
        ctx = _ssl.create_default_context(cafile="certs/truststore.pem")

        def status_of(url: str) -> int:
            req = urllib.request.Request(url, data=b"{}", method="POST", headers={"Content-Type": "application/json"})
            try:
                return urllib.request.urlopen(req, context=ctx).status
            except urllib.error.HTTPError as exc:
                return exc.code

        assert status_of(f"https://127.0.0.1:{cport}/SmartTransport") == 404
        assert status_of(f"https://127.0.0.1:{dport}/licservice/license") == 404
        assert status_of(f"https://127.0.0.1:{dport}/SmartTransport") == 400

        def ssm_cli(*args: str, db: str) -> str:
            out = run([cli("ssm-server"), *args, "--db", db], capture_output=True, text=True)
            assert out.returncode == 0, out.stderr
            return out.stdout

        cloud_token = ssm_cli("token", "create", "--va", "DEFAULT", "-q", db="var/cloud.db").strip()
        reg = ssm_cli(
            "onprem",
            "register",
            cloud_token,
            "--cloud",
            f"https://127.0.0.1:{cport}/licservice/license",
            db="var/onprem.db",
        )
        assert "registered to cloud account lab.ssmlab.example" in reg
        assert "synchronized (sequence 1)" in ssm_cli("sync", "now", db="var/onprem.db")
        assert "Premium Agent" in ssm_cli("license", "list", db="var/onprem.db")

        (workdir / "agent.toml").write_text(
            'data_dir = "var/agent"\napi = "127.0.0.1:0"\n'
            f'[transport]\nurl = "https://127.0.0.1:{dport}/SmartTransport"\ntruststore = "certs/truststore.pem"\n'
            '[[instances]]\nname = "ucce-1"\n'
        )
        agent = subprocess.Popen([cli("smart-agent"), "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(agent)
        api = wait_for_file(workdir / "var/agent/api.url", agent)
        local_token = ssm_cli("token", "create", "--va", "DEFAULT", "-q", db="var/onprem.db").strip()
        reg = run([cli("smart-agent"), "register", local_token], capture_output=True, text=True)
        assert reg.returncode == 0, reg.stderr
        assert "SSM On-Prem Account" in reg.stdout
        run([cli("smart-agent"), "usage", "set", "Premium Agent=30"], check=True, capture_output=True)
        adv = run(
            [
                cli("ssmlab"),
                "clock",
                "--ssm",
                f"https://127.0.0.1:{aport}",
                "--agent",
                api,
                "--cacert",
                "certs/ca.pem",
                "advance",
                "15m",
            ],
            capture_output=True,
            text=True,
        )
        assert adv.returncode == 0, adv.stderr
        run(
            [
                cli("ssm-server"),
                "clock",
                "--url",
                f"https://127.0.0.1:{cport}",
                "--cacert",
                "certs/ca.pem",
                "advance",
                "15m",
            ],
            check=True,
            capture_output=True,
        )
        before = json.loads(ssm_cli("license", "list", "--json", db="var/cloud.db"))
        assert next(p for p in before if p["license"] == "Premium Agent" and p["license_type"] == "Flex")["in_use"] == 0
        assert "synchronized (sequence 2)" in ssm_cli("sync", "now", db="var/onprem.db")
        after = json.loads(ssm_cli("license", "list", "--json", db="var/cloud.db"))
        assert next(p for p in after if p["license"] == "Premium Agent" and p["license_type"] == "Flex")["in_use"] == 30
        assert "sequence:         2 built, 2 applied" in ssm_cli("sync", "status", db="var/onprem.db")
    finally:
        logs = [stop(p) for p in reversed(procs)]
    assert all(p.returncode == 0 for p in procs), logs


def test_admin_api_and_reservation_from_the_command_line(workdir: Path) -> None:
    """The README's admin API and Specific License Reservation walk-throughs, as typed: an API
    client, a token over TLS, the reserve operation, install from a file, confirm, return."""
    import ssl

    run = subprocess.run
    run([cli("ssm-server"), "pki", "init", "--out", "certs"], capture_output=True, check=True)
    ssm = start_ssm()
    agent = None
    try:
        port = wait_for_file(workdir / "ssm.port", ssm)
        base = f"https://127.0.0.1:{port}"
        ctx = ssl.create_default_context(cafile="certs/ca.pem")

        def ssm_cli(*args: str) -> str:
            return run(
                [cli("ssm-server"), *args, "--db", "var/ssm.db"], capture_output=True, text=True, check=True
            ).stdout

        client = json.loads(ssm_cli("api-client", "create", "--name", "e2e", "--json"))

        def post(path: str, body: dict[str, object] | bytes, token: str = "") -> tuple[int, dict[str, object]]:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers = {
                "Content-Type": "application/x-www-form-urlencoded" if isinstance(body, bytes) else "application/json"
            }
            if token:
                headers["Authorization"] = f"Bearer {token}"
            req = urllib.request.Request(base + path, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, context=ctx, timeout=10) as resp:
                    return resp.status, json.loads(resp.read())
            except urllib.error.HTTPError as exc:
                return exc.code, json.loads(exc.read())

        form = f"grant_type=client_credentials&client_id={client['client_id']}&client_secret={client['client_secret']}"
        status, body = post("/as/token.oauth2", form.encode())
        assert status == 200 and body["expires_in"] == 3599
        token = str(body["access_token"])

        (workdir / "agent.toml").write_text(
            'data_dir = "var/agent"\napi = "127.0.0.1:0"\n[transport]\ntruststore = "certs/truststore.pem"\n'
            f'[resolve]\n"smartreceiver.cisco.com:443" = "127.0.0.1:{port}"\n'
            '[[instances]]\nname = "cvp-1"\nproduct = "CVP"\ndeployment_type = "CVP"\n'
        )
        agent = subprocess.Popen([cli("smart-agent"), "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_for_file(workdir / "var/agent/api.url", agent)

        def sa(*args: str) -> subprocess.CompletedProcess[str]:
            return run([cli("smart-agent"), *args], capture_output=True, text=True)

        code = json.loads(sa("reservation", "request", "--json").stdout)["reservation_request_code"]
        licenses = json.loads(ssm_cli("license", "list", "--json"))
        tag = next(p["tag"] for p in licenses if p["license"] == "Premium Agent" and p["license_type"] == "Flex")
        va = "/services/api/smart-accounts-and-licensing/v2/accounts/lab.ssmlab.example/virtual-accounts/DEFAULT"
        request = {
            "reservationCode": code,
            "reservationType": "SPECIFIC",
            "licenses": [{"entitlementTag": tag, "quantity": 20}],
        }
        status, body = post(f"{va}/reserve-licenses", {"reservationRequests": [request]}, token)
        assert status == 200, body
        auth = body["authorizationCodes"][0]["authorizationCode"]  # type: ignore[index]
        (workdir / "auth.txt").write_text(auth + "\n")

        bad = sa("reservation", "install", "nowhere.txt")
        assert bad.returncode == 1 and "neither an authorization code nor a file" in bad.stderr and "fix:" in bad.stderr
        installed = sa("reservation", "install", "auth.txt")
        assert installed.returncode == 0, installed.stderr
        assert "Registered - Specific License Reservation" in installed.stdout
        assert "Authorized - Reserved" in installed.stdout
        confirmation = installed.stdout.split("Confirmation code")[1].splitlines()[1].strip()
        status_json = json.loads(sa("status", "--json").stdout)[0]
        assert status_json["reservation_confirmation_code"] == confirmation
        serial = status_json["serial_number"]
        sudi = {"udiPid": "CVP", "udiSerialNumber": serial}
        status, body = post(
            f"{va}/confirm-licenses",
            {"reservationConfirmationRequests": [{"sudi": sudi, "confirmationCode": confirmation}]},
            token,
        )
        assert status == 200, body
        listed = ssm_cli("reservation", "list")
        assert f"CVP:{serial}" in listed and "Confirmed" in listed

        returned = sa("reservation", "return")
        assert returned.returncode == 0 and "Unregistered" in returned.stdout
        return_code = returned.stdout.split("Return code")[1].splitlines()[1].strip()
        status, body = post(
            f"{va}/devices/remove",
            {"productInstancesRemoveRequests": [{"sudi": sudi, "returnCode": return_code}]},
            token,
        )
        assert status == 200, body
        listed = ssm_cli("reservation", "list")
        assert "no reservation" in listed
    finally:
        agent_log = stop(agent) if agent is not None else ""
        ssm_log = stop(ssm)
    assert ssm.returncode == 0, ssm_log
    assert agent is not None and agent.returncode == 0, agent_log
    assert client["client_secret"] not in ssm_log + agent_log  # nothing secret in the logs
    assert token not in ssm_log
