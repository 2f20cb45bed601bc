"""``ssm-server report consumption``: the License Consumption report as CSV (or JSON)."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime

from plumbing.cmdline import print_json
from server import consumption
from server.cli.common import Parents, SubParsers, admin
from server.store import Store
from shared import licenseconsumption


def add_parsers(sub: SubParsers, parents: Parents) -> None:
    rep = sub.add_parser("report", help="reports").add_subparsers(dest="report_verb", required=True)
    cons = rep.add_parser(
        "consumption",
        help="the License Consumption report: per instance, license and interval, the actual peak, the "
        "reported (possibly locked) usage and the compliance status, as CSV",
        parents=[parents.account, parents.json, parents.db],
    )
    cons.add_argument("--from", dest="start", metavar="DATE", help="YYYY-MM-DD or ISO instant (default: 7 days ago)")
    cons.add_argument("--to", dest="end", metavar="DATE", help="YYYY-MM-DD or ISO instant, excluded (default: now)")
    cons.add_argument("--virtual-account", "--va", dest="va", help="one virtual account (default: all)")
    cons.set_defaults(func=admin(_consumption))


async def _consumption(store: Store, now: datetime, args: argparse.Namespace) -> None:
    p = consumption.period(args.start, args.end, now)
    rows = await consumption.report(store, p, account=args.account, va=args.va)
    if args.json:
        print_json([licenseconsumption.as_dict(r) for r in rows])
        return
    sys.stdout.write(licenseconsumption.to_csv(rows))
