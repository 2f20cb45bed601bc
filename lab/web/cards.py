"""What each part of the console shows, read from the processes: one function per card and per
live fragment, each returning its template's context.

A read that fails (a process down, a refusal) does not fail the page: the part shows the error with
its fix (``Read.error``) and the next poll tries again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lab.view import ROUTINE
from lab.web.backend import Backend
from lab.web.forms import ADVANCES, FAULT_KINDS
from lab.web.runner import Runner
from plumbing.clients.lab import LabError


@dataclass
class Read:
    """A value read from a process, or why it could not be."""

    value: Any = None
    error: LabError | None = None


async def attempt(call: Awaitable[Any]) -> Read:
    try:
        return Read(await call)
    except LabError as exc:
        return Read(error=exc)


def rate_words(rate: float) -> str:
    """A clock's rate as the pages say it: frozen, real time, or how much domain time a second plays."""
    if rate == 0:
        return "frozen"
    if rate == 1:
        return "real time"
    for unit, seconds in (("d", 86400), ("h", 3600), ("min", 60)):
        if rate >= seconds:
            return f"×{rate:g} ({rate / seconds:.3g} {unit}/s)"
    return f"×{rate:g}"


# -- live fragments -------------------------------------------------------------------------------


def reading(view: dict[str, Any], at: float) -> str:
    """What a clock reads at the real instant ``at``, from the state it publishes (domain time =
    epoch + (real - anchor) x rate). Two clocks shown at one instant agree exactly when they share a
    timeline, however fast it runs: two answers read a few milliseconds apart would differ by an
    hour at the demo's rate."""
    try:
        seconds = float(view["epoch"]) + (at - float(view["anchor"])) * float(view["rate"])
        return datetime.fromtimestamp(seconds, UTC).isoformat()
    except (KeyError, TypeError, ValueError, OverflowError, OSError):  # not a scaled clock's state
        return str(view.get("now", ""))


async def clocks(b: Backend, sides: tuple[str, ...] = ("ssm", "agent")) -> dict[str, Any]:
    """The processes' clocks, as they read at one instant (the SSM's alone in the top bar)."""
    reads = await asyncio.gather(*(attempt(b.read(side, "/_lab/clock")) for side in sides))
    at = time.time()
    return {
        "sides": [
            {"side": side, "read": read, "now": None if read.error else reading(read.value, at)}
            for side, read in zip(sides, reads, strict=True)
        ]
    }


def clock_job(b: Backend, now: float) -> dict[str, Any]:
    """The advance in progress, or the last one."""
    return {"job": b.job, "now": now}


async def tls_now(b: Backend) -> dict[str, Any]:
    return {"read": await attempt(b.read("ssm", "/_lab/tls"))}


async def fault_list(b: Backend) -> dict[str, Any]:
    return {"read": await attempt(b.read("ssm", "/_lab/faults"))}


async def timeline(b: Backend, *, limit: int, routine: bool, compact: bool = False) -> dict[str, Any]:
    """The merged timeline, newest first; the 15-minute usage reports only when asked; ``compact``:
    a list for a narrow column rather than a table."""
    read = await attempt(b.timeline(limit if routine else limit + 200))
    if read.error is None:
        events = read.value if routine else [e for e in read.value if e["kind"] not in ROUTINE]
        read = Read(list(reversed(events[-limit:])))
    return {"read": read, "limit": limit, "routine": routine, "compact": compact}


async def journal(b: Backend, *, limit: int, lab: bool) -> dict[str, Any]:
    """The SSM's last requests, newest first; its lab-plane requests (clock moves, faults: the SSM
    does not journal the lab's reads, this console's polling) only when asked."""
    read = await attempt(b.read("ssm", f"/_lab/journal?limit={limit if lab else limit * 4}"))
    if read.error is None:
        entries = [e for e in read.value if lab or e.get("kind") != "lab"]
        read = Read(list(reversed(entries[-limit:])))
    return {"read": read, "limit": limit, "lab": lab}


def run(runner: Runner, now: float) -> dict[str, Any]:
    return {"run": runner.current, "now": now}


# -- cards (what an action answers with) -----------------------------------------------------------


async def clock_card(b: Backend, now: float) -> dict[str, Any]:
    return {
        "clocks": await clocks(b),
        "job": clock_job(b, now),
        "advances": ADVANCES,
        "form": {},
    }


async def tls_card(b: Backend) -> dict[str, Any]:
    return {"now": await tls_now(b), "form": {}}


async def faults_card(b: Backend) -> dict[str, Any]:
    instances = await attempt(b.read("ssm", "/_lab/instances?limit=200"))
    return {
        "list": await fault_list(b),
        "kinds": FAULT_KINDS,
        "instances": [] if instances.error else instances.value["instances"],
        "form": {"kind": "status", "status": "503"},
    }


async def snapshots_card(b: Backend) -> dict[str, Any]:
    return {"names": b.snapshots(), "form": {}}


def scenarios_card(runner: Runner, now: float) -> dict[str, Any]:
    return {"scenarios": runner.builtin(), "part": run(runner, now), "form": {}}


async def pki_card(b: Backend) -> dict[str, Any]:
    """Mutual TLS on the device plane, the ID-certificate drills and the CA rollover."""
    mtls, rollover, status = await asyncio.gather(
        attempt(b.read("ssm", "/_lab/device-mtls")),
        attempt(b.read("ssm", "/_lab/pki/rollover")),
        attempt(b.read("agent", "/api/v1/status")),
    )
    instances = [] if status.error else [i["product_instance_name"] for i in status.value["instances"] if i.get("piid")]
    return {"mtls": mtls, "rollover": rollover, "instances": instances, "drills": ID_CERT_DRILLS, "form": {}}


#: The ID-certificate drills (``ssmlab id-cert``), with a line each.
ID_CERT_DRILLS = {
    "revoked": "the SSM revokes the instance's ID certificate",
    "foreign": "the instance presents an ID certificate of another product's CA",
    "expired": "the instance presents an ID certificate whose validity ended",
}
