"""``ssmlab journal``: the SSM's request journal from the command line.

    ssmlab journal [--limit N] [filters]                 the last requests
    ssmlab journal verify [filters] --count N | --at-least N | --at-most N
    ssmlab journal reset                                 empty it
    ssmlab journal export FILE [filters]                 JSON lines, oldest first (with domain times)
    ssmlab journal replay FILE [--url URL] [--cacert CA] [--api-client FILE]

Filters: ``--path`` (a glob: '/api/v1/*'), ``--method``, ``--instance`` (an id or a name),
``--status``, ``--since``/``--until`` (domain time, ISO 8601). ``--url`` reaches another SSM than
the lab's (its lab plane).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from lab import replay
from lab.processes import Lab
from plumbing.clients.lab import call
from plumbing.cmdline import Column, option, table

#: The journal's size on the SSM (``server.lab.recording.JOURNAL_SIZE``): export and verify see all.
ALL = 2000
FILTERS = ("path", "method", "instance", "status", "since", "until")


def _get(args: argparse.Namespace, path: str) -> Any:
    if args.url:
        return call(args.url.rstrip("/") + path, "GET", insecure=True)
    return Lab(args.dir, args.certs).load().ssm("GET", path)


def _query(args: argparse.Namespace, limit: int | None = None) -> str:
    given = {k: getattr(args, k) for k in FILTERS if getattr(args, k, None) is not None}
    if limit is not None:
        given["limit"] = limit
    return f"?{urllib.parse.urlencode(given)}" if given else ""


def cmd_show(args: argparse.Namespace) -> int:
    rows = (
        (
            e["at"][:19],
            e["method"],
            e["path"],
            e["kind"],
            e["status"],
            f"{e['ms']} ms",
            e.get("tls") or "",
            (e.get("piid") or "") + (f" fault {e['fault']}" if e.get("fault") else ""),
        )
        for e in _get(args, "/_lab/journal" + _query(args, args.limit))
    )
    columns = ("AT", "METHOD", "PATH", "KIND", "STATUS", Column("TIME", "right"), "TLS", "INSTANCE")
    listing = table(columns, rows, header=False, gap=1)
    if listing:
        print(listing)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    if args.count is None and args.at_least is None and args.at_most is None:
        print("ssmlab: journal verify needs --count, --at-least or --at-most", file=sys.stderr)
        return 2
    found = int(_get(args, "/_lab/journal/count" + _query(args))["count"])
    wanted = [
        f"{word} {n}"
        for word, n, ok in (
            ("exactly", args.count, args.count is None or found == args.count),
            ("at least", args.at_least, args.at_least is None or found >= args.at_least),
            ("at most", args.at_most, args.at_most is None or found <= args.at_most),
        )
        if not ok
    ]
    what = ", ".join(f"{k}={getattr(args, k)}" for k in FILTERS if getattr(args, k, None) is not None) or "any"
    if wanted:
        print(f"ssmlab: verification failed: {found} request(s) matched ({what}), expected {' and '.join(wanted)}")
        return 1
    print(f"ok: {found} request(s) matched ({what})")
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    if args.url:
        removed = call(args.url.rstrip("/") + "/_lab/journal", "DELETE", insecure=True)
    else:
        removed = Lab(args.dir, args.certs).load().ssm("DELETE", "/_lab/journal")
    print(f"journal emptied ({removed['removed']} request(s) removed)")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    entries = _get(args, "/_lab/journal" + _query(args, ALL))
    with args.file.open("w") as f:
        for e in entries:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")
    print(f"exported {len(entries)} request(s) to {args.file}")
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    entries = [json.loads(line) for line in args.file.read_text().splitlines() if line.strip()]
    lab = Lab(args.dir, args.certs).load()
    client_file = args.api_client or (None if args.url else lab.api_client_file)
    client = None
    if client_file is not None and client_file.exists():
        raw = json.loads(client_file.read_text())
        client = {"client_id": raw["client_id"], "client_secret": raw["client_secret"]}
    target = replay.Target(args.url.rstrip("/") if args.url else lab.ssm_url, args.cacert, client)
    results = replay.replay(entries, target, lambda r: print(r.line()) if r.outcome != "same" or args.verbose else None)
    counts = {k: sum(r.outcome == k for r in results) for k in ("same", "differs", "skipped")}
    print(f"replayed {len(results)} request(s): {counts['same']} same, {counts['differs']} differ, "
          f"{counts['skipped']} skipped")  # fmt: skip
    return 1 if counts["differs"] else 0


def _filters() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--url", help="another SSM than the lab's, e.g. https://127.0.0.1:9443")
    p.add_argument("--path", help="a path, or a glob: '/api/v1/*'")
    p.add_argument("--method")
    p.add_argument("--instance", help="an instance id (piid) or name")
    p.add_argument("--status", help="an HTTP status, or drop / reset (a fault's)")
    p.add_argument("--since", help="domain time, ISO 8601 (e.g. 2026-01-05T09:00:00+00:00)")
    p.add_argument("--until", help="domain time, ISO 8601")
    return p


def add_parser(sub: Any) -> None:
    """``journal`` and its verbs (``ssmlab journal`` alone lists, as it always did)."""
    filters = _filters()
    jp = sub.add_parser(
        "journal", help="the SSM's last requests; verify, reset, export, replay", parents=[filters]
    )  # fmt: skip
    jp.add_argument("--limit", type=int, default=30)
    jp.set_defaults(func=cmd_show)
    js = jp.add_subparsers(dest="journal_verb")
    jv = js.add_parser("verify", parents=[filters], help="exit 1 unless the matching requests are as many as said")
    jv.add_argument("--count", type=int)
    jv.add_argument("--at-least", type=int)
    jv.add_argument("--at-most", type=int)
    jv.set_defaults(func=cmd_verify)
    js.add_parser(
        "reset", parents=[option("--url", help="another SSM than the lab's")], help="empty the journal"
    ).set_defaults(func=cmd_reset)
    je = js.add_parser("export", parents=[filters], help="write the journal as JSON lines, oldest first")
    je.add_argument("file", type=Path)
    je.set_defaults(func=cmd_export)
    jr = js.add_parser("replay", help="send an export again to a fresh SSM; exit 1 if a reply differs")
    jr.add_argument("file", type=Path)
    jr.add_argument("--url", help="the SSM to replay against (default: the lab's)")
    jr.add_argument("--cacert", type=Path, help="verify the SSM's certificate against this CA")
    jr.add_argument("--api-client", type=Path, help="its admin API client (JSON: client_id, client_secret)")
    jr.add_argument("--verbose", action="store_true", help="a line for every request, not only those that differ")
    jr.set_defaults(func=cmd_replay)
