"""``ssm-server tls list | set MODE | ca``: the TLS drill switch of a running SSM.

These verbs talk to the SSM's lab plane (``/_lab/tls``) without verifying its certificate: a
drill breaks that certificate on purpose, and the switch back must still work.
"""

from __future__ import annotations

import argparse
import json
import sys

from plumbing.labclient import LabError, call
from server.tlsdrills import DrillMode


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    tls = sub.add_parser("tls", help="TLS drills: the certificate the running SSM serves")
    tls.add_argument("--url", default="https://127.0.0.1:8443", help="the running SSM")
    verbs = tls.add_subparsers(dest="tls_verb", required=True)
    ls = verbs.add_parser("list", help="every drill mode, one line each; * marks the current one")
    ls.add_argument("--json", action="store_true")
    st = verbs.add_parser("set", help="serve a drill mode from the next handshake on")
    st.add_argument("mode", choices=[m.value for m in DrillMode])
    verbs.add_parser("ca", help="print the CA certificate an agent imports to trust the current mode (PEM)")


def command(args: argparse.Namespace) -> int:
    url = args.url.rstrip("/") + "/_lab/tls"
    try:
        if args.tls_verb == "set":
            view = call(url, "POST", {"mode": args.mode}, insecure=True)
        else:
            view = call(url, insecure=True)
    except LabError as exc:
        print(f"ssm-server: {exc.message}", file=sys.stderr)
        if exc.fix:
            print(f"  fix: {exc.fix}", file=sys.stderr)
        return 1
    if args.tls_verb == "ca":
        print(view["ca"]["pem"], end="")
        return 0
    if getattr(args, "json", False):
        print(json.dumps(view, indent=2))
        return 0
    if args.tls_verb == "list":
        width = max(len(m["mode"]) for m in view["modes"])
        for m in view["modes"]:
            print(f"{'*' if m['current'] else ' '} {m['mode'].ljust(width)}  {m['description']}")
        print()
    print(f"serving: {view['mode']} — {view['description']}")
    for c in view["served"]:
        print(f"  sent: {c['subject']}  (issuer {c['issuer']}, until {c['not_after']})")
    print(f"  CA to trust it: {view['ca']['subject']}  SHA-256 {view['ca']['fingerprint']}")
    print(f"  (ssm-server tls ca > ca.pem; or GET {args.url.rstrip('/')}/_lab/tls/ca.pem)")
    return 0
