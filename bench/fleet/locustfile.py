"""Locust users that are product instances: ``locust -f bench/fleet/locustfile.py`` (docs/scale-out.md).

Each user registers with a CSR (``--ssm-token``), then sends one signed usage report per interval
of the SSM's scaled clock (``--ssm-rate/--ssm-epoch/--ssm-anchor``: the numbers the SSM was started
with) and verifies every reply against ``--ssm-truststore``. A reply the SSM did not sign, or that
does not name the report accepted, is a failure: Locust's successful "report" requests are the
acknowledged reports. The protocol is ``bench.fleet.device``'s; this module only wires it to Locust.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from locust import events, runners, task
from locust.contrib.fasthttp import FastHttpUser
from locust.exception import StopUser

from bench.fleet.device import Device, Request
from plumbing.clients.device import ReplyVerifier, client_context
from shared.clock import ScaledClock
from shared.clockctl import parse_instant

PATH = "/licservice/license"
# A worker on a machine whose cores the SSM and its database also use misses a heartbeat now and
# then; Locust's master gives up on it after 3 (seconds), and stops the whole run. Allow 15.
runners.HEARTBEAT_LIVENESS = 15
_VERIFIERS: dict[str, ReplyVerifier] = {}
#: The report ids this process's users saw acknowledged (written out with ``--ssm-acks``).
ACKNOWLEDGED: list[str] = []


def _options(parser: Any) -> None:
    parser.add_argument("--ssm-token", default=os.environ.get("SSMLAB_TOKEN", ""), help="registration token")
    parser.add_argument("--ssm-truststore", default="certs/truststore.pem", help="the lab CA bundle")
    parser.add_argument("--ssm-rate", type=float, default=1.0, help="the SSM's clock rate (--rate)")
    parser.add_argument("--ssm-epoch", default="", help="the SSM's --epoch (ISO 8601; empty: real time)")
    parser.add_argument("--ssm-anchor", type=float, default=0.0, help="the SSM's --anchor (real epoch seconds)")
    parser.add_argument("--ssm-interval", type=int, default=900, help="usage interval, domain seconds")
    parser.add_argument("--ssm-acks", default="", help="folder: each process writes the report ids acknowledged")


def _write_acks(environment: Any, **_: Any) -> None:
    folder = environment.parsed_options.ssm_acks if environment.parsed_options else ""
    if folder:
        Path(folder, f"acks-{os.getpid()}.txt").write_text("".join(f"{r}\n" for r in ACKNOWLEDGED))


_hooks: Any = events  # (Locust's hooks are untyped: typed or not, mypy checks the same here)
_hooks.init_command_line_parser.add_listener(_options)
_hooks.quitting.add_listener(_write_acks)


def _verifier(truststore: str) -> ReplyVerifier:
    """One per process: a verified signing chain is cached for every user."""
    if truststore not in _VERIFIERS:
        _VERIFIERS[truststore] = ReplyVerifier.from_file(Path(truststore))
    return _VERIFIERS[truststore]


class ProductInstance(FastHttpUser):
    """One product instance: registration in ``on_start``, then each closed interval's report.

    Locust's FastHttpUser (geventhttpclient) costs the generator far less CPU per request than
    requests does; its TLS verifies the SSM against the truststore only, host name and all."""

    def __init__(self, environment: Any) -> None:
        trust = Path(environment.parsed_options.ssm_truststore)
        self.ssl_context_factory = lambda: client_context(trust)
        super().__init__(environment)

    def on_start(self) -> None:
        opts = self.environment.parsed_options
        self.rate = opts.ssm_rate
        clock = ScaledClock(
            epoch=parse_instant(opts.ssm_epoch) if opts.ssm_epoch else datetime.now(UTC),
            anchor=opts.ssm_anchor or None,
            rate=opts.ssm_rate,
        )
        self.device = Device(clock=clock, verifier=_verifier(opts.ssm_truststore), length=opts.ssm_interval)
        req = self.device.register(opts.ssm_token)
        if not self._post(req, "register", self.device.registered):
            raise StopUser

    def wait_time(self) -> float:
        return self.device.until_next(self.rate)

    @task
    def report(self) -> None:
        end = self.device.closed_interval()
        if end is not None:
            req = self.device.report(end)
            if self._post(req, "report", self.device.reported):
                ACKNOWLEDGED.append(req.report_id)

    def _post(self, req: Request, name: str, check: Any) -> bool:
        with self.client.post(
            PATH, data=cast(Any, req.body), headers={"Content-Type": req.ctype}, name=name, catch_response=True
        ) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}: {resp.text[:200]}")
                return False
            try:
                check(req, resp.text)
            except Exception as exc:  # a wrong reply is a failed request, not a crashed user
                resp.failure(f"{type(exc).__name__}: {exc}")
                return False
            resp.success()
            return True
