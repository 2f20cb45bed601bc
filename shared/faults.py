"""Injected faults (the lab's Toxiproxy/WireMock-style chaos), sans-IO: what a fault is, which
request it hits, and when it reverts itself.

A fault answers an HTTP status (with ``Retry-After`` if asked), adds latency, drops the
connection without an answer, or resets it. It targets a path (prefix), a product instance
(piid), a registration token (its id), a kind of device message (``message``: e.g. only the
authorizations, so that a registration succeeds and its authorization fails) — or every device
request — with a probability drawn
from its own seeded generator (repeatable), for a number of hits and/or a time to live in domain
time, after which it reverts itself.

Without a path a fault hits device-plane requests only; with a path it hits the requests under
that path, device plane or admin plane (the OAuth2 token endpoint, Cisco's REST API): which plane
a request is on is the caller's to say (``Target.device``), from its declared route. The lab
plane is never faulted: the lab must stay drivable.

Pure: no IO, no clock (``now`` is a parameter).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from shared.durations import parse_duration
from shared.errors import BadRequest, NotFound
from shared.limits import Int64

Kind = Literal["status", "latency", "drop", "reset"]
#: The kinds of device message a fault can target (as the request journal names them).
Message = Literal["registration", "authorization", "report", "registration_renewal", "deregistration", "sync"]


#: The status a status fault answers when it names none.
DEFAULT_STATUS = 503


class FaultSpec(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    kind: Kind
    #: a status fault's answer (``DEFAULT_STATUS`` when not given); only a status fault has one
    status: Annotated[int, msgspec.Meta(ge=400, le=599)] | None = None
    retry_after: Annotated[int, msgspec.Meta(ge=0, le=86400)] | None = None
    #: a latency fault's delay; only a latency fault has one
    latency_ms: Annotated[int, msgspec.Meta(ge=0, le=120_000)] | None = None
    path: Annotated[str, msgspec.Meta(max_length=1024)] | None = None
    piid: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    token_id: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    message: Message | None = None
    probability: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)] = 1.0
    seed: Int64 | None = None
    ttl: Annotated[str, msgspec.Meta(max_length=64)] | None = None
    times: Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)] | None = None


@dataclass
class Fault:
    id: int
    spec: FaultSpec
    created_at: datetime
    expires_at: datetime | None
    remaining: int | None
    hits: int = 0
    rng: random.Random = field(default_factory=random.Random)

    @property
    def status(self) -> int:
        """What a status fault answers."""
        return self.spec.status or DEFAULT_STATUS

    def view(self) -> dict[str, object]:
        """The fault as listed: its kind and only the settings of that kind (a drop fault has no
        status), its targets, and how long it lasts."""
        spec = msgspec.structs.asdict(self.spec)
        if self.spec.kind == "status":
            spec["status"] = self.status
        else:
            del spec["status"], spec["retry_after"]
        if self.spec.kind != "latency":
            del spec["latency_ms"]
        return {
            "id": self.id,
            **spec,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "remaining": self.remaining,
            "hits": self.hits,
        }


@dataclass(frozen=True)
class Target:
    """What is known of a request when faults are matched."""

    path: str
    piid: str | None = None
    token_id: str | None = None
    #: The device message's kind (``registration``, ``authorization``...).
    message: str | None = None
    #: the request is on the device plane (else on the admin plane: only faults with a path hit it)
    device: bool = True


class FaultTable:
    def __init__(self) -> None:
        self._faults: dict[int, Fault] = {}
        self._ids = itertools.count(1)

    def add(self, spec: FaultSpec, now: datetime) -> Fault:
        """Raises BadRequest ``invalid_fault`` for an unreadable ttl, a fault that hits nothing, or
        settings of another kind (a drop fault answers no status)."""
        if spec.kind == "latency" and not spec.latency_ms:
            raise BadRequest("a latency fault needs latency_ms > 0", code="invalid_fault", fix='e.g. "latency_ms": 800')
        given = [
            name
            for name, value, kind in (
                ("status", spec.status, "status"),
                ("retry_after", spec.retry_after, "status"),
                ("latency_ms", spec.latency_ms, "latency"),
            )
            if value is not None and spec.kind != kind
        ]
        if given:
            raise BadRequest(
                f"a {spec.kind} fault takes no {' or '.join(given)}",
                code="invalid_fault",
                fix="status and retry_after belong to kind 'status', latency_ms to kind 'latency'; "
                "a drop or reset fault answers nothing",
            )
        expires = None
        if spec.ttl is not None:
            try:
                expires = now + parse_duration(spec.ttl)
            except ValueError as exc:
                raise BadRequest(f"ttl: {exc}", code="invalid_fault", fix='e.g. "ttl": "2h"') from None
        fault = Fault(next(self._ids), spec, now, expires, spec.times, rng=random.Random(spec.seed))  # noqa: S311
        self._faults[fault.id] = fault
        return fault

    def remove(self, fault_id: int) -> Fault:
        try:
            return self._faults.pop(fault_id)
        except KeyError:
            raise NotFound(f"no fault {fault_id}", code="fault_not_found", fix="list them: GET /_lab/faults") from None

    def clear(self) -> list[Fault]:
        gone, self._faults = list(self._faults.values()), {}
        return gone

    def expire(self, now: datetime) -> list[Fault]:
        """Remove (revert) the faults whose time to live has passed; return them."""
        gone = [f for f in self._faults.values() if f.expires_at is not None and now >= f.expires_at]
        for f in gone:
            del self._faults[f.id]
        return gone

    def active(self) -> list[Fault]:
        return list(self._faults.values())

    def match(self, target: Target, now: datetime) -> Fault | None:
        """The first fault that hits this request (its probability drawn), or None."""
        self.expire(now)
        for fault in list(self._faults.values()):
            s = fault.spec
            if s.path is None and not target.device:
                continue
            if s.path is not None and not target.path.startswith(s.path):
                continue
            if s.piid is not None and s.piid != target.piid:
                continue
            if s.token_id is not None and s.token_id != target.token_id:
                continue
            if s.message is not None and s.message != target.message:
                continue
            if s.probability < 1.0 and fault.rng.random() >= s.probability:
                continue
            fault.hits += 1
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    del self._faults[fault.id]
            return fault
        return None

    @property
    def needs_body(self) -> bool:
        """Whether matching needs the request's signer, token or kind (read from its body)."""
        return any(
            f.spec.piid is not None or f.spec.token_id is not None or f.spec.message is not None
            for f in self._faults.values()
        )
