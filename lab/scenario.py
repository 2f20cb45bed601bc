"""Graded scenarios: TOML files of steps and expectations, played on a private lab.

A scenario starts its own SSM and Smart Agent (free loopback ports, a throw-away folder, virtual
clocks on one timeline), plays its steps in order and checks each expectation against what the
two processes answer over HTTP. The report lists every check with what was expected and what was
found; the run passes when every check does.

A scenario file::

    name = "scenario-1"
    description = "..."
    start = "2027-01-04T08:00:00+00:00"      # domain time at the start (optional)

    [[instances]]                            # optional: one Unified CCE 'ucce-1' by default
    name = "ucce-1"
    product = "Unified CCE"
    deployment_type = "Unified CCE 2000 Agents"

    [[step]]
    register = "ucce-1"                      # with a new token of the DEFAULT virtual account

    [[step]]
    expect = "ucce-1"
    authorization = "Authorized"

Each ``[[step]]`` has exactly one action key and that action's arguments, typed and checked when
the file is loaded (``lab.steps``); ``lab.player`` plays them. Actions that talk to the SSM may say
``fails = "CODE"``: the step then expects that refusal.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from lab import steps
from lab.player import Check, Player
from lab.processes import ANY_PORT, Lab
from lab.steps import ScenarioError, Step, decode
from plumbing.clients.lab import LabError

__all__ = ["Scenario", "ScenarioError", "builtin", "load", "parse", "run"]

DEFAULT_START = "2027-01-04T08:00:00+00:00"
DEFAULT_INSTANCE: dict[str, Any] = {
    "name": "ucce-1",
    "product": "Unified CCE",
    "deployment_type": "Unified CCE 2000 Agents",
    "license_type": "Flex",
    "usage_mode": "Production",
}
TOP_LEVEL = {"name", "description", "start", "instances", "step"}


@dataclass
class Scenario:
    name: str
    description: str
    start: str
    instances: list[dict[str, Any]]
    steps: list[Step]
    source: str


# -- loading ----------------------------------------------------------------------------------


def parse(text: str, source: str) -> Scenario:
    """A scenario from its TOML text, every step checked before anything runs."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{source}: not valid TOML: {exc}") from None
    tables = doc.get("step")
    if not isinstance(tables, list) or not tables:
        raise ScenarioError(f"{source}: no [[step]] tables; a scenario is a list of steps")
    steps = [decode(n, table) for n, table in enumerate(tables, 1)]
    extra = set(doc) - TOP_LEVEL
    if extra:
        raise ScenarioError(f"{source}: unknown top-level key(s) {sorted(extra)}")
    return Scenario(
        name=str(doc.get("name", Path(source).stem)),
        description=str(doc.get("description", "")),
        start=str(doc.get("start", DEFAULT_START)),
        instances=[{**DEFAULT_INSTANCE, **i} for i in doc.get("instances", [{}])],
        steps=steps,
        source=source,
    )


def _builtin_files() -> dict[str, Traversable]:
    folder = resources.files("lab") / "scenarios"
    return {p.name.removesuffix(".toml"): p for p in folder.iterdir() if p.name.endswith(".toml")}


def builtin() -> list[tuple[str, str]]:
    """(name, description) of every built-in scenario."""
    return sorted((name, parse(p.read_text(), p.name).description) for name, p in _builtin_files().items())


def load(target: str) -> Scenario:
    """A built-in scenario by name, or a scenario file."""
    files = _builtin_files()
    if target in files:
        return parse(files[target].read_text(), f"{target} (built in)")
    path = Path(target)
    if not path.is_file():
        raise ScenarioError(
            f"no built-in scenario and no file named {target!r}; 'ssmlab scenario list' shows the built-in ones"
        )
    return parse(path.read_text(), str(path))


# -- playing ----------------------------------------------------------------------------------


#: Called after each step with its number, the domain time, its progress line and its checks
#: (the lab console shows them as they come); a LabError it raises stops the run there.
Watch = Callable[[int, str, str, list[Check]], None]


def run(
    target: str, *, certs: Path, progress: bool = True, keep: bool = False, watch: Watch | None = None
) -> dict[str, Any]:
    """Play a scenario on a private lab; the report (``passed`` says it all)."""
    started = time.monotonic()
    try:
        scenario = load(target)
    except ScenarioError as exc:
        # Said whether or not a JSON report follows: a refused file is never a silent failure.
        print(f"ssmlab: scenario {target}: {exc}", file=sys.stderr, flush=True)
        return {"scenario": target, "passed": False, "error": str(exc), "checks": []}
    folder = Path(tempfile.mkdtemp(prefix=f"ssmlab-scenario-{scenario.name}-"))
    if any(isinstance(s, steps.Rollover) for s in scenario.steps) and certs.exists():
        # a CA rollover moves the PKI's files: this lab's own copy, never the lab's certs/
        certs = shutil.copytree(certs, folder / "certs")
    lab = Lab(folder, certs)
    player = Player(lab, first=str(scenario.instances[0]["name"]))

    def say(line: str) -> None:
        if progress:
            print(line, flush=True)

    say(f"scenario {scenario.name}: {scenario.description}")
    error: str | None = None
    n = 0
    # Port 0: each process binds a free port itself and the lab reads it back (no race for it).
    lab.prepare(scenario.instances, fresh=True, ssm_port=ANY_PORT, agent_port=ANY_PORT)
    try:
        lab.start(rate=0, clock="virtual", epoch=scenario.start)
        for n, step in enumerate(scenario.steps, 1):
            before = len(player.checks)
            line = player.play(n, step)
            marks = player.checks[before:]
            verdict = "" if not marks else (" ok" if all(c.passed for c in marks) else " FAILED")
            at = player.now()
            say(f"  {n:>3} {at[:16]} {line}{verdict}")
            for c in marks:
                if not c.passed:
                    say(f"        {c.what}: expected {c.expected!r}, found {c.actual!r}")
            if watch is not None:
                watch(n, at, line, marks)
    except LabError as exc:
        error = f"step {n}: {exc.message}" + (f" (fix: {exc.fix})" if exc.fix else "")
        say(f"  error: {error}")
    except (SystemExit, OSError) as exc:
        error = str(exc)
        say(f"  error: {error}")
    finally:
        lab.stop()
    passed = error is None and bool(player.checks) and all(c.passed for c in player.checks)
    failed = sum(not c.passed for c in player.checks)
    report: dict[str, Any] = {
        "scenario": scenario.name,
        "description": scenario.description,
        "source": scenario.source,
        "passed": passed,
        "error": error,
        "checks": [c.view() for c in player.checks],
        "failed": failed,
        "wall_seconds": round(time.monotonic() - started, 2),
    }
    if passed and not keep:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        report["lab"] = str(folder)
    say(
        f"{'PASS' if passed else 'FAIL'} {scenario.name}: {len(player.checks) - failed}/{len(player.checks)} "
        f"checks passed in {report['wall_seconds']} s" + ("" if passed else f"; the lab is kept in {folder}")
    )
    return report
