"""``smart-agent diagnose [URL]``: every step from the URL to a device endpoint that answers,
with a verdict per step and, on failure, the cause and the fix.

Steps: URL rules, resolve, TCP connect (and proxy CONNECT), TLS handshake (the chain as served:
subject, issuer, SANs, validity), validity, trust, hostname, and whether the path answers as a
device endpoint of the selected transport mode (an empty request, refused by the SSM without
any change, through the agent's real, verifying client).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from agent.certcheck import Examination, examine
from agent.revocheck import ask_async
from agent.transport import Transport, remote_error
from shared import callhome
from shared.errors import BadRequest, SmartLicensingError
from shared.revocation import RevocationMode, Status, where_to_ask
from shared.revocation import finding as revocation_finding
from shared.states import TransportMode
from shared.tlsdiag import CertInfo, Finding, FixKind, ssm_lab_url
from shared.transportsettings import check_url


class Verdict(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skipped"


@dataclass(frozen=True, slots=True)
class Step:
    step: str
    verdict: Verdict
    detail: str


@dataclass
class Report:
    url: str
    mode: str
    connection: str
    proxy: str | None
    steps: list[Step] = field(default_factory=list)
    chain: list[CertInfo] = field(default_factory=list)
    failure: Finding | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    def add(self, step: str, verdict: Verdict, detail: str) -> None:
        self.steps.append(Step(step, verdict, detail))

    def fail(self, step: str, err: SmartLicensingError | Finding) -> None:
        detail = err.message
        self.add(step, Verdict.FAIL, detail)
        if self.failure is None:
            if isinstance(err, Finding):
                self.failure = err
            else:
                kind, arg = err.detail.get("fix_kind"), err.detail.get("fix_arg")
                self.failure = Finding(
                    err.code, err.message, err.fix, FixKind(str(kind)) if kind else None, str(arg or "")
                )

    def skip(self, *steps: str) -> None:
        for s in steps:
            self.add(s, Verdict.SKIP, "an earlier step failed")


#: What an empty request gets from a device endpoint of each mode (a refusal that changes nothing).
_EXPECTED = {
    TransportMode.SMART_TRANSPORT: ("application/json", b"", ("malformed_json", "invalid_message")),
    TransportMode.CALL_HOME: (callhome.CONTENT_TYPE, b"", ("xml_malformed", "xml_invalid_envelope")),
}


async def diagnose(transport: Transport, url: str | None = None) -> Report:
    settings = transport.settings
    report = Report(
        url=url or settings.effective_url,
        mode=str(settings.mode),
        connection=str(settings.connection),
        proxy=settings.proxy_url,
    )
    try:
        device_url = check_url(report.url, settings.mode)
        report.add("url", Verdict.OK, f"{report.url} fits {settings.mode} ({settings.connection})")
    except BadRequest as exc:
        report.fail("url", exc)
        report.skip("resolve", "connect", "tls", "validity", "trust", "hostname", "path")
        return report
    exam = await examine(
        settings,
        transport.truststore,
        resolve=transport.resolve,
        probe_timeout=transport.timeout,
        workdir=transport.workdir,
        url=device_url.url,
    )
    _network_steps(report, exam)
    if exam.assessment is None:
        return report
    a = exam.assessment
    report.chain = a.chain
    for name, finding, good in (
        ("validity", a.validity, "every certificate sent is valid now (real time)"),
        ("trust", a.trust, f"the chain leads to {a.anchor}, held in {transport.truststore.path}"),
    ):
        if finding is None:
            report.add(name, Verdict.OK, good)
        else:
            report.fail(name, finding)
    if a.host is not None:
        report.fail("hostname", a.host)
    else:
        report.add("hostname", Verdict.OK, f"{device_url.host} matches the certificate's {a.matched_by}")
    await _revocation_step(report, transport, exam)
    for w in a.warnings:
        report.add(w.code, Verdict.WARN, f"{w.message} (fix: {w.fix})")
    if report.failure is not None:
        report.skip("path")
        return report
    await _path_step(report, transport, device_url.url, settings.mode)
    return report


async def _revocation_step(report: Report, transport: Transport, exam: Examination) -> None:
    """What the CRL and the OCSP responder the certificate names say (a step only when it names
    one and checking is not off)."""
    chain, mode = exam.probe.chain, transport.settings.revocation
    if mode == RevocationMode.OFF or len(chain) < 2 or not any(where_to_ask(chain[0])):
        return
    answers = await ask_async(chain[0], chain[1], resolve=transport.resolve, per_fetch=transport.timeout)
    said = "; ".join(a.describe() for a in answers)
    refused = revocation_finding(chain[0], answers, mode, ssm_lab_url(exam.probe.url, exam.probe.ssm_peer))
    if refused is not None:
        report.fail("revocation", refused)
    elif all(a.status is Status.GOOD for a in answers):
        report.add("revocation", Verdict.OK, f"{said} ({mode})")
    else:
        report.add("revocation", Verdict.WARN, f"{said} ({mode}: going on without a definite answer)")


def _network_steps(report: Report, exam: Examination) -> None:
    p = exam.probe
    hop = f"the proxy {p.proxy[0]}:{p.proxy[1]}" if p.proxy else f"{p.url.host}:{p.url.port}"
    steps = ["resolve", "connect", "proxy", "tls"] if p.proxy else ["resolve", "connect", "tls"]
    done = {"resolve": bool(p.resolved), "connect": p.peer is not None, "proxy": bool(p.proxy_status)}
    for name in steps:
        if p.error is not None and p.error.step == name:
            report.fail(name, BadRequest(p.error.message, code=p.error.code, fix=p.error.fix))
            report.skip(*steps[steps.index(name) + 1 :], "validity", "trust", "hostname", "path")
            return
        if name == "resolve" and done["resolve"]:
            report.add(name, Verdict.OK, f"{hop} -> {', '.join(p.resolved)} (by {p.resolved_by})")
        elif name == "connect" and p.peer:
            report.add(name, Verdict.OK, f"TCP to {p.peer[0]}:{p.peer[1]} in {p.connect_ms:.1f} ms")
        elif name == "proxy":
            report.add(name, Verdict.OK, f"CONNECT {p.url.host}:{p.url.port}: {p.proxy_status}")
        elif name == "tls" and exam.assessment is not None and exam.assessment.handshake is not None:
            report.fail(name, exam.assessment.handshake)
        elif name == "tls":
            sent = ", ".join(
                f"[{i}] {c.subject}" for i, c in enumerate(exam.assessment.chain if exam.assessment else [])
            )
            report.add(name, Verdict.OK, f"{p.tls_version} {p.cipher} in {p.handshake_ms:.1f} ms; sent {sent}")


async def _path_step(report: Report, transport: Transport, url: str, mode: TransportMode) -> None:
    ctype, body, expected = _EXPECTED[mode]
    try:
        status, rtype, raw = await transport.exchange(body, ctype, url=url)
    except SmartLicensingError as exc:  # the verifying client disagrees with the checks above
        report.fail("path", exc)
        return
    code = remote_error(status, raw.decode("utf-8", "replace")).code if rtype == "application/json" else ""
    if code in expected:
        report.add(
            "path", Verdict.OK, f"POST {url} answers as a {mode} device endpoint ({status} {code} to an empty probe)"
        )
        return
    what = "no endpoint" if status == 404 else f"HTTP {status} {code or rtype}"
    report.fail(
        "path",
        BadRequest(
            f"POST {url} is not a {mode} device endpoint of this SSM: {what}",
            code="path_not_answering",
            fix="check the URL path (a cloud SSM serves /licservice/license and "
            "/its/service/oddce/services/DDCEService; SSM On-Prem /SmartTransport and "
            "/Transportgateway/services/DeviceRequestHandler) and the transport mode",
        ),
    )


def render(report: Mapping[str, Any]) -> str:
    """The verdict table a person reads, from the JSON report (what the local API returns)."""
    head = f"smart-agent diagnose {report['url']}  ({report['mode']}, {report['connection']}"
    head += f" via {report['proxy']})" if report["proxy"] else ")"
    steps = report["steps"]
    width = max(len(s["step"]) for s in steps)
    lines = [head, ""]
    for s in steps:
        lines.append(f"  {s['step'].ljust(width)}  {s['verdict'].upper():<7}  {s['detail']}")
    if report["chain"]:
        lines += ["", "  chain as served:"]
        for i, c in enumerate(report["chain"]):
            lines.append(f"    [{i}] subject {c['subject']}")
            lines.append(f"        issuer  {c['issuer']}")
            lines.append(f"        names   {c['names']}")
            lines.append(f"        valid   {c['not_before']} to {c['not_after']}")
            lines.append(f"        SHA-256 {c['fingerprint']}")
    lines.append("")
    verdict = report["verdict"]
    if verdict is None:
        lines.append("verdict: OK — the agent can reach the SSM at this URL")
    else:
        lines.append(f"verdict: FAIL {verdict['code']}: {verdict['message']}")
        if verdict["fix"]:
            lines.append(f"  fix: {verdict['fix']}")
    return "\n".join(lines)


def as_json(report: Report) -> dict[str, object]:
    f = report.failure
    return {
        "url": report.url,
        "mode": report.mode,
        "connection": report.connection,
        "proxy": report.proxy,
        "ok": report.ok,
        "verdict": None
        if f is None
        else {"code": f.code, "message": f.message, "fix": f.fix, "fix_kind": f.fix_kind, "fix_arg": f.fix_arg},
        "steps": [{"step": s.step, "verdict": s.verdict, "detail": s.detail} for s in report.steps],
        "chain": [
            {
                "subject": c.subject,
                "issuer": c.issuer,
                "names": c.names,
                "not_before": c.not_before.isoformat(),
                "not_after": c.not_after.isoformat(),
                "fingerprint": c.fingerprint,
                "self_signed": c.self_signed,
            }
            for c in report.chain
        ],
    }
