"""The demo ``make run`` plays: a Unified CCE deployment and a CVP sharing a pool of 100 Premium
Agent licenses, on a scaled clock.

- days 0-2: both in Evaluation Mode (the Evaluation banner);
- day 2: both register with tokens of the DEFAULT virtual account: Authorized;
- every day 9:00-17:00 they use 70 + 45 = 115 of the 100 purchased: after five 15-minute intervals
  the pool, and both instances, are Out of Compliance; usage is locked at 115;
- day 40: 20 more licenses are purchased: back In Compliance at the next report;
- on and on: authorization renewed every 30 days, registration every 180.

The script remembers (in ``lab.json``) which steps it ran, so a resumed lab does not repeat them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from lab.processes import Lab
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


def due_steps(lab: Lab, now: datetime) -> list[tuple[str, Callable[[Lab], str]]]:
    """The script steps whose time has come and that have not run yet."""
    start = datetime.fromisoformat(lab.state["demo_start"])
    done = set(lab.state.get("demo_done", []))
    return [
        (name, action) for offset, name, action in SCRIPT if name not in done and now >= start + parse_duration(offset)
    ]


def run_due(lab: Lab) -> list[str]:
    now = datetime.fromisoformat(lab.ssm("GET", "/_lab/clock")["now"])
    out = []
    for name, action in due_steps(lab, now):
        out.append(f"{now:%Y-%m-%d %H:%M} {action(lab)}")
        lab.state.setdefault("demo_done", []).append(name)
        lab.save()
    return out


def started(lab: Lab) -> None:
    """Record the demo's start (once): the script's offsets count from it."""
    if "demo_start" not in lab.state:
        lab.state["demo_start"] = lab.ssm("GET", "/_lab/clock")["now"]
        lab.save()


def remaining(lab: Lab) -> timedelta | None:
    now = datetime.fromisoformat(lab.ssm("GET", "/_lab/clock")["now"])
    start = datetime.fromisoformat(lab.state["demo_start"])
    left = [start + parse_duration(o) - now for o, n, _ in SCRIPT if n not in lab.state.get("demo_done", [])]
    return min(left) if left else None
