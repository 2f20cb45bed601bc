"""``ssmlab``: bring up the lab (lab PKI, a cloud SSM, a Smart Agent) with one command.

    ssmlab up [--fresh] [--ssm-port 8443] [--agent-port 8787] [--dir var/lab]
    ssmlab clock show | advance DURATION | rate R    (moves the SSM and the agent together)
    ssmlab proxy [--listen 127.0.0.1:3128] [--connect-to HOST:PORT=ADDR:PORT ...] [--refuse]

It runs ``ssm-server`` and ``smart-agent`` as child processes and talks to them only over
their HTTP APIs and command lines; it never imports ``server`` or ``agent``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lab import proxy

AGENT_TOML = """\
# Written by 'ssmlab up'. Edit freely; 'ssmlab up --fresh' rewrites it.
data_dir = "agent"
api = "127.0.0.1:{agent_port}"

[transport]
url = "https://smartreceiver.cisco.com/licservice/license"
truststore = "{truststore}"

[resolve]
"smartreceiver.cisco.com:443" = "127.0.0.1:{ssm_port}"
"tools.cisco.com:443" = "127.0.0.1:{ssm_port}"

[[instances]]
name = "ucce-1"
product = "Unified CCE"
deployment_type = "Unified CCE 2000 Agents"
license_type = "Flex"
usage_mode = "Production"
"""


def _py(*args: str) -> list[str]:
    return [sys.executable, "-m", *args]


def _get(url: str, ctx: ssl.SSLContext | None = None, timeout: float = 2.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout, context=ctx) as resp:
        return json.loads(resp.read())


def _wait(url: str, proc: subprocess.Popen[bytes], log: Path, ctx: ssl.SSLContext | None = None) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"ssmlab: a lab process exited early; see {log}:\n{log.read_text()[-2000:]}")
        try:
            _get(url, ctx)
            return
        except (urllib.error.URLError, OSError, ValueError):
            time.sleep(0.2)
    raise SystemExit(f"ssmlab: {url} did not answer within 30 s; see {log}")


def _post(url: str, body: dict[str, Any]) -> Any:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read())


def up(args: argparse.Namespace) -> int:
    lab: Path = args.dir
    certs: Path = args.certs
    if args.fresh and lab.exists():
        shutil.rmtree(lab)
    lab.mkdir(parents=True, exist_ok=True)

    print("ssmlab: lab PKI")
    subprocess.run(_py("server", "pki", "init", "--out", str(certs)), check=True)

    ssm_log = (lab / "ssm.log").open("ab")
    ssm = subprocess.Popen(
        _py(
            "server",
            "run",
            "--listen",
            f"127.0.0.1:{args.ssm_port}",
            "--db",
            str(lab / "ssm.db"),
            "--certs",
            str(certs),
            "--log-format",
            "json",
        ),
        stdout=ssm_log,
        stderr=ssm_log,
    )
    procs: list[subprocess.Popen[bytes]] = [ssm]
    try:
        ctx = ssl.create_default_context(cafile=str(certs / "truststore.pem"))
        ssm_url = f"https://127.0.0.1:{args.ssm_port}"
        _wait(f"{ssm_url}/_lab/health", ssm, lab / "ssm.log", ctx)
        print(f"ssmlab: SSM (cloud) up at {ssm_url}  (log {lab / 'ssm.log'})")

        config = lab / "agent.toml"
        if not config.exists():
            config.write_text(
                AGENT_TOML.format(
                    agent_port=args.agent_port, ssm_port=args.ssm_port, truststore=(certs / "truststore.pem").resolve()
                )
            )
        agent_log = (lab / "agent.log").open("ab")
        agent = subprocess.Popen(
            _py(
                "agent",
                "--config",
                str(config),
                "run",
            ),
            stdout=agent_log,
            stderr=agent_log,
        )
        procs.append(agent)
        api = f"http://127.0.0.1:{args.agent_port}"
        _wait(f"{api}/_lab/health", agent, lab / "agent.log")
        print(f"ssmlab: Smart Agent up, local API {api}  (log {lab / 'agent.log'})")

        for inst in _get(f"{api}/api/v1/status")["instances"]:
            name = inst["product_instance_name"]
            if inst["registration_status"] == "Registered":
                print(f"ssmlab: {name} is already registered (resumed lab)")
                continue
            token = subprocess.run(
                _py(
                    "server",
                    "token",
                    "create",
                    "--va",
                    "DEFAULT",
                    "--db",
                    str(lab / "ssm.db"),
                    "--description",
                    f"ssmlab up: {name}",
                    "-q",
                ),
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
            print(f"ssmlab: registering {name} with a new token from virtual account DEFAULT")
            result = _post(f"{api}/api/v1/instances/{name}/register", {"token": token})
            if "error" in result:
                print(f"ssmlab: registration failed: {result.get('message')} (fix: {result.get('fix')})")

        print()
        subprocess.run(_py("agent", "--config", str(config), "status"), check=False)
        print()
        print("The lab is running. In another terminal:")
        print(f"  .venv/bin/smart-agent --config {config} status")
        print(f"  .venv/bin/ssm-server instance list --db {lab / 'ssm.db'}")
        print(f"  curl --cacert {certs / 'ca.pem'} {ssm_url}/_lab/health")
        print("Press Ctrl-C to stop both processes (state is kept; 'make run' resumes it).")
        _wait_for_interrupt(procs)
    finally:
        _stop(procs)
    print("ssmlab: stopped")
    return 0


def _wait_for_interrupt(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    stop = False

    def handler(_sig: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    while not stop:
        for p in procs:
            if p.poll() is not None:
                print(f"ssmlab: process {p.pid} exited with {p.returncode}; see the logs in var/lab/")
                return
        time.sleep(0.3)


def _stop(procs: Sequence[subprocess.Popen[bytes]]) -> None:
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in reversed(procs):
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="ssmlab", description="the ssmlab lab: SSM + Smart Agent + lab PKI")
    sub = p.add_subparsers(dest="verb", required=True)
    u = sub.add_parser("up", help="start the lab (resumes the persisted one)")
    u.add_argument("--fresh", action="store_true", help="discard the persisted lab and start over")
    u.add_argument("--dir", type=Path, default=Path("var/lab"))
    u.add_argument("--certs", type=Path, default=Path("certs"))
    u.add_argument("--ssm-port", type=int, default=8443)
    u.add_argument("--agent-port", type=int, default=8787)
    ck = sub.add_parser("clock", help="the SSM's and the agent's clocks, together")
    ck.add_argument("--ssm", default="https://127.0.0.1:8443")
    ck.add_argument("--agent", default="http://127.0.0.1:8787")
    ck.add_argument("--cacert", type=Path, default=Path("certs/ca.pem"))
    cks = ck.add_subparsers(dest="clock_verb", required=True)
    cks.add_parser("show")
    cka = cks.add_parser("advance")
    cka.add_argument("duration", help="e.g. 30d, 36h, 15m, 1y, P90D")
    ckr = cks.add_parser("rate")
    ckr.add_argument("rate", type=float, help="domain seconds per real second (86400: a day a second; 0 freezes)")
    proxy.add_parser(sub)
    args = p.parse_args(argv)
    if args.verb == "clock":
        return _clock(args)
    if args.verb == "proxy":
        return proxy.run(args)
    return up(args)


def _clock(args: argparse.Namespace) -> int:
    from lab import clock
    from plumbing.labclient import LabError

    endpoints = [clock.Endpoint("ssm", args.ssm, args.cacert), clock.Endpoint("agent", args.agent)]
    try:
        if args.clock_verb == "advance":
            target, steps = clock.advance(endpoints, args.duration)
            print(f"advanced to {target.isoformat()} in {steps} step(s)")
        elif args.clock_verb == "rate":
            clock.set_rate(endpoints, args.rate)
        for name, view in clock.show(endpoints):
            nxt = f", next timer {view['next_deadline']}" if view.get("next_deadline") else ""
            print(f"{name:<6} {view['now']}  ({view['kind']} clock, rate {view['rate']:g}{nxt})")
    except (LabError, ValueError) as exc:
        print(f"ssmlab clock: {getattr(exc, 'message', exc)}", file=sys.stderr)
        if getattr(exc, "fix", ""):
            print(f"  fix: {exc.fix}", file=sys.stderr)  # type: ignore[union-attr]
        return 1
    return 0
