"""CA rollover: the SSM's PKI (root, issuing CA, TLS and response-signing certificates) replaced by a
new generation, with an overlap period on the domain clock (issue 19).

1. ``start(overlap)``: a new PKI is made in ``certs/next/`` ("ssmlab Lab Root CA G2" and its
   issuing CA, the same host names); the lab's ``truststore.pem`` and ``cacerts`` now carry both
   roots, and the new root is published (``GET /_lab/pki/next-ca.pem``): agents given it now never
   fail. Nothing served changes yet.
2. At the cutover (``overlap`` of domain time later, or ``cutover()`` at once) the files of
   ``certs/`` move to ``certs/previous/`` and the new ones take their place; the SSM serves the new
   TLS chain, signs replies with the new signing certificate and issues ID certificates from the
   new issuing CA (at registration and its renewal). It keeps trusting the old root for the ID
   certificates it issued before. Agents that trust only the old root fail at their next
   connection: ``tls_untrusted_root``, naming the new root, which ``/_lab/tls/ca.pem`` offers.

The plan (phase, cutover instant, generation) is saved in the store's settings before anything is
acknowledged; a restart during the overlap waits for the same cutover instant.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509

from server.pki_files import (
    ROOT_ALIAS,
    TRUSTSTORE_PASSWORD,
    LabPki,
    PkiPaths,
    init_lab_pki,
    load_lab_pki,
    write_public,
)
from server.store import Store
from shared import javastore, pki
from shared.clock import AnyClock, epoch, utc
from shared.errors import Conflict
from shared.logging import get_logger

log = get_logger("ssm.rollover")

SETTING = "pki_rollover"
NEXT, PREVIOUS = "next", "previous"
#: The files of one PKI generation (``server.pki_files``), moved together at the cutover.
FILES = (
    "ca.pem",
    "ca.key",
    "intermediate.pem",
    "intermediate.key",
    "server.pem",
    "server.key",
    "signing.pem",
    "signing.key",
    "truststore.pem",
    "cacerts",
)


@dataclass(frozen=True, slots=True)
class Plan:
    phase: str = "none"  # none | overlap | done
    generation: str = ""  # "G2"
    started_at: int | None = None
    cutover_at: int | None = None


def next_generation(root: x509.Certificate) -> str:
    """ "G2" after the first root, "G3" after "... G2"."""
    name = pki.common_name(root) or ""
    last = name.rsplit(" ", 1)[-1]
    n = int(last[1:]) if last.startswith("G") and last[1:].isdigit() else 1
    return f"G{n + 1}"


def previous_roots(certs: Path) -> list[x509.Certificate]:
    """Roots of earlier generations the SSM still trusts for the ID certificates they issued."""
    path = certs / PREVIOUS / "ca.pem"
    return pki.load_certs(path.read_bytes()) if path.exists() else []


class Rollover:
    """The rollover of one SSM's PKI (its ``certs`` folder)."""

    def __init__(self, certs: Path) -> None:
        self.certs = certs
        self.plan = Plan()
        self._task: asyncio.Task[None] | None = None

    async def load(self, store: Store) -> Plan:
        saved = await store.read(lambda uow: uow.settings.get(SETTING))
        self.plan = Plan(**json.loads(saved)) if saved else Plan()
        return self.plan

    async def _save(self, store: Store, plan: Plan) -> None:
        text = json.dumps(asdict(plan))
        await store.write(lambda uow: uow.settings.set(SETTING, text))
        self.plan = plan

    def next_root(self) -> x509.Certificate | None:
        path = self.certs / NEXT / "ca.pem"
        return pki.load_cert(path.read_bytes()) if self.plan.phase == "overlap" and path.exists() else None

    async def start(self, store: Store, current: LabPki, clock: AnyClock, overlap: timedelta) -> Plan:
        """Make the next PKI and distribute its root; the cutover comes ``overlap`` later (domain time).

        Raises:
            Conflict: ``rollover_in_progress``.
        """
        if self.plan.phase == "overlap":
            raise Conflict(
                f"a rollover to {self.plan.generation} is in progress (cutover at "
                f"{utc(self.plan.cutover_at or 0).isoformat()})",
                code="rollover_in_progress",
                fix="wait for its cutover, or cut over now: POST /_lab/pki/rollover/cutover (ssmlab pki cutover)",
            )
        generation = next_generation(current.root)
        nxt = self.certs / NEXT
        shutil.rmtree(nxt, ignore_errors=True)  # a half-made earlier attempt
        dns, ips = pki.host_names(current.server.cert)
        init_lab_pki(nxt, hosts=[*dns, *ips], generation=generation)
        new_root = load_lab_pki(nxt).root
        # the lab distributes the new root beside the old: an agent seeded from these trusts both
        both = [current.root, new_root]
        paths = PkiPaths(self.certs)
        write_public(paths.truststore_pem, b"".join(pki.cert_pem(c) for c in both))
        aliases = [(ROOT_ALIAS, current.root), (f"{ROOT_ALIAS}-{generation.lower()}", new_root)]
        write_public(paths.truststore_p12, javastore.java_truststore(aliases, TRUSTSTORE_PASSWORD))
        now = clock.now()
        plan = Plan("overlap", generation, epoch(now), epoch(now + overlap))
        await self._save(store, plan)
        log.info("rollover_started", generation=generation, cutover_at=utc(plan.cutover_at or 0).isoformat())
        return plan

    async def cutover(self, store: Store, now: datetime) -> LabPki:
        """Put the next PKI in place; the new PKI.

        Raises:
            Conflict: ``no_rollover``.
        """
        if self.plan.phase != "overlap":
            raise Conflict(
                "no CA rollover is in progress",
                code="no_rollover",
                fix='start one: POST /_lab/pki/rollover {"overlap": "30d"} (ssmlab pki rollover --overlap 30d)',
            )
        old_root = pki.load_cert(PkiPaths(self.certs).ca_cert.read_bytes())
        nxt, prev = self.certs / NEXT, self.certs / PREVIOUS
        prev.mkdir(exist_ok=True)
        kept = previous_roots(self.certs)
        for name in FILES:
            if (self.certs / name).exists():
                shutil.copy2(self.certs / name, prev / name)
        # every root replaced so far, for the ID certificates their CAs issued
        write_public(prev / "ca.pem", b"".join(pki.cert_pem(c) for c in [*kept, old_root]))
        for name in FILES:
            if (nxt / name).exists():
                (nxt / name).replace(self.certs / name)
        shutil.rmtree(nxt, ignore_errors=True)
        new = load_lab_pki(self.certs)
        # the instant it happened (a cutover asked for early is not the planned one)
        await self._save(store, Plan("done", self.plan.generation, self.plan.started_at, epoch(now)))
        log.info("rollover_cutover", generation=self.plan.generation, root=pki.fingerprint(new.root))
        return new

    def schedule(self, clock: AnyClock, run: Callable[[], Awaitable[None]]) -> None:
        """Run ``run()`` at the planned cutover instant (domain time)."""
        self.cancel()
        if self.plan.phase != "overlap" or self.plan.cutover_at is None:
            return
        when = utc(self.plan.cutover_at)

        async def wait() -> None:
            await clock.sleep_until(when)
            if self.plan.phase == "overlap":
                await run()

        self._task = asyncio.create_task(wait(), name="pki-cutover")
        clock.track(self._task)

    def cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def view(self) -> dict[str, object]:
        nxt = self.next_root()
        return {
            **asdict(self.plan),
            "cutover_at": utc(self.plan.cutover_at).isoformat() if self.plan.cutover_at else None,
            "started_at": utc(self.plan.started_at).isoformat() if self.plan.started_at else None,
            "next_root": None
            if nxt is None
            else {
                "subject": nxt.subject.rfc4514_string(),
                "fingerprint": pki.fingerprint(nxt),
                "pem": pki.cert_pem(nxt).decode(),
            },
            "previous_roots": [pki.common_name(c) for c in previous_roots(self.certs)],
        }
