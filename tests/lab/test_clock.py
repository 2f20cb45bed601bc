"""Moving two clocks in lockstep (``lab.clock``), against two fake processes: every timer of either
side is a step, and an advance stopped half-way leaves both at one instant with their rates back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from lab import clock as lockstep

START = datetime(2027, 1, 4, 8, 0, tzinfo=UTC)


class FakeProcess:
    """A process's clock as ``/_lab/clock`` shows it, with a timer every ``every``."""

    def __init__(self, name: str, every: timedelta, rate: float) -> None:
        self.name, self.every, self.rate, self.now = name, every, rate, START
        self.moves: list[datetime] = []

    def view(self) -> dict[str, Any]:
        next_timer = START + self.every * ((self.now - START) // self.every + 1)
        return {"now": self.now.isoformat(), "rate": self.rate, "next_deadline": next_timer.isoformat()}

    def get(self) -> dict[str, Any]:
        return self.view()

    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        if "rate" in body:
            self.rate = body["rate"]
        if "to" in body:
            self.now = max(self.now, datetime.fromisoformat(body["to"]))
            self.moves.append(self.now)
        return self.view()

    def close(self) -> None:
        return None


def test_every_timer_of_either_side_is_a_step() -> None:
    ssm, agent = FakeProcess("ssm", timedelta(hours=1), 60), FakeProcess("agent", timedelta(minutes=15), 60)
    target, steps = lockstep.advance([ssm, agent], "2h")
    assert target == START + timedelta(hours=2) and steps == 8  # every 15 minutes, the hours among them
    assert ssm.now == agent.now == target and ssm.rate == agent.rate == 60


def test_an_advance_stopped_half_way_leaves_both_together() -> None:
    ssm, agent = FakeProcess("ssm", timedelta(hours=1), 60), FakeProcess("agent", timedelta(minutes=15), 60)
    asked = 0

    def stop() -> bool:
        nonlocal asked
        asked += 1
        return asked > 3

    reached, steps = lockstep.advance([ssm, agent], "1d", stop=stop)
    assert steps == 3 and reached == START + timedelta(minutes=45)
    assert ssm.now == agent.now == reached  # one instant on both sides
    assert ssm.rate == agent.rate == 60  # their rates back
