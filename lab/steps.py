"""The steps of a scenario, typed: one msgspec Struct per kind, checked when the file is loaded.

A ``[[step]]`` table has exactly one action key, which names its kind (``STEPS``), and that kind's
arguments. ``decode`` turns the table into its Struct or raises ``ScenarioError`` naming the step,
what is wrong and how to write it: an unknown key, a missing argument, a value of the wrong type
or out of range. Nothing runs before every step of a file has decoded.

This module only describes steps; ``lab.player`` plays them (one handler per kind).
"""

from __future__ import annotations

import re

import msgspec

from shared.durations import parse_duration


class ScenarioError(Exception):
    """A scenario file that cannot be played: the message names the step and the fix."""


class Step(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One step; each kind's first field is its action key, holding the action's subject."""


class Refusable(Step, frozen=True, kw_only=True):
    #: The refusal the step expects (an error code); the check fails if the action succeeds.
    fails: str | None = None


class Advance(Step, frozen=True, kw_only=True):
    advance: str

    def __post_init__(self) -> None:
        parse_duration(self.advance)  # its ValueError says which forms a duration takes


class Register(Refusable, frozen=True, kw_only=True):
    register: str
    va: str = "DEFAULT"


class Reregister(Refusable, frozen=True, kw_only=True):
    reregister: str
    va: str = "DEFAULT"


class Deregister(Refusable, frozen=True, kw_only=True):
    deregister: str


#: ``renew = ...`` -> the local API action it calls.
RENEWALS = {"authorization": "renew-authorization", "registration": "renew-registration"}


class Renew(Refusable, frozen=True, kw_only=True):
    renew: str
    instance: str | None = None

    def __post_init__(self) -> None:
        if self.renew not in RENEWALS:
            raise ValueError(f"'authorization' or 'registration', not {self.renew!r}")


class Usage(Step, frozen=True, kw_only=True):
    usage: str
    set: dict[str, int]


class Network(Step, frozen=True, kw_only=True):
    network: str

    def __post_init__(self) -> None:
        if self.network not in ("cut", "restore"):
            raise ValueError(f"'cut' or 'restore', not {self.network!r}")


class Tls(Step, frozen=True, kw_only=True):
    tls: str


class Mtls(Step, frozen=True, kw_only=True):
    """``mtls = true``: the SSM demands ID certificates on the device plane (mutual TLS)."""

    mtls: bool


class IdCert(Step, frozen=True, kw_only=True):
    """``id_cert = "revoked"`` (or ``"foreign"``, ``"expired"``): an ID-certificate drill on ``instance``."""

    id_cert: str
    instance: str | None = None

    def __post_init__(self) -> None:
        if self.id_cert not in ("revoked", "foreign", "expired"):
            raise ValueError(f"'revoked', 'foreign' or 'expired', not {self.id_cert!r}")


class Skew(Step, frozen=True, kw_only=True):
    """``skew = "3d"``: the agent's clock 3 days ahead of the SSM's (``"-3d"`` behind, ``"0"`` together)."""

    skew: str


class Trust(Step, frozen=True, kw_only=True):
    """``trust = "current-ca"`` (the CA of the current drill) or ``"next-ca"`` (a CA rollover's new root)."""

    trust: str
    alias: str = "scenario-ca"

    def __post_init__(self) -> None:
        if self.trust not in ("current-ca", "next-ca"):
            raise ValueError(f"'current-ca' or 'next-ca', not {self.trust!r}")


class Rollover(Step, frozen=True, kw_only=True):
    """``rollover = "30d"``: a CA rollover of the SSM's PKI, cutting over after that much domain time."""

    rollover: str

    def __post_init__(self) -> None:
        parse_duration(self.rollover)


class Cutover(Step, frozen=True, kw_only=True):
    """``cutover = true``: the rollover in progress cuts over now."""

    cutover: bool


class ApplyFix(Step, frozen=True, kw_only=True):
    apply_fix: bool


class Buy(Step, frozen=True, kw_only=True):
    buy: str
    quantity: int
    type: str = "Flex"
    mode: str = "Production"
    va: str = "DEFAULT"


class Reserve(Refusable, frozen=True, kw_only=True):
    reserve: str
    licenses: dict[str, int]


class ReturnReservation(Refusable, frozen=True, kw_only=True):
    return_reservation: str


class Transport(Step, frozen=True, kw_only=True):
    transport: str
    mode: str | None = None  # accepted for older files; the action key gives the mode
    connection: str | None = None
    url: str | None = None
    proxy_host: str | None = None
    proxy_port: int | None = None


class Expect(Step, frozen=True, kw_only=True):
    """``expect = NAME`` (an instance), ``"pool"`` or ``"banner"``; each given field is a check."""

    expect: str
    registration: str | None = None
    authorization: str | None = None
    enforcement: bool | None = None
    reason: str | None = None
    #: Words the instance's last failure message must contain (``"3 days"``).
    reason_says: str | None = None
    license: str | None = None
    license_status: str | None = None
    usage_count: int | None = None
    actual_usage: int | None = None
    level: str | None = None
    status: str | None = None
    in_use: int | None = None
    va: str | None = None
    type: str | None = None
    reserved: int | None = None

    def given(self) -> dict[str, object]:
        """The fields the scenario gave (a check each), in declaration order."""
        return {k: v for k, v in msgspec.structs.asdict(self).items() if k != "expect" and v is not None}


class ExpectEvent(Step, frozen=True, kw_only=True):
    expect_event: str
    kind: str
    contains: str | None = None


class ExpectDiagnosis(Step, frozen=True, kw_only=True):
    expect_diagnosis: str


class Note(Step, frozen=True, kw_only=True):
    note: str


#: action key -> the kind of step it names.
STEPS: dict[str, type[Step]] = {
    "advance": Advance,
    "register": Register,
    "reregister": Reregister,
    "deregister": Deregister,
    "renew": Renew,
    "usage": Usage,
    "network": Network,
    "tls": Tls,
    "mtls": Mtls,
    "rollover": Rollover,
    "cutover": Cutover,
    "id_cert": IdCert,
    "skew": Skew,
    "trust": Trust,
    "apply_fix": ApplyFix,
    "buy": Buy,
    "reserve": Reserve,
    "return_reservation": ReturnReservation,
    "transport": Transport,
    "expect": Expect,
    "expect_event": ExpectEvent,
    "expect_diagnosis": ExpectDiagnosis,
    "note": Note,
}

_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$(?:\.(?P<key>[^`]*))?`)?$", re.DOTALL)


def _explain(exc: msgspec.ValidationError) -> str:
    """msgspec's 'Expected `int`, got `str` - at `$.quantity`' as 'quantity: expected `int`, got `str`'."""
    found = _AT.match(str(exc))
    if found is None or not found["key"]:
        return str(exc)
    what = found["what"].replace(" | null", "")  # TOML has no null: an absent key is the default
    return f"{found['key']}: {what[:1].lower()}{what[1:]}"


def decode(n: int, table: object) -> Step:
    """Step ``n`` (from 1) of a file, checked: its kind's Struct, or ``ScenarioError``."""
    if not isinstance(table, dict):
        raise ScenarioError(f"step {n}: a step is a [[step]] table of keys, not {table!r}")
    found = [k for k in table if k in STEPS]
    if len(found) != 1:
        raise ScenarioError(f"step {n}: give exactly one action, found {found or 'none'} (actions: {', '.join(STEPS)})")
    action = found[0]
    kind = STEPS[action]
    fields = msgspec.structs.fields(kind)
    allowed = {f.name for f in fields} - {action}
    extra = set(table) - allowed - {action}
    if extra:
        raise ScenarioError(
            f"step {n} ({action}): unknown key(s) {sorted(extra)}; {action} takes {sorted(allowed) or 'no other key'}"
        )
    required = {f.name for f in fields if f.required} - {action}
    missing = required - set(table)
    if missing:
        raise ScenarioError(
            f"step {n} ({action}): missing {sorted(missing)}; {action} needs {', '.join(sorted(required))} "
            "(docs/lab.md, 'Scenarios', lists each step's arguments)"
        )
    try:
        return msgspec.convert(table, kind)
    except msgspec.ValidationError as exc:
        raise ScenarioError(
            f"step {n} ({action}): {_explain(exc)} (docs/lab.md, 'Scenarios', lists each step's arguments)"
        ) from None
