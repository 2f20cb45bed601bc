"""``ssm-server reservation list | release``: Specific License Reservations held by devices, and
the administrator's way out for a device that can no longer give its return code."""

from __future__ import annotations

import argparse
from datetime import datetime

from plumbing.cmdline import print_json, table
from server import reservations
from server.cli import reads
from server.cli.common import Parents, SubParsers, admin
from server.store import Store


def add_parsers(sub: SubParsers, parents: Parents) -> None:
    rsv = sub.add_parser("reservation", help="Specific License Reservations").add_subparsers(
        dest="reservation_verb", required=True
    )
    rsv.add_parser("list", help="devices holding reserved licenses", parents=[parents.json, parents.db]).set_defaults(
        func=admin(_list)
    )
    rsr = rsv.add_parser(
        "release",
        help="release a device's reservation without its return code (the device lost or never installed it)",
        parents=[parents.db],
    )
    rsr.add_argument("device", metavar="UDI_PID:SERIAL")
    rsr.set_defaults(func=admin(_release))


async def _list(store: Store, now: datetime, args: argparse.Namespace) -> None:
    found = await reads.reservations(store)
    if args.json:
        print_json([row for row, _ in found])
        return
    if not found:
        print("no reservation")
        return
    print(
        table(
            ("DEVICE", "STATUS", "VIRTUAL ACCOUNT", "LICENSES"),
            ((row["device"], row["status"], row["virtual_account"], held) for row, held in found),
            header=False,
        )
    )


async def _release(store: Store, now: datetime, args: argparse.Namespace) -> None:
    pid, sep, serial = str(args.device).rpartition(":")
    if not sep or not pid or not serial:
        raise SystemExit(
            f"ssm-server: name the device as UDI_PID:SERIAL (as 'reservation list' shows), not {args.device!r}"
        )
    released = await reservations.release(store, pid, serial, now=now, by="ssm-server")
    held = ", ".join(f"{x.count} {x.name}" for x in released.licenses)
    print(f"reservation of {pid}:{serial} released without a return code; back in the pool: {held}")
