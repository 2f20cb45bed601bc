"""``ssm-server license add --term | renew | terms``: Flex subscription terms (``shared.terms``)."""

from __future__ import annotations

import argparse
from datetime import datetime

from plumbing.cmdline import Column, print_json, table
from server import subscriptions
from server.cli.common import Parents, admin
from server.store import Store, UnitOfWork
from shared import terms
from shared.clock import epoch
from shared.errors import NotFound

TERM_HELP = "a Flex subscription term: 1y, 3y, 5y (whole years up to 10) or days like 400d (default: none, they stay)"
ENDS_HELP = "the term's end date, YYYY-MM-DD (instead of --term): the last day the licenses are valid"


def add_term_options(parser: argparse.ArgumentParser) -> None:
    """``--term`` / ``--ends`` of a purchase or a renewal."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--term", help=TERM_HELP)
    group.add_argument("--ends", metavar="YYYY-MM-DD", help=ENDS_HELP)


def add_parsers(lic: argparse._SubParsersAction[argparse.ArgumentParser], parents: Parents) -> None:
    renew = lic.add_parser(
        "renew", help="extend a Flex subscription term from its current end", parents=[parents.json, parents.db]
    )
    renew.add_argument("subscription", help="the subscription id ('ssm-server license terms')")
    add_term_options(renew)
    renew.set_defaults(func=admin(_renew))
    lic.add_parser(
        "terms",
        help="the Flex subscription terms: quantity, start, end, status",
        parents=[parents.va, parents.json, parents.db],
    ).set_defaults(func=admin(_terms))


def length_of(args: argparse.Namespace) -> terms.Length | None:
    return terms.parse_length(args.term, args.ends)


async def _renew(store: Store, now: datetime, args: argparse.Namespace) -> None:
    length = length_of(args)
    if length is None:
        length = terms.Length(years=1)
    row = await subscriptions.renew(store, args.subscription, length, now)
    if args.json:
        print_json({"subscription_id": row.subscription_id, "end_date": terms.end_date(row.ends_at).isoformat()})
        return
    print(f"subscription {row.subscription_id} renewed: valid until {terms.end_date(row.ends_at).isoformat()}")


_COLUMNS = ("subscription_id", "virtual_account", "license", "quantity", "start_date", "end_date", "status")


async def _terms(store: Store, now: datetime, args: argparse.Namespace) -> None:
    t = epoch(now)

    def body(uow: UnitOfWork) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        names = {va.name for account in uow.accounts.all() for va in uow.accounts.virtual_accounts(account.id)}
        if args.va and args.va not in names:
            raise NotFound(
                f"no virtual account {args.va!r}",
                code="virtual_account_not_found",
                fix="list them: ssm-server account list (or leave --va out for every account's terms)",
            )
        for account in uow.accounts.all():
            for va in uow.accounts.virtual_accounts(account.id):
                if args.va and va.name != args.va:
                    continue
                pools = {p.id: p for p in uow.pools.of(va.id)}
                for row in uow.terms.in_account(va.id):
                    pool = pools[row.license_id]
                    out.append(subscriptions.term_view(row, pool, va.name, t))
        return out

    rows = await store.read(body)
    if args.json:
        print_json(rows)
        return
    if not rows:
        print("no subscription terms (licenses bought without --term stay in their pool)")
        return
    print(
        table(
            ("SUBSCRIPTION", "VIRTUAL ACCOUNT", "LICENSE", Column("QUANTITY", "right"), "START", "END", "STATUS"),
            ([r[k] for k in _COLUMNS] for r in rows),
        )
    )


def bought(length: terms.Length, now: datetime) -> str:
    end = terms.end_date(terms.end_of(epoch(now), length))
    return (
        f"subscription term {length}: valid until {end.isoformat()}; they leave the pool at the end of that day "
        "(UTC) unless renewed ('ssm-server license terms' lists the subscriptions)"
    )
