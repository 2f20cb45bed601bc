"""``smart-agent status | usage set | usage show | banner | alerts | events``: what the agent shows,
and the usage counts it reports."""

from __future__ import annotations

import argparse

from agent.cli.common import Parents, SubParsers, client_verb, instance_path
from agent.cli.render import render_consumption, render_status
from agent.client import ApiError, Client
from plumbing.cmdline import print_json, table


def add_parsers(sub: SubParsers, parents: Parents) -> None:
    sub.add_parser(
        "status", help="Smart Licensing Status (seed Table 2)", parents=[parents.instance, parents.json]
    ).set_defaults(func=client_verb(_status))
    us = sub.add_parser("usage", help="license usage: set the in-use counts, show the consumption summary")
    uss = us.add_subparsers(dest="usage_verb", required=True)
    uset = uss.add_parser(
        "set", help='e.g. usage set "Premium Agent=130" "Dialer Ports=20"', parents=[parents.instance]
    )
    uset.add_argument("values", nargs="+", metavar="NAME=COUNT")
    uset.set_defaults(func=client_verb(_usage_set))
    uss.add_parser(
        "show", help="License consumption summary (seed Table 5)", parents=[parents.instance, parents.json]
    ).set_defaults(func=client_verb(_usage_show))
    sub.add_parser(
        "banner", help="the aggregate banner and the License Compliance report", parents=[parents.json]
    ).set_defaults(func=client_verb(_banner))
    sub.add_parser("alerts", help="system alerts of each machine", parents=[parents.json]).set_defaults(
        func=client_verb(_alerts)
    )
    ev = sub.add_parser("events", help="the agent's event log (transitions, requests)", parents=[parents.instance])
    ev.add_argument("--limit", type=int, default=50)
    ev.set_defaults(func=client_verb(_events))


def _status(client: Client, args: argparse.Namespace) -> int:
    if args.instance:
        views = [client.call("GET", f"/api/v1/instances/{args.instance}/status")]
    else:
        views = client.call("GET", "/api/v1/status")["instances"]
    if args.json:
        print_json(views[0] if args.instance else views)
    else:
        print("\n\n".join(render_status(v) for v in views))
    return 0


def _usage_set(client: Client, args: argparse.Namespace) -> int:
    path = instance_path(client, args.instance)
    values: dict[str, int] = {}
    for item in args.values:
        name, sep, count = item.partition("=")
        if not sep or not count.strip().lstrip("-").isdigit():
            raise ApiError(f"{item!r} is not NAME=COUNT", "invalid_usage", 'e.g. "Premium Agent=130"')
        values[name.strip()] = int(count)
    print(render_consumption(client.call("PUT", f"{path}/usage", values)))
    return 0


def _usage_show(client: Client, args: argparse.Namespace) -> int:
    result = client.call("GET", f"{instance_path(client, args.instance)}/consumption")
    if args.json:
        print_json(result)
    else:
        print(render_consumption(result))
    return 0


def _banner(client: Client, args: argparse.Namespace) -> int:
    b = client.call("GET", "/api/v1/banner")
    if args.json:
        print_json(b)
        return 0
    print(f"[{b['level']}] {b['message']}" if b["level"] else b["note"])
    if b.get("non_production"):
        print(f"[Non-Production] {b['non_production']}")
    print("\nLicense Compliance report")
    rows = (
        (
            r["instance"],
            r["registration"],
            (r["enforcement"] and f"Enforcement ({r['enforcement']})") or r["authorization"],
            r["detail"],
        )
        for r in b["report"]
    )
    report = table(("INSTANCE", "REGISTRATION", "STATE", "DETAIL"), rows, header=False, gap=1, indent=2)
    if report:
        print(report)
    return 0


def _alerts(client: Client, args: argparse.Namespace) -> int:
    alerts = client.call("GET", "/api/v1/alerts")["alerts"]
    if args.json:
        print_json(alerts)
        return 0
    rows = (
        (
            "RED" if a["state"] == "red" else "green",
            a["machine"],
            a["alert"] + (f"  (fix: {a['fix']})" if a["fix"] else ""),
        )
        for a in alerts
    )
    listing = table(("STATE", "MACHINE", "ALERT"), rows, header=False, gap=1, indent=2)
    if listing:
        print(listing)
    return 0


def _events(client: Client, args: argparse.Namespace) -> int:
    query = f"?instance={args.instance}" if args.instance else ""
    rows = client.call("GET", f"/_lab/events{query}")[-args.limit :]
    if not rows:
        print("no events")
        return 0
    print(
        table(
            ("AT", "INSTANCE", "KIND", "MESSAGE"),
            ((e["at"], e["instance"], e["kind"], e["message"]) for e in rows),
            header=False,
        )
    )
    return 0
