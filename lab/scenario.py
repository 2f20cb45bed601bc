"""Graded scenarios: TOML files of steps and expectations, played on a private lab.

A scenario starts its own SSM and Smart Agent (free loopback ports, a throw-away folder, virtual
clocks on one timeline), plays its steps in order and checks each expectation against what the
two processes answer over HTTP. The report lists every check with what was expected and what was
found; the run passes when every check does.

A scenario file::

    name = "scenario-1"
    description = "..."
    start = "2027-01-04T08:00:00+00:00"      # domain time at the start (optional)

    [[instances]]                            # optional: one Unified CCE 'ucce-1' by default
    name = "ucce-1"
    product = "Unified CCE"
    deployment_type = "Unified CCE 2000 Agents"

    [[step]]
    register = "ucce-1"                      # with a new token of the DEFAULT virtual account

    [[step]]
    expect = "ucce-1"
    authorization = "Authorized"

Each ``[[step]]`` has exactly one action key (see ``ACTIONS``) and that action's arguments.
Actions that talk to the SSM may say ``fails = "CODE"``: the step then expects that refusal.
"""

from __future__ import annotations

import base64
import shutil
import socket
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from lab import clock as lockstep
from lab.processes import Lab
from plumbing.labclient import LabError
from shared import slr
from shared.durations import parse_duration

DEFAULT_START = "2027-01-04T08:00:00+00:00"
DEFAULT_INSTANCE: dict[str, Any] = {
    "name": "ucce-1",
    "product": "Unified CCE",
    "deployment_type": "Unified CCE 2000 Agents",
    "license_type": "Flex",
    "usage_mode": "Production",
}


class ScenarioError(Exception):
    """A scenario file that cannot be played: the message names the step and the fix."""


@dataclass
class Check:
    step: int
    what: str
    expected: Any
    actual: Any
    at: str

    @property
    def passed(self) -> bool:
        return bool(self.expected == self.actual)

    def view(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "what": self.what,
            "expected": self.expected,
            "actual": self.actual,
            "at": self.at,
            "passed": self.passed,
        }


@dataclass
class Scenario:
    name: str
    description: str
    start: str
    instances: list[dict[str, Any]]
    steps: list[dict[str, Any]]
    source: str


# -- parsing ----------------------------------------------------------------------------------

#: action -> (its arguments, the ones required)
ACTIONS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "advance": (frozenset(), frozenset()),
    "register": (frozenset({"va", "fails"}), frozenset()),
    "reregister": (frozenset({"va", "fails"}), frozenset()),
    "deregister": (frozenset({"fails"}), frozenset()),
    "renew": (frozenset({"instance", "fails"}), frozenset()),
    "usage": (frozenset({"set"}), frozenset({"set"})),
    "network": (frozenset(), frozenset()),
    "tls": (frozenset(), frozenset()),
    "trust": (frozenset({"alias"}), frozenset()),
    "apply_fix": (frozenset(), frozenset()),
    "buy": (frozenset({"quantity", "type", "mode", "va"}), frozenset({"quantity"})),
    "reserve": (frozenset({"licenses", "fails"}), frozenset({"licenses"})),
    "return_reservation": (frozenset({"fails"}), frozenset()),
    "transport": (frozenset({"mode", "connection", "url", "proxy_host", "proxy_port"}), frozenset()),
    "expect": (
        frozenset(
            {
                "registration",
                "authorization",
                "enforcement",
                "reason",
                "license",
                "license_status",
                "usage_count",
                "actual_usage",
                "level",
                "status",
                "in_use",
                "va",
                "type",
                "reserved",
            }
        ),
        frozenset(),
    ),
    "expect_event": (frozenset({"kind", "contains"}), frozenset({"kind"})),
    "expect_diagnosis": (frozenset(), frozenset()),
    "note": (frozenset(), frozenset()),
}
#: The lab account's DEFAULT virtual account in the legacy admin API.
VA_API = "/services/api/smart-accounts-and-licensing/v2/accounts/lab.ssmlab.example/virtual-accounts/DEFAULT"
RENEWALS = {"authorization": "renew-authorization", "registration": "renew-registration"}
TRANSPORT_MODES = {"smart-transport": "Smart Transport", "call-home": "Smart Call Home (Deprecated)"}
CONNECTIONS = {"direct": "Direct", "gateway": "Transport Gateway", "proxy": "HTTP/HTTPS Proxy"}


