"""Fleet mode: many simulated product instances in one process, for load tests.

Each simulated instance uses the real device protocol: an EC key and a CSR to register with a
token, then usage reports signed with its ID key and replies verified against the truststore. It
keeps only what it needs (its key, piid and counters), so a process holds thousands of them; no
state is persisted. Several processes can share a fleet (``serial_prefix`` keeps serials apart).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from plumbing.clients.device import OverrideResolver, ReplyVerifier, client_context
from shared import envelope, pki
from shared.catalog import LicenseKey
from shared.errors import RemoteError
from shared.messages import (
    Identity,
    Register,
    Registered,
    ReportUsage,
    Usage,
    UsageAccepted,
    UsageReport,
    encode,
)
from shared.states import LicenseType, UsageMode

PREMIUM = LicenseKey("Premium Agent", LicenseType.FLEX, UsageMode.PRODUCTION).tag


@dataclass(slots=True)
class Sim:
    """One simulated product instance: what it needs to sign and nothing more."""

    serial: str
    key: pki.PrivateKey
    piid: str = ""
    sent: int = 0


@dataclass
class Stats:
    ok: int = 0
    failed: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    def add_error(self, code: str) -> None:
        self.failed += 1
        self.errors[code] = self.errors.get(code, 0) + 1

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def register_request(sim: Sim, token: str, sent_at: int) -> tuple[bytes, str, str]:
    """A register request of ``sim`` (a CSR of its key, its serial as name): body, content type, nonce."""
    csr = pki.make_csr(sim.key, common_name=sim.serial, serial_number=sim.serial)
    msg = Register(
        sent_at=sent_at,
        nonce=envelope.new_nonce(),
        token=token,
        csr=csr.decode(),
        identity=Identity(
            instance_name=sim.serial,
            product="CVP",
            udi_pid="CVP",
            serial_number=sim.serial,
            hostname=f"{sim.serial.lower()}.fleet",
            deployment_type="CVP",
            license_type=LicenseType.FLEX,
            usage_mode=UsageMode.PRODUCTION,
        ),
    )
    return encode(msg), "application/json", msg.nonce


def report_request(
    sim: Sim, interval_end: int, peak: int, sent_at: int, *, want_chain: bool, length: int = 900
) -> tuple[bytes, str, str]:
    """A usage report of one interval (``PIID:END``, ``length`` seconds), signed with ``sim``'s ID
    key: body, content type, nonce."""
    msg = ReportUsage(
        sent_at=sent_at,
        nonce=envelope.new_nonce(),
        piid=sim.piid,
        reports=[
            UsageReport(
                report_id=f"{sim.piid}:{interval_end}",
                interval_start=interval_end - length,
                interval_end=interval_end,
                usage=[Usage(tag=PREMIUM, peak=peak)],
            )
        ],
    )
    body = envelope.sign_request(encode(msg), sim.key, piid=sim.piid, want_chain=want_chain)
    return body.encode(), envelope.CONTENT_TYPE, msg.nonce


class Fleet:
    """N simulated instances talking to one SSM over one pool of keep-alive TLS connections."""

    def __init__(
        self,
        *,
        url: str,
        truststore: Path,
        resolve: dict[str, str] | None = None,
        connections: int = 64,
        serial_prefix: str = "FLT",
        now: Callable[[], float] = time.time,
    ) -> None:
        self.url = url
        self.truststore = truststore
        self.resolve = resolve or {}
        self.connections = connections
        self.serial_prefix = serial_prefix
        self.now = now
        self.sims: list[Sim] = []
        self._session: aiohttp.ClientSession | None = None
        self._verifier = ReplyVerifier.from_file(truststore)

    async def __aenter__(self) -> Fleet:
        connector = aiohttp.TCPConnector(
            ssl=client_context(self.truststore), limit=self.connections, resolver=OverrideResolver(self.resolve)
        )
        self._session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def _post(self, body: bytes, ctype: str, nonce: str) -> object:
        assert self._session is not None
        async with self._session.post(self.url, data=body, headers={"Content-Type": ctype}) as resp:
            text = await resp.text()
            if resp.status != 200:
                raise RemoteError(text[:200], code=f"http_{resp.status}", remote_status=resp.status)
        return self._verifier.verify(text.strip(), nonce)

    def spawn(self, count: int) -> None:
        start = len(self.sims)
        self.sims += [
            Sim(serial=f"{self.serial_prefix}{start + i:08d}{secrets.token_hex(2).upper()}", key=pki.new_key())
            for i in range(count)
        ]

    async def register(self, sim: Sim, token: str) -> None:
        body, ctype, nonce = register_request(sim, token, int(self.now()))
        reply = await self._post(body, ctype, nonce)
        assert isinstance(reply, Registered)
        sim.piid = reply.piid

    async def report(self, sim: Sim, interval_end: int, peak: int) -> None:
        body, ctype, nonce = report_request(
            sim, interval_end, peak, int(self.now()), want_chain=self._verifier.needs_chain
        )
        reply = await self._post(body, ctype, nonce)
        assert isinstance(reply, UsageAccepted)
        sim.sent += 1

    async def run(
        self, jobs: Callable[[int], object], count: int, concurrency: int, deadline: float | None = None
    ) -> Stats:
        """Run ``jobs(i)`` (a coroutine factory) for i in range(count) with ``concurrency`` workers,
        until done or the monotonic ``deadline``; collect latencies."""
        stats = Stats()
        counter = iter(range(count))

        async def worker() -> None:
            for i in counter:
                if deadline is not None and time.monotonic() >= deadline:
                    return
                started = time.perf_counter()
                try:
                    await jobs(i)  # type: ignore[misc]
                except RemoteError as err:
                    stats.add_error(err.code)
                    continue
                except Exception as exc:  # a load test reports failures, it does not stop on them
                    stats.add_error(type(exc).__name__)
                    continue
                stats.latencies.append(time.perf_counter() - started)
                stats.ok += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return stats
