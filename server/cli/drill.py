"""``ssm-server tls list | set MODE | ca``: the TLS drill switch of a running SSM.

These verbs talk to the SSM's lab plane (``/_lab/tls``) without verifying its certificate: a
drill breaks that certificate on purpose, and the switch back must still work.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from plumbing import labtoken
from plumbing.clients.lab import CLIENT_CERT_FILE, LabError, call
from plumbing.cmdline import print_json, table
from server.cli.common import Parents, SubParsers
from server.tlsdrills import DrillMode


def add_parsers(sub: SubParsers, parents: Parents) -> None:
    tls = sub.add_parser(
        "tls", help="TLS drills: the certificate the running SSM serves", parents=[parents.url, parents.db]
    )
    verbs = tls.add_subparsers(dest="tls_verb", required=True)
    verbs.add_parser(
        "list", help="every drill mode, one line each; * marks the current one", parents=[parents.json]
    ).set_defaults(func=_list)
    st = verbs.add_parser("set", help="serve a drill mode from the next handshake on")
    st.add_argument("mode", choices=[m.value for m in DrillMode])
    st.set_defaults(func=_set)
    verbs.add_parser(
        "ca", help="print the CA certificate an agent imports to trust the current mode (PEM)"
    ).set_defaults(func=_ca)


def _drill(args: argparse.Namespace, mode: str | None = None) -> dict[str, Any] | None:
    """The drill view (after switching to ``mode``), or None once the refusal is printed."""
    url = args.url.rstrip("/") + "/_lab/tls"
    try:
        token = labtoken.find(args.db.parent)
        client = args.db.parent / CLIENT_CERT_FILE  # written by the SSM while a drill demands one
        view: dict[str, Any] = (
            call(url, "POST", {"mode": mode}, insecure=True, token=token, client_cert=client)
            if mode
            else call(url, insecure=True, token=token, client_cert=client)
        )
    except LabError as exc:
        print(f"ssm-server: {exc.message}", file=sys.stderr)
        if exc.fix:
            print(f"  fix: {exc.fix}", file=sys.stderr)
        return None
    return view


def _list(args: argparse.Namespace) -> int:
    view = _drill(args)
    if view is None:
        return 1
    if args.json:
        print_json(view)
        return 0
    marked = ((f"{'*' if m['current'] else ' '} {m['mode']}", m["description"]) for m in view["modes"])
    print(table(("MODE", "DESCRIPTION"), marked, header=False))
    print()
    _serving(args, view)
    return 0


def _set(args: argparse.Namespace) -> int:
    view = _drill(args, args.mode)
    if view is None:
        return 1
    _serving(args, view)
    return 0


def _ca(args: argparse.Namespace) -> int:
    view = _drill(args)
    if view is None:
        return 1
    print(view["ca"]["pem"], end="")
    return 0


def _serving(args: argparse.Namespace, view: dict[str, Any]) -> None:
    print(f"serving: {view['mode']} — {view['description']}")
    for c in view["served"]:
        print(f"  sent: {c['subject']}  (issuer {c['issuer']}, until {c['not_after']})")
    print(f"  CA to trust it: {view['ca']['subject']}  SHA-256 {view['ca']['fingerprint']}")
    print(f"  (ssm-server tls ca > ca.pem; or GET {args.url.rstrip('/')}/_lab/tls/ca.pem)")