def _action(n: int, step: dict[str, Any]) -> str:
    found = [k for k in step if k in ACTIONS]
    if len(found) != 1:
        raise ScenarioError(
            f"step {n}: give exactly one action, found {found or 'none'} (actions: {', '.join(ACTIONS)})"
        )
    action = found[0]
    allowed, required = ACTIONS[action]
    extra = set(step) - {action} - allowed
    if extra:
        raise ScenarioError(
            f"step {n} ({action}): unknown key(s) {sorted(extra)}; {action} takes {sorted(allowed) or 'no other key'}"
        )
    missing = required - set(step)
    if missing:
        raise ScenarioError(f"step {n} ({action}): missing {sorted(missing)}")
    return action


def parse(text: str, source: str) -> Scenario:
    """A scenario from its TOML text, every step checked before anything runs."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from None
    steps = doc.get("step")
    if not isinstance(steps, list) or not steps:
        raise ScenarioError(f"{source}: no [[step]] tables; a scenario is a list of steps")
    for n, step in enumerate(steps, 1):
        action = _action(n, step)
        if action == "advance":
            try:
                parse_duration(str(step["advance"]))
            except ValueError as exc:
                raise ScenarioError(f"step {n} (advance): {exc}") from None
        if action == "network" and step["network"] not in ("cut", "restore"):
            raise ScenarioError(f"step {n} (network): 'cut' or 'restore', not {step['network']!r}")
        if action == "renew" and step["renew"] not in RENEWALS:
            raise ScenarioError(f"step {n} (renew): 'authorization' or 'registration', not {step['renew']!r}")
    extra = set(doc) - {"name", "description", "start", "instances", "step"}
    if extra:
        raise ScenarioError(f"{source}: unknown top-level key(s) {sorted(extra)}")
    return Scenario(
        name=str(doc.get("name", Path(source).stem)),
        description=str(doc.get("description", "")),
        start=str(doc.get("start", DEFAULT_START)),
        instances=[{**DEFAULT_INSTANCE, **i} for i in doc.get("instances", [{}])],
        steps=steps,
        source=source,
    )


def _builtin_files() -> dict[str, Any]:
    folder = resources.files("lab") / "scenarios"
    return {p.name.removesuffix(".toml"): p for p in folder.iterdir() if p.name.endswith(".toml")}


def builtin() -> list[tuple[str, str]]:
    """(name, description) of every built-in scenario."""
    return sorted((name, parse(p.read_text(), p.name).description) for name, p in _builtin_files().items())


def load(target: str) -> Scenario:
    """A built-in scenario by name, or a scenario file."""
    files = _builtin_files()
    if target in files:
        return parse(files[target].read_text(), f"{target} (built in)")
    path = Path(target)
    if not path.is_file():
        raise ScenarioError(
            f"no built-in scenario and no file named {target!r}; 'ssmlab scenario list' shows the built-in ones"
        )
    return parse(path.read_text(), str(path))


# -- playing ----------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Player:
    lab: Lab
    scenario: Scenario
    checks: list[Check] = field(default_factory=list)
    cut_fault: int | None = None
    #: The UDI (product id, serial) of each instance holding a reservation, for its return.
    sudis: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def first(self) -> str:
        return str(self.scenario.instances[0]["name"])

    def now(self) -> str:
        return str(self.lab.ssm("GET", "/_lab/clock")["now"])

    def check(self, n: int, what: str, expected: Any, actual: Any) -> None:
        self.checks.append(Check(n, what, expected, actual, self.now()))

    def _attempt(self, n: int, step: dict[str, Any], what: str, call: Callable[[], Any]) -> str:
        """Run an action that may be refused; ``fails`` says which refusal is expected."""
        try:
            call()
        except LabError as exc:
            if "fails" not in step:
                raise
            self.check(n, f"{what} refused", step["fails"], exc.code)
            return f"{what}: refused ({exc.code})"
        if "fails" in step:
            self.check(n, f"{what} refused", step["fails"], "succeeded")
        return f"{what}: done"

    # One method per action; each returns a line for the progress display.
    def do_advance(self, n: int, step: dict[str, Any]) -> str:
        target, steps = lockstep.advance(self.lab.endpoints(), str(step["advance"]), together=self.cut_fault is None)
        return f"advance {step['advance']} -> {target:%Y-%m-%d %H:%M} ({steps} timer step(s))"

    def do_register(self, n: int, step: dict[str, Any], verb: str = "register") -> str:
        name = step[verb] or self.first
        token = self.lab.ssm("POST", "/_lab/tokens", {"va": step.get("va", "DEFAULT"), "description": "scenario"})
        path = f"/api/v1/instances/{name}/{verb}"
        return self._attempt(n, step, f"{verb} {name}", lambda: self.lab.agent("POST", path, {"token": token["token"]}))

    def do_reregister(self, n: int, step: dict[str, Any]) -> str:
        return self.do_register(n, step, "reregister")

    def do_deregister(self, n: int, step: dict[str, Any]) -> str:
        name = step["deregister"] or self.first
        return self._attempt(
            n, step, f"deregister {name}", lambda: self.lab.agent("POST", f"/api/v1/instances/{name}/deregister")
        )

    def do_renew(self, n: int, step: dict[str, Any]) -> str:
        name = step.get("instance", self.first)
        path = f"/api/v1/instances/{name}/{RENEWALS[step['renew']]}"
        return self._attempt(n, step, f"renew {step['renew']} of {name}", lambda: self.lab.agent("POST", path))

    def do_usage(self, n: int, step: dict[str, Any]) -> str:
        name = step["usage"] or self.first
        self.lab.agent("PUT", f"/api/v1/instances/{name}/usage", step["set"])
        return f"usage of {name}: " + ", ".join(f"{k}={v}" for k, v in step["set"].items())

    def do_network(self, n: int, step: dict[str, Any]) -> str:
        if step["network"] == "cut" and self.cut_fault is None:
            self.cut_fault = self.lab.ssm("POST", "/_lab/faults", {"kind": "drop"})["id"]
        elif step["network"] == "restore" and self.cut_fault is not None:
            self.lab.ssm("DELETE", f"/_lab/faults/{self.cut_fault}")
            self.cut_fault = None
        return f"network {step['network']}"

    def do_tls(self, n: int, step: dict[str, Any]) -> str:
        self.lab.ssm("POST", "/_lab/tls", {"mode": step["tls"]})
        return f"the SSM serves the {step['tls']} certificate"

    def do_trust(self, n: int, step: dict[str, Any]) -> str:
        """Import the CA the SSM's current TLS drill is issued by (``trust = "current-ca"``)."""
        pem = self.lab.ssm("GET", "/_lab/tls")["ca"]["pem"]
        alias = step.get("alias", "scenario-ca")
        self.lab.agent("POST", "/api/v1/trust", {"alias": alias, "data": base64.b64encode(pem.encode()).decode()})
        return f"imported the SSM's CA into the agent truststore as {alias}"

    def do_apply_fix(self, n: int, step: dict[str, Any]) -> str:
        """Do what the agent's diagnosis says to do, as a person would: switch the SSM's
        certificate, import the CA file it names, or use the URL it names."""
        verdict = self.lab.agent("POST", "/api/v1/diagnose", {}).get("verdict") or {}
        kind, arg = verdict.get("fix_kind"), verdict.get("fix_arg", "")
        if kind == "ssm_certificate":
            self.lab.ssm("POST", "/_lab/tls", {"mode": arg})
            return f"fix ({verdict['code']}): the SSM serves the {arg} certificate"
        if kind == "trust_import":
            data = base64.b64encode(Path(arg).read_bytes()).decode()
            self.lab.agent("POST", "/api/v1/trust", {"alias": "scenario-fix", "data": data})
            return f"fix ({verdict['code']}): imported {arg} into the agent truststore"
        if kind == "set_url":
            self.lab.agent("PUT", "/api/v1/transport", {"connection": "Transport Gateway", "url": arg})
            return f"fix ({verdict['code']}): the agent now uses {arg}"
        raise LabError(
            f"the diagnosis offers no fix to apply (verdict {verdict.get('code', 'ok')})",
            "expect a failing diagnosis before 'apply_fix'",
        )

    def do_buy(self, n: int, step: dict[str, Any]) -> str:
        body = {
            "name": step["buy"],
            "quantity": step["quantity"],
            "license_type": step.get("type", "Flex"),
            "usage_mode": step.get("mode", "Production"),
            "va": step.get("va", "DEFAULT"),
        }
        total = self.lab.ssm("POST", "/_lab/licenses", body)["purchased"]
        return f"bought {step['quantity']} {step['buy']} ({total} in the pool)"

    def do_reserve(self, n: int, step: dict[str, Any]) -> str:
        """Specific License Reservation end to end, as a person does it: the instance's request code,
        the SSM's reserve operation (admin API), install the code, confirm it (admin API)."""
        name = step["reserve"] or self.first
        base = f"/api/v1/instances/{name}"

        def reserve() -> None:
            status = self.lab.agent("GET", f"{base}/status")
            pools = self.lab.ssm("GET", "/_lab/pools?va=DEFAULT")
            tags = {
                p["license"]: p["tag"]
                for p in pools
                if p["license_type"] == status["license_type"] and p["usage_mode"] == status["usage_mode"]
            }
            wanted = [{"entitlementTag": tags.get(k, k), "quantity": v} for k, v in step["licenses"].items()]
            code = self.lab.agent("POST", f"{base}/reservation/request")["reservation_request_code"]
            pid = slr.parse_request_code(code).udi_pid
            request = {"reservationCode": code, "reservationType": "SPECIFIC", "licenses": wanted}
            answer = self.lab.ssm("POST", f"{VA_API}/reserve-licenses", {"reservationRequests": [request]}, api=True)
            auth = answer["authorizationCodes"][0]["authorizationCode"]
            installed = self.lab.agent("POST", f"{base}/reservation/install", {"code": auth})
            sudi = {"udiPid": pid, "udiSerialNumber": status["serial_number"]}
            confirm = {"sudi": sudi, "confirmationCode": installed["reservation_confirmation_code"]}
            self.lab.ssm("POST", f"{VA_API}/confirm-licenses", {"reservationConfirmationRequests": [confirm]}, api=True)
            self.sudis[name] = sudi

        held = ", ".join(f"{v} {k}" for k, v in step["licenses"].items())
        return self._attempt(n, step, f"reserve {held} for {name}", reserve)

    def do_return_reservation(self, n: int, step: dict[str, Any]) -> str:
        """The instance gives its reserved licenses back; its return code goes to the SSM's remove."""
        name = step["return_reservation"] or self.first

        def give_back() -> None:
            sudi = self.sudis.get(name)
            if sudi is None:
                raise LabError(f"{name} holds no reservation made by this scenario", "reserve before returning")
            code = self.lab.agent("POST", f"/api/v1/instances/{name}/reservation/return")["return_code"]
            remove = {"productInstancesRemoveRequests": [{"sudi": sudi, "returnCode": code}]}
            try:
                self.lab.ssm("POST", f"{VA_API}/devices/remove", remove, api=True)
            except LabError as exc:
                raise LabError(f"{exc.message} (the return code was {code})", exc.fix, exc.code) from None

        return self._attempt(n, step, f"return the reservation of {name}", give_back)

    def do_transport(self, n: int, step: dict[str, Any]) -> str:
        body = {k: v for k, v in step.items() if k not in ("transport",)}
        if "url" in body:  # the lab's SSM port is known only once it runs
            body["url"] = str(body["url"]).replace("{ssm_port}", str(self.lab.ssm_port))
        body["mode"] = TRANSPORT_MODES.get(step["transport"], step["transport"])
        if "connection" in body:
            body["connection"] = CONNECTIONS.get(body["connection"], body["connection"])
        saved = self.lab.agent("PUT", "/api/v1/transport", body)
        return f"transport: {saved['settings']['mode']}, {saved['settings']['connection']}, {saved['effective_url']}"

    def do_expect(self, n: int, step: dict[str, Any]) -> str:
        subject = step["expect"]
        fields = {k: v for k, v in step.items() if k != "expect"}
        if subject == "banner":
            banner = self.lab.agent("GET", "/api/v1/banner")
            self.check(n, "banner", fields.get("level"), banner.get("level") or "none")
        elif subject == "pool":
            self._expect_pool(n, fields)
        else:
            self._expect_instance(n, subject or self.first, fields)
        return f"expect {subject}: " + ", ".join(f"{k}={v}" for k, v in fields.items())

    def _expect_instance(self, n: int, name: str, fields: dict[str, Any]) -> None:
        status = self.lab.agent("GET", f"/api/v1/instances/{name}/status")
        simple = {
            "registration": status["registration_status"],
            "authorization": status["license_authorization_status"],
            "enforcement": status["enforcement"] is not None,
            "reason": (status.get("reason") or {}).get("code", "none"),
        }
        for key, actual in simple.items():
            if key in fields:
                self.check(n, f"{name} {key}", fields[key], actual)
        if "license" in fields:
            rows = self.lab.agent("GET", f"/api/v1/instances/{name}/consumption")["consumption"]
            row = next((r for r in rows if r["license_name"] == fields["license"]), None)
            for key, col in (
                ("license_status", "status"),
                ("usage_count", "usage_count"),
                ("actual_usage", "actual_usage"),
            ):
                if key in fields:
                    self.check(n, f"{name} {fields['license']} {col}", fields[key], row[col] if row else None)

    def _expect_pool(self, n: int, fields: dict[str, Any]) -> None:
        pools = self.lab.ssm("GET", f"/_lab/pools?va={fields.get('va', 'DEFAULT')}")
        pool = next(
            (
                p
                for p in pools
                if p["license"] == fields.get("license") and p["license_type"] == fields.get("type", "Flex")
            ),
            None,
        )
        for key in ("status", "in_use", "reserved"):
            if key in fields:
                self.check(n, f"pool {fields.get('license')} {key}", fields[key], pool[key] if pool else None)

    def do_expect_event(self, n: int, step: dict[str, Any]) -> str:
        side = step["expect_event"]
        if side == "ssm":
            events = self.lab.ssm("GET", "/_lab/events?limit=1000")
        elif side == "outbox":
            events = [
                {**e, "message": e.get("subject", "") + " " + e.get("body", "")}
                for e in self.lab.ssm("GET", "/_lab/outbox")
            ]
        else:
            events = [e for e in self.lab.agent("GET", "/_lab/events") if side in ("agent", e.get("instance"))]
        found = any(
            e.get("kind") == step["kind"] and step.get("contains", "") in str(e.get("message", "")) for e in events
        )
        what = f"{side} event {step['kind']}" + (f" containing {step['contains']!r}" if "contains" in step else "")
        self.check(n, what, True, found)
        return f"expect {what}"

    def do_expect_diagnosis(self, n: int, step: dict[str, Any]) -> str:
        report = self.lab.agent("POST", "/api/v1/diagnose", {})
        verdict = report.get("verdict") or {}
        self.check(n, "diagnosis", step["expect_diagnosis"], verdict.get("code", "ok") if not report["ok"] else "ok")
        return f"expect diagnosis {step['expect_diagnosis']}"

    def do_note(self, n: int, step: dict[str, Any]) -> str:
        return str(step["note"])


