"""What the console's forms send, read into what the processes' lab planes take.

A form field the console cannot read is refused here with a code, a message naming the field and
a fix (``LabError``, shown in the form's card); what it can read goes to the process, which judges
the rest (a fault that hits nothing, a snapshot name that is not a plain name) with its own code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from plumbing.clients.lab import LabError

#: The fault kinds and what each does, in the order the form lists them.
FAULT_KINDS = {
    "status": "answer an HTTP error status",
    "latency": "answer late",
    "drop": "close the connection without an answer",
    "reset": "reset the connection (TCP RST)",
}
#: The fault form's whole-number fields: (label, lowest, highest).
_WHOLE = {
    "status": ("HTTP status", 400, 599),
    "retry_after": ("Retry-After", 0, 86400),
    "latency_ms": ("latency", 1, 120_000),
    "times": ("hits", 1, 1_000_000),
}
#: The fields each kind reads (the others are ignored: a hidden field keeps what was typed).
_FOR_KIND = {
    "status": {"status", "retry_after"},
    "latency": {"latency_ms"},
    "drop": set(),
    "reset": set(),
}
#: The quick advances of the clock card: (duration, what the button says).
ADVANCES = (("15m", "15 min"), ("1h", "1 hour"), ("1d", "1 day"), ("30d", "30 days"), ("90d", "90 days"))


def _text(form: Mapping[str, str], name: str) -> str | None:
    value = form.get(name, "").strip()
    return value or None


def _whole(form: Mapping[str, str], name: str) -> int | None:
    raw = _text(form, name)
    if raw is None:
        return None
    label, low, high = _WHOLE[name]
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise LabError(f"{label} must be a whole number from {low} to {high}, not {raw!r}", "fix it", "invalid_fault")
    return value


def fault(form: Mapping[str, str]) -> dict[str, Any]:
    """The fault the form describes, as ``POST /_lab/faults`` takes it."""
    kind = form.get("kind", "")
    if kind not in FAULT_KINDS:
        raise LabError(f"unknown fault kind {kind!r}", f"choose one of: {', '.join(FAULT_KINDS)}", "invalid_fault")
    spec: dict[str, Any] = {"kind": kind}
    for name in ("status", "retry_after", "latency_ms"):
        value = _whole(form, name)
        if value is not None and name in _FOR_KIND[kind]:
            spec[name] = value
    if kind == "latency" and "latency_ms" not in spec:
        raise LabError("a latency fault needs its latency", "give it in milliseconds, e.g. 800", "invalid_fault")
    times = _whole(form, "times")
    if times is not None:
        spec["times"] = times
    for name in ("path", "piid", "ttl"):
        text = _text(form, name)
        if text is not None:
            spec[name] = text
    return spec


def rate(form: Mapping[str, str]) -> float:
    raw = _text(form, "rate") or ""
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 10_000_000:
        raise LabError(
            f"the rate must be a number from 0 to 10000000, not {raw!r}",
            "0 freezes both clocks, 1 is real time, 86400 plays a day a second",
            "invalid_rate",
        )
    return value


def required(form: Mapping[str, str], name: str, label: str, fix: str) -> str:
    value = _text(form, name)
    if value is None:
        raise LabError(f"{label} is empty", fix, "missing_field")
    return value
