"""``ssm-server clock show | advance DURATION | rate R``: the running SSM's domain clock, over
its lab plane (``/_lab/clock``), verifying its certificate with ``--cacert``; the lab token of an
SSM started with ``--lab-exposed`` is read beside ``--db``."""

from __future__ import annotations

import argparse

from plumbing import labtoken
from plumbing.clients.lab import clock_command
from server.cli.common import Parents, SubParsers


def add_parsers(sub: SubParsers, parents: Parents) -> None:
    ck = sub.add_parser(
        "clock", help="the running SSM's domain clock", parents=[parents.url, parents.cacert, parents.db]
    )
    verbs = ck.add_subparsers(dest="clock_verb", required=True)
    verbs.add_parser("show").set_defaults(func=_show)
    advance = verbs.add_parser("advance")
    advance.add_argument("duration", help="e.g. 30d, 36h, 15m, P90D")
    advance.set_defaults(func=_advance)
    rate = verbs.add_parser("rate")
    rate.add_argument("rate", help="domain seconds per real second (0 freezes)")
    rate.set_defaults(func=_rate)


def _show(args: argparse.Namespace) -> int:
    return clock_command(args.url, "show", None, cacert=args.cacert, token=labtoken.find(args.db.parent))


def _advance(args: argparse.Namespace) -> int:
    return clock_command(
        args.url, "advance", str(args.duration), cacert=args.cacert, token=labtoken.find(args.db.parent)
    )


def _rate(args: argparse.Namespace) -> int:
    return clock_command(args.url, "rate", str(args.rate), cacert=args.cacert, token=labtoken.find(args.db.parent))
