"""``ssm-server pki init``: the lab PKI on disk."""

from __future__ import annotations

import argparse
from pathlib import Path

from server.cli.common import Parents, SubParsers
from server.pki_files import init_lab_pki


def add_parsers(sub: SubParsers, parents: Parents) -> None:
    verbs = sub.add_parser("pki", help="the lab PKI").add_subparsers(dest="pki_verb", required=True)
    init = verbs.add_parser("init", help="create the lab PKI (idempotent)")
    init.add_argument("--out", default="certs", type=Path)
    init.add_argument("--host", action="append", default=[], help="extra SAN (DNS name or IP); repeatable")
    init.set_defaults(func=_init)


def _init(args: argparse.Namespace) -> int:
    report = init_lab_pki(args.out, hosts=args.host)
    print(f"lab PKI in {args.out}:")
    print(report.render())
    return 0
