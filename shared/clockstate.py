"""What a process saves of its clock (``ClockState``: kind, epoch, anchor, rate) and the JSON it
saves it as. Pure: rebuilding a running clock from a state is ``shared.clock.load_state``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal, Protocol

ClockKind = Literal["system", "scaled", "virtual"]


@dataclass(frozen=True, slots=True)
class ClockState:
    """Everything needed to rebuild a clock in another process or after a restart."""

    kind: ClockKind
    epoch: float  # domain epoch seconds at the anchor
    anchor: float  # real epoch seconds
    rate: float


class _Saveable(Protocol):
    def state(self) -> ClockState: ...


def dump_state(clock: _Saveable) -> str:
    """The clock's state as JSON, for persisting it."""
    s = clock.state()
    return json.dumps({"kind": s.kind, "epoch": s.epoch, "anchor": s.anchor, "rate": s.rate})


def parse_state(text: str) -> ClockState | None:
    """The state in ``dump_state``'s JSON; None when the text is not a saved clock."""
    try:
        raw = json.loads(text)
        state = ClockState(raw["kind"], float(raw["epoch"]), float(raw["anchor"]), float(raw["rate"]))
    except (ValueError, KeyError, TypeError):
        return None
    if state.kind not in ("system", "scaled", "virtual") or state.rate < 0:
        return None
    return state
