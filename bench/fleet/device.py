"""One product instance of the Locust fleet, without Locust: the device protocol of ``agent.fleet``
(a CSR to register, each interval's usage report signed with the ID key) and every reply verified
(``plumbing.clients.device.ReplyVerifier``: the SSM's chain, signature, the nonce answered).

Time is the SSM's domain clock, which ``ssm-server run --clock scaled --rate R --epoch E --anchor A``
makes a pure function of real time: the users build the same clock from the same three numbers
(on any machine whose clock is in step), so an instance reports each interval as it closes, every
``length / R`` real seconds. Sockets are the caller's: it posts ``request`` bodies and hands the
answers back (Locust's HTTP client, or a test's).
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

from agent.fleet import Sim, register_request, report_request
from plumbing.clients.device import ReplyVerifier
from shared import pki
from shared.clock import Clock, epoch
from shared.messages import Registered, UsageAccepted


@dataclass(frozen=True)
class Request:
    """What to POST (body, content type) and what to check the answer against."""

    body: bytes
    ctype: str
    nonce: str
    report_id: str = ""


class Device:
    """A product instance: register once, then one signed report per closed interval."""

    def __init__(self, *, clock: Clock, verifier: ReplyVerifier, length: int = 900, prefix: str = "LCS") -> None:
        self.sim = Sim(serial=f"{prefix}{secrets.token_hex(5).upper()}", key=pki.new_key())
        self.clock = clock
        self.verifier = verifier
        self.length = length
        self.reported_to = 0  # the end of the last interval the SSM acknowledged
        self.acknowledged: list[str] = []

    def _now(self) -> int:
        return epoch(self.clock.now())

    def register(self, token: str) -> Request:
        return Request(*register_request(self.sim, token, self._now()))

    def registered(self, req: Request, answer: str) -> Registered:
        reply = self.verifier.verify(answer.strip(), req.nonce)
        if not isinstance(reply, Registered):
            raise ValueError(f"the SSM answered a registration with {type(reply).__name__}")
        self.sim.piid = reply.piid
        self.reported_to = reply.registered_at
        return reply

    def closed_interval(self) -> int | None:
        """The end of the latest interval closed since the last one reported (None: not yet)."""
        end = self._now() // self.length * self.length
        return end if end > self.reported_to else None

    def until_next(self, rate: float) -> float:
        """Real seconds until the next interval closes on a clock running ``rate`` times real time."""
        wait = (self.reported_to + self.length) - self._now()
        return max(0.0, wait / rate) if rate > 0 else 0.0

    def report(self, end: int) -> Request:
        peak = random.randint(0, 3)  # noqa: S311 - a usage figure, not a secret
        body, ctype, nonce = report_request(
            self.sim, end, peak, self._now(), want_chain=self.verifier.needs_chain, length=self.length
        )
        return Request(body, ctype, nonce, f"{self.sim.piid}:{end}")

    def reported(self, req: Request, answer: str) -> UsageAccepted:
        """The verified reply; the report counts as acknowledged only when the SSM names it accepted."""
        reply = self.verifier.verify(answer.strip(), req.nonce)
        if not isinstance(reply, UsageAccepted) or req.report_id not in reply.accepted:
            raise ValueError(f"report {req.report_id} not accepted: {reply}")
        self.reported_to = int(req.report_id.rsplit(":", 1)[1])
        self.acknowledged.append(req.report_id)
        return reply
