"""``ssm-server instance | license | events | outbox``: what the SSM holds and what it recorded."""

from __future__ import annotations

import argparse
from datetime import datetime

from plumbing.cmdline import Column, print_json, table
from server import accounts, deployment, views
from server.cli import reads, terms
from server.cli.common import Parents, SubParsers, admin
from server.registration import remove_instance
from server.store import Store
from shared.states import LicenseType, UsageMode


def add_parsers(sub: SubParsers, parents: Parents) -> None:
    inst = sub.add_parser("instance", help="product instances").add_subparsers(dest="instance_verb", required=True)
    inst.add_parser("list", parents=[parents.json, parents.db]).set_defaults(func=admin(_instance_list))
    ir = inst.add_parser(
        "remove", help="remove a product instance (its licenses return to the pool)", parents=[parents.db]
    )
    ir.add_argument("piid")
    ir.set_defaults(func=admin(_instance_remove))

    lic = sub.add_parser("license", help="license pools").add_subparsers(dest="license_verb", required=True)
    lic.add_parser(
        "list",
        help="purchased, in use, balance and status of each pool",
        parents=[parents.va, parents.json, parents.db],
    ).set_defaults(func=admin(_license_list))
    la = lic.add_parser(
        "add", help="purchase licenses into a virtual account's pool", parents=[parents.account, parents.db]
    )
    la.add_argument("--va", default="DEFAULT", help="virtual account name")
    la.add_argument("--type", choices=[t.value for t in LicenseType], required=True)
    la.add_argument("--mode", choices=[m.value for m in UsageMode], default="Production")
    la.add_argument("--name", required=True, help='e.g. "Premium Agent"')
    la.add_argument("--quantity", type=int, required=True)
    terms.add_term_options(la)
    la.set_defaults(func=admin(_license_add))
    terms.add_parsers(lic, parents)

    sub.add_parser(
        "outbox", help="notifications the SSM would e-mail (alerts)", parents=[parents.limit, parents.json, parents.db]
    ).set_defaults(func=admin(_outbox))
    sub.add_parser("events", help="the SSM event log", parents=[parents.limit, parents.db]).set_defaults(
        func=admin(_events)
    )


async def _instance_list(store: Store, now: datetime, args: argparse.Namespace) -> None:
    rows = await views.instances(store)
    if args.json:
        print_json(rows)
        return
    if not rows:
        print("no product instances")
        return

    def usage(r: reads.Row) -> str:
        used = ", ".join(
            f"{u['license']} {u['reported']}" + (f" (actual {u['actual']})" if u["actual"] != u["reported"] else "")
            for u in r["usage"]
        )
        return f"usage: {used}" if used else ""

    print(
        table(
            ("PIID", "NAME", "PRODUCT", "SERIAL", "VIRTUAL ACCOUNT", "STATUS", "LAST CONTACT", "USAGE", "ON-PREM"),
            (
                (
                    r["piid"],
                    r["name"],
                    r["product"],
                    f"SN {r['serial_number']}",
                    f"VA {r['virtual_account']}",
                    r["status"],
                    f"last contact {r['last_contact_at']}",
                    usage(r),
                    f"behind SSM On-Prem {r['onprem']['name']}" if r["onprem"] else "",
                )
                for r in rows
            ),
            header=False,
        )
    )


async def _instance_remove(store: Store, now: datetime, args: argparse.Namespace) -> None:
    inst = await remove_instance(store, args.piid, now, by="ssm-server instance remove")
    print(f"product instance {inst.piid} ({inst.name}) removed; its licenses returned to the virtual account")


async def _license_list(store: Store, now: datetime, args: argparse.Namespace) -> None:
    rows = await views.pools(store, va_name=args.va)
    if args.json:
        print_json(rows)
        return
    print(
        table(
            (
                "VIRTUAL ACCOUNT",
                "LICENSE",
                "TYPE",
                Column("PURCHASED", "right"),
                Column("RESERVED", "right"),
                Column("IN USE", "right"),
                "BALANCE",
                "STATUS",
            ),
            (
                (
                    r["virtual_account"],
                    r["license"],
                    f"{r['license_type']} {r['usage_mode']}",
                    r["purchased"],
                    r["reserved"],
                    r["in_use"],
                    r["balance"],
                    r["status"] + (f" since {r['out_of_compliance_since']}" if r["out_of_compliance_since"] else ""),
                )
                for r in rows
            ),
        )
    )


async def _license_add(store: Store, now: datetime, args: argparse.Namespace) -> None:
    await deployment.require(
        store,
        deployment.Kind.CLOUD,
        doing="'license add' (a purchase)",
        fix="licenses are bought in the cloud's Smart Account: add them on the cloud SSM, then synchronize "
        "the On-Prem ('ssm-server sync now', or Disconnected: sync export / import)",
    )
    account = await accounts.resolve_account(store, args.account)
    length = terms.length_of(args)
    total = await accounts.add_licenses(
        store,
        account=account,
        va_name=args.va,
        license_type=LicenseType(args.type),
        usage_mode=UsageMode(args.mode),
        name=args.name,
        quantity=args.quantity,
        now=now,
        length=length,
    )
    print(f"{args.quantity} {args.type} {args.mode} {args.name} added to {args.va}: {total} purchased")
    if length is not None:
        print(terms.bought(length, now))
    print("the next usage report of each instance consuming it is judged against the new quantity")


async def _outbox(store: Store, now: datetime, args: argparse.Namespace) -> None:
    rows = await reads.notifications(store, args.limit)
    if args.json:
        print_json(rows)
        return
    for n in rows:
        print(f"{n['at']}  [{n['severity']}] {n['subject']}\n    {n['body']}")
    if not rows:
        print("no notifications")


async def _events(store: Store, now: datetime, args: argparse.Namespace) -> None:
    rows = await reads.events(store, args.limit)
    if rows:
        print(table(("AT", "KIND", "MESSAGE"), ((e["at"], e["kind"], e["message"]) for e in rows), header=False))
