"""Playing a scenario's steps on a running lab: one handler per kind of step, in ``HANDLERS``.

Each handler does what its step says over the two processes' HTTP APIs, records the checks it
makes, and returns a line for the progress display. Actions that may be refused (``fails``) go
through ``_attempt``, which turns the expected refusal into a check.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import clock as lockstep
from lab import idcert, steps
from lab.processes import Lab
from plumbing.clients.lab import LabError
from shared import slr

#: The lab account's DEFAULT virtual account in the legacy admin API.
VA_API = "/services/api/smart-accounts-and-licensing/v2/accounts/lab.ssmlab.example/virtual-accounts/DEFAULT"
TRANSPORT_MODES = {"smart-transport": "Smart Transport", "call-home": "Smart Call Home (Deprecated)"}
CONNECTIONS = {"direct": "Direct", "gateway": "Transport Gateway", "proxy": "HTTP/HTTPS Proxy"}


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
class Player:
    lab: Lab
    #: The instance a step that names none acts on (the scenario's first).
    first: str
    checks: list[Check] = field(default_factory=list)
    cut_fault: int | None = None
    #: The UDI (product id, serial) of each instance holding a reservation, for its return.
    sudis: dict[str, dict[str, str]] = field(default_factory=dict)

    def play(self, n: int, step: steps.Step) -> str:
        """Step ``n``, done; the line for the progress display."""
        return HANDLERS[type(step)](self, n, step)

    def now(self) -> str:
        return str(self.lab.ssm("GET", "/_lab/clock")["now"])

    def check(self, n: int, what: str, expected: Any, actual: Any) -> None:
        self.checks.append(Check(n, what, expected, actual, self.now()))

    def _attempt(self, n: int, fails: str | None, what: str, call: Callable[[], object]) -> str:
        """Run an action that may be refused; ``fails`` says which refusal is expected."""
        try:
            call()
        except LabError as exc:
            if fails is None:
                raise
            self.check(n, f"{what} refused", fails, exc.code)
            return f"{what}: refused ({exc.code})"
        if fails is not None:
            self.check(n, f"{what} refused", fails, "succeeded")
        return f"{what}: done"

    # -- actions --------------------------------------------------------------------------------

    def advance(self, n: int, step: steps.Advance) -> str:
        target, count = lockstep.advance(self.lab.endpoints(), step.advance, together=self.cut_fault is None)
        return f"advance {step.advance} -> {target:%Y-%m-%d %H:%M} ({count} timer step(s))"

    def _register(self, n: int, verb: str, name: str, va: str, fails: str | None) -> str:
        name = name or self.first
        token = self.lab.ssm("POST", "/_lab/tokens", {"va": va, "description": "scenario"})
        path = f"/api/v1/instances/{name}/{verb}"
        return self._attempt(
            n, fails, f"{verb} {name}", lambda: self.lab.agent("POST", path, {"token": token["token"]})
        )

    def register(self, n: int, step: steps.Register) -> str:
        return self._register(n, "register", step.register, step.va, step.fails)

    def reregister(self, n: int, step: steps.Reregister) -> str:
        return self._register(n, "reregister", step.reregister, step.va, step.fails)

    def deregister(self, n: int, step: steps.Deregister) -> str:
        name = step.deregister or self.first
        path = f"/api/v1/instances/{name}/deregister"
        return self._attempt(n, step.fails, f"deregister {name}", lambda: self.lab.agent("POST", path))

    def renew(self, n: int, step: steps.Renew) -> str:
        name = step.instance if step.instance is not None else self.first
        path = f"/api/v1/instances/{name}/{steps.RENEWALS[step.renew]}"
        return self._attempt(n, step.fails, f"renew {step.renew} of {name}", lambda: self.lab.agent("POST", path))

    def usage(self, n: int, step: steps.Usage) -> str:
        name = step.usage or self.first
        self.lab.agent("PUT", f"/api/v1/instances/{name}/usage", dict(step.set))
        return f"usage of {name}: " + ", ".join(f"{k}={v}" for k, v in step.set.items())

    def network(self, n: int, step: steps.Network) -> str:
        if step.network == "cut" and self.cut_fault is None:
            self.cut_fault = self.lab.ssm("POST", "/_lab/faults", {"kind": "drop"})["id"]
        elif step.network == "restore" and self.cut_fault is not None:
            self.lab.ssm("DELETE", f"/_lab/faults/{self.cut_fault}")
            self.cut_fault = None
        return f"network {step.network}"

    def tls(self, n: int, step: steps.Tls) -> str:
        self.lab.ssm("POST", "/_lab/tls", {"mode": step.tls})
        return f"the SSM serves the {step.tls} certificate"

    def rollover(self, n: int, step: steps.Rollover) -> str:
        view = self.lab.ssm("POST", "/_lab/pki/rollover", {"overlap": step.rollover})
        return f"CA rollover to {view['generation']}: the new root is distributed; cutover at {view['cutover_at'][:16]}"

    def cutover(self, n: int, step: steps.Cutover) -> str:
        view = self.lab.ssm("POST", "/_lab/pki/rollover/cutover")
        return f"CA rollover: cut over to {view['generation']} now"

    def mtls(self, n: int, step: steps.Mtls) -> str:
        self.lab.ssm("POST", "/_lab/device-mtls", {"enabled": step.mtls})
        return f"the SSM {'demands' if step.mtls else 'no longer demands'} ID certificates (mutual TLS)"

    def id_cert(self, n: int, step: steps.IdCert) -> str:
        return idcert.describe(
            idcert.play(self.lab, step.id_cert, step.instance or self.first), step.instance or self.first
        )

    def skew(self, n: int, step: steps.Skew) -> str:
        apart = lockstep.skew(self.lab.endpoints(), step.skew)
        return f"the agent's clock is {apart} from the SSM's"

    def trust(self, n: int, step: steps.Trust) -> str:
        """Import the CA the SSM's current TLS drill is issued by (``trust = "current-ca"``), or the
        next root of a CA rollover (``"next-ca"``)."""
        if step.trust == "next-ca":
            pem = (self.lab.ssm("GET", "/_lab/pki/rollover").get("next_root") or {}).get("pem", "")
        else:
            pem = self.lab.ssm("GET", "/_lab/tls")["ca"]["pem"]
        body = {"alias": step.alias, "data": base64.b64encode(pem.encode()).decode()}
        self.lab.agent("POST", "/api/v1/trust", body)
        what = "the CA rollover's next root" if step.trust == "next-ca" else "the SSM's CA"
        return f"imported {what} into the agent truststore as {step.alias}"

    def apply_fix(self, n: int, step: steps.ApplyFix) -> str:
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

    def buy(self, n: int, step: steps.Buy) -> str:
        body = {
            "name": step.buy,
            "quantity": step.quantity,
            "license_type": step.type,
            "usage_mode": step.mode,
            "va": step.va,
        }
        total = self.lab.ssm("POST", "/_lab/licenses", body)["purchased"]
        return f"bought {step.quantity} {step.buy} ({total} in the pool)"

    def reserve(self, n: int, step: steps.Reserve) -> str:
        """Specific License Reservation end to end, as a person does it: the instance's request code,
        the SSM's reserve operation (admin API), install the code, confirm it (admin API)."""
        name = step.reserve or self.first
        base = f"/api/v1/instances/{name}"

        def reserve() -> None:
            status = self.lab.agent("GET", f"{base}/status")
            pools = self.lab.ssm("GET", "/_lab/pools?va=DEFAULT")
            tags = {
                p["license"]: p["tag"]
                for p in pools
                if p["license_type"] == status["license_type"] and p["usage_mode"] == status["usage_mode"]
            }
            wanted = [{"entitlementTag": tags.get(k, k), "quantity": v} for k, v in step.licenses.items()]
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

        held = ", ".join(f"{v} {k}" for k, v in step.licenses.items())
        return self._attempt(n, step.fails, f"reserve {held} for {name}", reserve)

    def return_reservation(self, n: int, step: steps.ReturnReservation) -> str:
        """The instance gives its reserved licenses back; its return code goes to the SSM's remove."""
        name = step.return_reservation or self.first

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

        return self._attempt(n, step.fails, f"return the reservation of {name}", give_back)

    def transport(self, n: int, step: steps.Transport) -> str:
        body: dict[str, Any] = {}
        if step.connection is not None:
            body["connection"] = CONNECTIONS.get(step.connection, step.connection)
        if step.url is not None:  # the lab's SSM port is known only once it runs
            body["url"] = step.url.replace("{ssm_port}", str(self.lab.ssm_port))
        if step.proxy_host is not None:
            body["proxy_host"] = step.proxy_host
        if step.proxy_port is not None:
            body["proxy_port"] = step.proxy_port
        body["mode"] = TRANSPORT_MODES.get(step.transport, step.transport)
        saved = self.lab.agent("PUT", "/api/v1/transport", body)
        return f"transport: {saved['settings']['mode']}, {saved['settings']['connection']}, {saved['effective_url']}"

    # -- expectations ---------------------------------------------------------------------------

    def expect(self, n: int, step: steps.Expect) -> str:
        if step.expect == "banner":
            banner = self.lab.agent("GET", "/api/v1/banner")
            self.check(n, "banner", step.level, banner.get("level") or "none")
        elif step.expect == "pool":
            self._expect_pool(n, step)
        else:
            self._expect_instance(n, step.expect or self.first, step)
        return f"expect {step.expect}: " + ", ".join(f"{k}={v}" for k, v in step.given().items())

    def _expect_instance(self, n: int, name: str, step: steps.Expect) -> None:
        status = self.lab.agent("GET", f"/api/v1/instances/{name}/status")
        for key, expected, actual in (
            ("registration", step.registration, status["registration_status"]),
            ("authorization", step.authorization, status["license_authorization_status"]),
            ("enforcement", step.enforcement, status["enforcement"] is not None),
            ("reason", step.reason, (status.get("reason") or {}).get("code", "none")),
        ):
            if expected is not None:
                self.check(n, f"{name} {key}", expected, actual)
        if step.reason_says is not None:
            said = (status.get("reason") or {}).get("message", "")
            self.check(
                n, f"{name} reason says", step.reason_says, step.reason_says if step.reason_says in said else said
            )
        if step.license is not None:
            rows = self.lab.agent("GET", f"/api/v1/instances/{name}/consumption")["consumption"]
            row = next((r for r in rows if r["license_name"] == step.license), None)
            for wanted, col in (
                (step.license_status, "status"),
                (step.usage_count, "usage_count"),
                (step.actual_usage, "actual_usage"),
            ):
                if wanted is not None:
                    self.check(n, f"{name} {step.license} {col}", wanted, row[col] if row else None)

    def _expect_pool(self, n: int, step: steps.Expect) -> None:
        pools = self.lab.ssm("GET", f"/_lab/pools?va={'DEFAULT' if step.va is None else step.va}")
        kind = "Flex" if step.type is None else step.type
        pool = next((p for p in pools if p["license"] == step.license and p["license_type"] == kind), None)
        for key, expected in (("status", step.status), ("in_use", step.in_use), ("reserved", step.reserved)):
            if expected is not None:
                self.check(n, f"pool {step.license} {key}", expected, pool[key] if pool else None)

    def expect_event(self, n: int, step: steps.ExpectEvent) -> str:
        side = step.expect_event
        if side == "ssm":
            events = self.lab.ssm("GET", "/_lab/events?limit=1000")
        elif side == "outbox":
            events = [
                {**e, "message": e.get("subject", "") + " " + e.get("body", "")}
                for e in self.lab.ssm("GET", "/_lab/outbox")
            ]
        else:
            events = [e for e in self.lab.agent("GET", "/_lab/events") if side in ("agent", e.get("instance"))]
        contains = step.contains or ""
        found = any(e.get("kind") == step.kind and contains in str(e.get("message", "")) for e in events)
        what = f"{side} event {step.kind}" + (f" containing {step.contains!r}" if step.contains is not None else "")
        self.check(n, what, True, found)
        return f"expect {what}"

    def expect_diagnosis(self, n: int, step: steps.ExpectDiagnosis) -> str:
        report = self.lab.agent("POST", "/api/v1/diagnose", {})
        verdict = report.get("verdict") or {}
        self.check(n, "diagnosis", step.expect_diagnosis, verdict.get("code", "ok") if not report["ok"] else "ok")
        return f"expect diagnosis {step.expect_diagnosis}"

    def note(self, n: int, step: steps.Note) -> str:
        return step.note


#: Each kind of step and what plays it: one entry per kind of ``steps.STEPS``.
HANDLERS: dict[type[steps.Step], Callable[[Player, int, Any], str]] = {
    steps.Advance: Player.advance,
    steps.Register: Player.register,
    steps.Reregister: Player.reregister,
    steps.Deregister: Player.deregister,
    steps.Renew: Player.renew,
    steps.Usage: Player.usage,
    steps.Network: Player.network,
    steps.Tls: Player.tls,
    steps.Mtls: Player.mtls,
    steps.Rollover: Player.rollover,
    steps.Cutover: Player.cutover,
    steps.IdCert: Player.id_cert,
    steps.Trust: Player.trust,
    steps.ApplyFix: Player.apply_fix,
    steps.Skew: Player.skew,
    steps.Buy: Player.buy,
    steps.Reserve: Player.reserve,
    steps.ReturnReservation: Player.return_reservation,
    steps.Transport: Player.transport,
    steps.Expect: Player.expect,
    steps.ExpectEvent: Player.expect_event,
    steps.ExpectDiagnosis: Player.expect_diagnosis,
    steps.Note: Player.note,
}
