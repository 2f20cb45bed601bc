"""``ssm-server token | account | va``: registration tokens, Smart Accounts, virtual accounts."""

from __future__ import annotations

import argparse
from datetime import datetime

from plumbing.cmdline import print_json, table
from server import accounts, deployment, views
from server.cli.common import Parents, SubParsers, admin
from server.store import Store
from shared.policy import DEFAULT_POLICY


def add_parsers(sub: SubParsers, parents: Parents) -> None:
    tok = sub.add_parser("token", help="registration tokens").add_subparsers(dest="token_verb", required=True)
    create = tok.add_parser(
        "create", help="create a Product Instance Registration Token", parents=[parents.account, parents.db]
    )
    create.add_argument("--va", required=True, help="virtual account name")
    create.add_argument("--days", type=int, help="expires after N days (1..365, default 30)")
    create.add_argument("--uses", type=int, help="number of uses (default unlimited)")
    create.add_argument("--description", default="")
    create.add_argument(
        "--export-controlled",
        action="store_true",
        help="allow export-controlled functionality on products registered with it",
    )
    out = create.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true")
    out.add_argument("-q", "--quiet", action="store_true", help="print the token only")
    create.set_defaults(func=admin(_token_create))
    listing = tok.add_parser(
        "list", help="list tokens (never their secret)", parents=[parents.va, parents.account, parents.json, parents.db]
    )
    listing.set_defaults(func=admin(_token_list))
    revoke = tok.add_parser("revoke", help="revoke a token", parents=[parents.db])
    revoke.add_argument("token_id")
    revoke.set_defaults(func=admin(_token_revoke))

    acc = sub.add_parser("account", help="Smart Accounts").add_subparsers(dest="account_verb", required=True)
    ac = acc.add_parser("create", parents=[parents.db])
    ac.add_argument("--domain", required=True)
    ac.add_argument("--name", required=True)
    ac.add_argument(
        "--no-export-control", action="store_true", help="the account may not use Export-Controlled functionality"
    )
    ac.set_defaults(func=admin(_account_create))
    acc.add_parser("list", parents=[parents.json, parents.db]).set_defaults(func=admin(_account_list))

    va = sub.add_parser("va", help="virtual accounts").add_subparsers(dest="va_verb", required=True)
    vc = va.add_parser("create", parents=[parents.account, parents.db])
    vc.add_argument("--name", required=True)
    vc.add_argument("--description", default="")
    vc.set_defaults(func=admin(_va_create))


async def _token_create(store: Store, now: datetime, args: argparse.Namespace) -> None:
    await deployment.seed(store, now)  # the account of the store's kind: the lab's, or the On-Prem's
    account = await accounts.resolve_account(store, args.account)
    created = await accounts.create_token(
        store,
        account=account,
        va_name=args.va,
        now=now,
        policy=DEFAULT_POLICY,
        days=args.days,
        uses=args.uses,
        description=args.description,
        export_controlled=args.export_controlled,
    )
    rec = created.record
    if args.quiet:
        print(created.minted.text)
        return
    info = {
        "token": created.minted.text,
        "token_id": rec.token_id,
        "smart_account": created.account_domain,
        "virtual_account": created.virtual_account,
        "created_at": rec.created_at.isoformat(),
        "expires_at": rec.expires_at.isoformat(),
        "uses_allowed": rec.max_uses,
        "export_controlled": "Allowed" if rec.export_controlled else "Not Allowed",
        "description": rec.description,
    }
    if args.json:
        print_json(info)
        return
    print(f"Product Instance Registration Token created in {created.account_domain} / {created.virtual_account}")
    print(f"  id:                 {rec.token_id}")
    print(f"  expires:            {rec.expires_at.isoformat()}")
    print(f"  uses:               {rec.max_uses or 'unlimited'}")
    print(f"  export-controlled:  {info['export_controlled']}")
    print("  token (shown once; only its hash is stored):")
    print(created.minted.text)


async def _token_list(store: Store, now: datetime, args: argparse.Namespace) -> None:
    va_id = None
    if args.va:
        account = await accounts.resolve_account(store, args.account)
        va_id = (await accounts.resolve_va(store, account, args.va)).id
    rows = await views.tokens(store, now, va_id=va_id)
    if args.json:
        print_json(rows)
        return
    if not rows:
        print("no tokens")
        return
    print(
        table(
            ("TOKEN ID", "VIRTUAL ACCOUNT", "STATUS", "EXPIRES", "USES", "DESCRIPTION"),
            (
                (
                    r["token_id"],
                    r["virtual_account"],
                    r["status"],
                    f"expires {r['expires_at']}",
                    f"uses {r['uses']}/{r['max_uses'] or '∞'}",
                    r["description"],
                )
                for r in rows
            ),
            header=False,
        )
    )


async def _token_revoke(store: Store, now: datetime, args: argparse.Namespace) -> None:
    await accounts.revoke_token(store, args.token_id, now)
    print(f"token {args.token_id} revoked")


async def _account_create(store: Store, now: datetime, args: argparse.Namespace) -> None:
    account = await accounts.create_account(
        store, domain=args.domain, name=args.name, export_control_allowed=not args.no_export_control, now=now
    )
    print(f"Smart Account {account.name} ({account.domain}) created with virtual account {accounts.DEFAULT_VA}")


async def _account_list(store: Store, now: datetime, args: argparse.Namespace) -> None:
    rows = await views.accounts(store)
    if args.json:
        print_json(rows)
        return
    if rows:
        print(
            table(
                ("DOMAIN", "NAME", "EXPORT CONTROL", "VIRTUAL ACCOUNTS"),
                (
                    (
                        r["domain"],
                        r["name"],
                        f"export control: {'allowed' if r['export_control_allowed'] else 'not allowed'}",
                        f"VAs: {', '.join(r['virtual_accounts'])}",
                    )
                    for r in rows
                ),
                header=False,
            )
        )


async def _va_create(store: Store, now: datetime, args: argparse.Namespace) -> None:
    account = await accounts.resolve_account(store, args.account)
    va = await accounts.create_virtual_account(
        store, account=account, name=args.name, description=args.description, now=now
    )
    print(f"virtual account {va.name} created in {account.domain}")
