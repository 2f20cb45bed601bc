"""The demo ``make run`` plays: a Unified CCE deployment and a CVP sharing a pool of 100 Premium
Agent licenses, on a scaled clock.

- days 0-2: both in Evaluation Mode (the Evaluation banner);
- day 2: both register with tokens of the DEFAULT virtual account: Authorized;
- every day 9:00-17:00 they use 70 + 45 = 115 of the 100 purchased: after five 15-minute intervals
  the pool, and both instances, are Out of Compliance; usage is locked at 115;
- day 40: 20 more licenses are purchased: back In Compliance at the next report;
- on and on: authorization renewed every 30 days, registration every 180.

The script remembers (in ``lab.json``) which steps it ran, so a resumed lab does not repeat them;
'ssmlab reset' starts it over, a snapshot keeps it. A step refused by a fault is tried again later.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lab import clock as lockstep
from lab.processes import Lab
from plumbing.clients.lab import LabError
from shared.durations import parse_duration


def _profile(night: int, day: int) -> list[dict[str, Any]]:
    """Busy 9:00-17:00 domain time (UTC) every day: the steps count from midnight (usage_anchor)."""
    return [
        {"after": "0h", "set": {"Premium Agent": night}},
        {"after": "9h", "set": {"Premium Agent": day}},
        {"after": "17h", "set": {"Premium Agent": night}},
    ]


INSTANCES: list[dict[str, Any]] = [
    {
        "name": "ucce-1",
        "product": "Unified CCE",
        "deployment_type": "Unified CCE 2000 Agents",
        "license_type": "Flex",
        "usage_mode": "Production",
        "usage_profile": _profile(40, 70),
        "usage_repeat": "1d",
        "usage_anchor": "midnight",
    },
    {
        "name": "cvp-1",
        "product": "CVP",
        "deployment_type": "CVP",
        "license_type": "Flex",
        "usage_mode": "Production",
        "usage_profile": _profile(20, 45),
        "usage_repeat": "1d",
        "usage_anchor": "midnight",
    },
]


def _register(lab: Lab) -> str:
    names = []
    for s in lab.agent("GET", "/api/v1/status")["instances"]:
        name = s["product_instance_name"]
        if s["registration_status"] == "Unregistered":
            token = lab.ssm("POST", "/_lab/tokens", {"va": "DEFAULT", "description": f"demo: {name}"})["token"]
            lab.agent("POST", f"/api/v1/instances/{name}/register", {"token": token})
            names.append(name)
    return f"registered {', '.join(names) or 'nothing (already registered)'}"


def _buy(lab: Lab) -> str:
    total = lab.ssm("POST", "/_lab/licenses", {"name": "Premium Agent", "quantity": 20})["purchased"]
    return f"purchased 20 Premium Agent licenses ({total} in the pool)"


#: (when, after the demo's start in domain time; name; action)
SCRIPT: list[tuple[str, str, Callable[[Lab], str]]] = [
    ("2d", "register", _register),
    ("40d", "purchase", _buy),
]


#: A step refused on the way (an injected fault, a TLS drill) is tried again this much domain time later.
RETRY = timedelta(minutes=15)
#: The script's progress in lab.json (the demo's own keys; ``Lab.save`` never writes them).
PROGRESS = ("demo_start", "demo_done", "demo_failed")


def due_steps(state: dict[str, Any], now: datetime) -> list[tuple[str, Callable[[Lab], str]]]:
    """The script steps whose time has come, not played yet, and not waiting to be tried again."""
    start = datetime.fromisoformat(state["demo_start"])
    done = set(state.get("demo_done", []))
    failed: dict[str, dict[str, Any]] = state.get("demo_failed", {})
    return [
        (name, action)
        for offset, name, action in SCRIPT
        if name not in done
        and now >= start + parse_duration(offset)
        and (name not in failed or now >= datetime.fromisoformat(failed[name]["at"]) + RETRY)
    ]


def next_step_at(state: dict[str, Any], after: datetime) -> datetime | None:
    """When the next script step not played yet falls due after ``after`` (steps waiting to be
    tried again are left to the stops there are anyway: a refused step must not cut an advance
    into 15-minute pieces)."""
    if "demo_start" not in state:
        return None
    start = datetime.fromisoformat(state["demo_start"])
    done, failed = set(state.get("demo_done", [])), state.get("demo_failed", {})
    dues = [
        start + parse_duration(offset)
        for offset, name, _ in SCRIPT
        if name not in done and name not in failed and start + parse_duration(offset) > after
    ]
    return min(dues, default=None)


def advance(lab: Lab, endpoints: list[Any], duration: timedelta) -> tuple[datetime, int, list[str]]:
    """``ssmlab clock advance``: both clocks in lockstep, stopping at each script step's instant to
    play it there (the registration on day 2, the purchase on day 40), not all at the end."""
    now = datetime.fromisoformat(lab.ssm("GET", "/_lab/clock")["now"])
    target, steps, lines = now + duration, 0, []
    while True:
        with lab.locked() as state:
            nxt = next_step_at(state, now)
        stop = min(target, nxt) if nxt is not None else target
        now, taken = lockstep.advance(endpoints, stop - now)
        steps += taken
        lines += run_due(lab)
        if now >= target:
            return now, steps, lines


def run_due(lab: Lab) -> list[str]:
    """Play the steps that are due; the lines to show.

    Whichever ssmlab command gets there first plays a step, once (the run loop, 'up', 'clock
    advance'): the progress is read from lab.json under its lock at every call, so a 'reset' or a
    'snapshot load' from another terminal is seen at once. A step the SSM or the agent refuses (a
    fault added early, a TLS drill) is reported once per reason and tried again ``RETRY`` later;
    the demo rides it out. Only a process that cannot be reached at all ends it (LabError)."""
    out: list[str] = []
    with lab.locked() as state:
        if "demo_start" not in state:
            return out
        now = datetime.fromisoformat(lab.ssm("GET", "/_lab/clock")["now"])
        for name, action in due_steps(state, now):
            failed = state.setdefault("demo_failed", {})
            try:
                line = action(lab)
            except LabError as exc:
                if exc.code == "unreachable":
                    raise
                reason = f"{exc.code or 'refused'}: {exc.message}"
                before = failed.get(name, {})
                failed[name] = {"at": now.isoformat(), "reason": reason, "attempts": before.get("attempts", 0) + 1}
                if before.get("reason") != reason:
                    minutes = int(RETRY.total_seconds() // 60)
                    out.append(
                        f"{now:%Y-%m-%d %H:%M} {name} failed ({reason}); the demo tries again every {minutes} "
                        "minutes of domain time"
                    )
                continue
            attempts = failed.pop(name, {}).get("attempts", 0)
            out.append(f"{now:%Y-%m-%d %H:%M} {line}" + (f" (after {attempts} failed attempt(s))" if attempts else ""))
            state.setdefault("demo_done", []).append(name)
            if not failed:
                del state["demo_failed"]
    return out


def started(lab: Lab) -> None:
    """Record the demo's start (once): the script's offsets count from it."""
    with lab.locked() as state:
        if "demo_start" not in state:
            state["demo_start"] = lab.ssm("GET", "/_lab/clock")["now"]


def restart(lab: Lab) -> None:
    """Start the story over from now ('ssmlab reset' of everything): every step is played again."""
    with lab.locked() as state:
        for key in PROGRESS:
            state.pop(key, None)
        state["demo_start"] = lab.ssm("GET", "/_lab/clock")["now"]


def save_progress(lab: Lab, folder: Path) -> None:
    """Keep the script's progress with a snapshot (in its folder)."""
    with lab.locked() as state:
        progress = {k: state[k] for k in PROGRESS if k in state}
    (folder / "demo.json").write_text(json.dumps(progress, indent=2))


def load_progress(lab: Lab, folder: Path) -> None:
    """Bring back the script's progress kept with a snapshot (none kept: left as it is)."""
    kept = folder / "demo.json"
    if not kept.exists():
        return
    progress = json.loads(kept.read_text())
    with lab.locked() as state:
        for key in PROGRESS:
            state.pop(key, None)
        state.update(progress)


def describe(lab: Lab) -> str | None:
    """What the script does next, for 'ssmlab status' (which shows, and never plays a step)."""
    state = lab.load().state
    if "demo_start" not in state:
        return None
    start = datetime.fromisoformat(state["demo_start"])
    done = set(state.get("demo_done", []))
    pending = sorted((start + parse_duration(o), n) for o, n, _ in SCRIPT if n not in done)
    if not pending:
        return "DEMO: every step of the script has been played"
    when, name = pending[0]
    text = (
        f"DEMO: next step '{name}' at {when:%Y-%m-%d %H:%M} (domain time), "
        "played by 'ssmlab clock advance' or 'ssmlab run'"
    )
    failure = state.get("demo_failed", {}).get(name)
    if failure:
        text += f"; its last attempt failed ({failure['reason']})"
    return text
