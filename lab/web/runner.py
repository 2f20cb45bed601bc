"""The scenario runner of the console: a built-in scenario played as ``ssmlab scenario run`` plays it
(``lab.scenario``: a private lab of its own, never the one the console shows), in a worker thread,
its steps and checks recorded as they come so the page can show them turning green or red.

One run at a time; the last one stays on the page. A run can be stopped between two steps (the
scenario's own lab is then stopped and kept for inspection, as a failed run's is).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab import scenario
from lab.player import Check
from plumbing.clients.lab import LabError


@dataclass
class StepDone:
    n: int
    at: str
    line: str
    checks: list[dict[str, Any]]

    @property
    def passed(self) -> bool | None:
        """None for a step without checks."""
        return all(c["passed"] for c in self.checks) if self.checks else None


@dataclass
class Run:
    name: str
    description: str
    total: int
    started: float
    steps: list[StepDone] = field(default_factory=list)
    report: dict[str, Any] | None = None
    finished: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    @property
    def running(self) -> bool:
        return self.report is None

    @property
    def state(self) -> str:
        """running, passed, failed or stopped (the words the page shows)."""
        if self.report is None:
            return "stopping" if self.stop.is_set() else "running"
        if self.report["passed"]:
            return "passed"
        return "stopped" if self.stop.is_set() else "failed"

    def checks(self) -> tuple[int, int]:
        """(passed, total) so far."""
        done = [c for s in self.steps for c in s.checks]
        return sum(c["passed"] for c in done), len(done)

    def watch(self, n: int, at: str, line: str, marks: list[Check]) -> None:
        """Called by the player's thread after each step."""
        self.steps.append(StepDone(n, at, line, [c.view() for c in marks]))
        if self.stop.is_set():
            raise LabError("stopped from the lab console", "start it again from the Scenarios page", "stopped")


class Runner:
    def __init__(self, certs: Path) -> None:
        self.certs = certs
        self.current: Run | None = None
        self._task: asyncio.Task[None] | None = None

    @staticmethod
    def builtin() -> list[tuple[str, str]]:
        return scenario.builtin()

    def start(self, name: str) -> Run:
        """Start playing the built-in scenario ``name``; refused while another one plays."""
        if self.current is not None and self.current.running:
            raise LabError(
                f"the scenario {self.current.name} is still playing",
                "wait for it to finish, or stop it",
                "scenario_running",
            )
        if name not in dict(self.builtin()):
            raise LabError(f"no built-in scenario named {name!r}", "pick one of the list", "scenario_unknown")
        played = scenario.load(name)
        loop = asyncio.get_running_loop()
        run = Run(played.name, played.description, len(played.steps), loop.time())
        self.current = run
        self._task = asyncio.create_task(self._play(run))
        return run

    async def _play(self, run: Run) -> None:
        try:
            run.report = await asyncio.to_thread(
                scenario.run, run.name, certs=self.certs, progress=False, watch=run.watch
            )
        except Exception as exc:  # whatever broke, the page says so instead of spinning
            run.report = {"passed": False, "error": f"the run broke: {exc!r}", "checks": []}
        finally:
            run.finished = asyncio.get_running_loop().time()

    def stop(self) -> None:
        if self.current is not None and self.current.running:
            self.current.stop.set()

    async def close(self) -> None:
        """Stop a run in progress at its next step and wait for its lab to stop."""
        self.stop()
        if self._task is not None:
            await asyncio.wait([self._task], timeout=30)