def run(target: str, *, certs: Path, progress: bool = True, keep: bool = False) -> dict[str, Any]:
    """Play a scenario on a private lab; the report (``passed`` says it all)."""
    started = time.monotonic()
    try:
        scenario = load(target)
    except ScenarioError as exc:
        return {"scenario": target, "passed": False, "error": str(exc), "checks": []}
    folder = Path(tempfile.mkdtemp(prefix=f"ssmlab-scenario-{scenario.name}-"))
    lab = Lab(folder, certs)
    player = Player(lab, scenario)

    def say(line: str) -> None:
        if progress:
            print(line, flush=True)

    say(f"scenario {scenario.name}: {scenario.description}")
    error: str | None = None
    n = 0
    lab.prepare(scenario.instances, fresh=True, ssm_port=_free_port(), agent_port=_free_port())
    try:
        lab.start(rate=0, clock="virtual", epoch=scenario.start)
        for n, step in enumerate(scenario.steps, 1):
            action = _action(n, step)
            before = len(player.checks)
            line = getattr(player, f"do_{action}")(n, step)
            marks = player.checks[before:]
            verdict = "" if not marks else (" ok" if all(c.passed for c in marks) else " FAILED")
            say(f"  {n:>3} {player.now()[:16]} {line}{verdict}")
            for c in marks:
                if not c.passed:
                    say(f"        {c.what}: expected {c.expected!r}, found {c.actual!r}")
    except LabError as exc:
        error = f"step {n}: {exc.message}" + (f" (fix: {exc.fix})" if exc.fix else "")
        say(f"  error: {error}")
    except (SystemExit, OSError) as exc:
        error = str(exc)
        say(f"  error: {error}")
    finally:
        lab.stop()
    passed = error is None and bool(player.checks) and all(c.passed for c in player.checks)
    failed = sum(not c.passed for c in player.checks)
    report: dict[str, Any] = {
        "scenario": scenario.name,
        "description": scenario.description,
        "source": scenario.source,
        "passed": passed,
        "error": error,
        "checks": [c.view() for c in player.checks],
        "failed": failed,
        "wall_seconds": round(time.monotonic() - started, 2),
    }
    if passed and not keep:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        report["lab"] = str(folder)
    say(
        f"{'PASS' if passed else 'FAIL'} {scenario.name}: {len(player.checks) - failed}/{len(player.checks)} "
        f"checks passed in {report['wall_seconds']} s" + ("" if passed else f"; the lab is kept in {folder}")
    )
    return report
