"""What the lab shows: one screen of the SSM's and the agent's state, and the merged timeline.

Everything comes from the two processes' HTTP APIs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lab.processes import Lab

#: Events the live view leaves out (every 15 minutes each): 'ssmlab timeline' shows them.
ROUTINE = frozenset({"usage_reported", "usage_report"})


def timeline(lab: Lab, limit: int = 50) -> list[dict[str, str]]:
    """SSM and agent events in one list, in domain-time order (see ``merge``)."""
    return merge(lab.ssm("GET", f"/_lab/events?limit={limit}"), lab.agent("GET", "/_lab/events"), limit=limit)


def merge(ssm: list[dict[str, Any]], agent: list[dict[str, Any]], *, limit: int = 50) -> list[dict[str, str]]:
    """The two event logs (each oldest first, as the processes answer) in one list: by domain time,
    and within one instant in the order the events were recorded (``recorded_ns``, real time), so
    an agent's request, the SSM's handling of it and the agent's reading of the reply keep that
    order whatever the sides are called. Events without a stamp keep their side's own order."""
    rows = [(e, "ssm", i) for i, e in enumerate(ssm)] + [
        (e, str(e["instance"]), len(ssm) + i) for i, e in enumerate(agent)
    ]
    rows.sort(key=lambda r: (datetime.fromisoformat(r[0]["at"]), r[0].get("recorded_ns") or 0, r[2]))
    return [{"at": e["at"], "side": side, "kind": e["kind"], "message": e["message"]} for e, side, _ in rows][-limit:]


def pages_line(lab: Lab) -> str:
    """The web pages' addresses, on one line."""
    return "pages: " + "   ".join(f"{name} {url}" for name, url in lab.pages())


def _short(text: str | None, width: int) -> str:
    text = text or "-"
    return text if len(text) <= width else text[: width - 1] + "…"


def screen(lab: Lab, *, events: int = 8) -> str:
    """One screen: clock, instances, pools in use, banner, last events."""
    clock = lab.ssm("GET", "/_lab/clock")
    statuses = lab.agent("GET", "/api/v1/status")["instances"]
    banner = lab.agent("GET", "/api/v1/banner")
    pools = [
        p for p in lab.ssm("GET", "/_lab/pools") if p["in_use"] or p.get("reserved") or p["status"] != "In Compliance"
    ]
    now = datetime.fromisoformat(clock["now"])
    lines = [
        f"ssmlab — {now:%Y-%m-%d %H:%M} (domain time; {clock['kind']} clock at {clock['rate']:g}x)   "
        f"SSM {lab.ssm_url}   agent {lab.agent_url}",
        pages_line(lab),
        "",
        f"{'INSTANCE':<10} {'REGISTRATION':<22} {'AUTHORIZATION':<36} {'ENFORCEMENT':<26} USAGE",
    ]
    for s in statuses:
        usage = lab.agent("GET", f"/api/v1/instances/{s['product_instance_name']}/consumption")["consumption"]
        used = ", ".join(
            f"{c['license_name']} {c['usage_count']}"
            + (f"/{c['actual_usage']}" if c["usage_count"] != c["actual_usage"] else "")
            for c in usage
            if c["usage_count"] or c["actual_usage"]
        )
        auth = s["license_authorization_status"]
        if s.get("evaluation_remaining"):
            auth += f" ({s['evaluation_remaining']})"
        lines.append(
            f"{s['product_instance_name']:<10} {_short(s['registration_status'], 22):<22} "
            f"{_short(auth, 36):<36} {_short(s.get('enforcement'), 26):<26} {used or '-'}"
        )
    lines += ["", "POOLS (SSM)"]
    for p in pools or []:
        since = f" since {p['out_of_compliance_since'][:10]}" if p["out_of_compliance_since"] else ""
        lines.append(
            f"  {p['virtual_account']}: {p['license']} ({p['license_type']} {p['usage_mode']}) "
            f"{p['in_use']} in use / {p['purchased']} purchased"
            + (f" ({p['reserved']} reserved)" if p.get("reserved") else "")
            + f", {p['balance']}, {p['status']}{since}"
        )
    if not pools:
        lines.append("  nothing in use")
    lines += ["", "BANNER: " + (f"[{banner['level']}] {banner['message']}" if banner["level"] else "none")]
    if banner.get("non_production"):
        lines.append(f"        {banner['non_production']}")
    lines += ["", "LAST EVENTS"]
    changes = [e for e in timeline(lab, limit=events + 200) if e["kind"] not in ROUTINE][-events:]
    for e in changes:
        lines.append(f"  {e['at'][:16]} {e['side']:<7} {_short(e['message'], 100)}")
    return "\n".join(lines)


def one_line(lab: Lab) -> str:
    """A compact status for logs (no terminal)."""
    clock = lab.ssm("GET", "/_lab/clock")
    parts = [clock["now"][:16]]
    for s in lab.agent("GET", "/api/v1/status")["instances"]:
        state = (s.get("enforcement") and f"Enforcement ({s['enforcement']})") or s["license_authorization_status"]
        parts.append(f"{s['product_instance_name']}: {s['registration_status']}/{state}")
    return " | ".join(parts)


def summary(statuses: list[dict[str, Any]]) -> dict[str, str]:
    return {s["product_instance_name"]: s["registration_status"] for s in statuses}
