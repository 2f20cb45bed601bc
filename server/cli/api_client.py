"""``ssm-server api-client create | list | revoke``: clients of the admin API (OAuth2 client
credentials); a secret is shown once, only its hash is stored."""

from __future__ import annotations

import argparse
from datetime import datetime

from plumbing.cmdline import print_json, table
from server import apiclients
from server.cli.common import Parents, SubParsers, admin
from server.store import Store
from shared.clock import utc


def add_parsers(sub: SubParsers, parents: Parents) -> None:
    api = sub.add_parser("api-client", help="clients of the admin API (OAuth2 client credentials)").add_subparsers(
        dest="api_client_verb", required=True
    )
    apc = api.add_parser(
        "create", help="create an API client; its secret is shown once", parents=[parents.json, parents.db]
    )
    apc.add_argument("--name", default="lab script", help="what the client is for")
    apc.set_defaults(func=admin(_create))
    api.add_parser(
        "list", help="list API clients (never their secret)", parents=[parents.json, parents.db]
    ).set_defaults(func=admin(_list))
    apr = api.add_parser("revoke", help="revoke an API client (its tokens stop working)", parents=[parents.db])
    apr.add_argument("client_id")
    apr.set_defaults(func=admin(_revoke))


async def _create(store: Store, now: datetime, args: argparse.Namespace) -> None:
    new = await apiclients.create(store, name=args.name, now=now)
    if args.json:
        print_json({"client_id": new.client_id, "client_secret": new.client_secret, "name": args.name})
        return
    print(f"API client created: {args.name}")
    print(f"  client_id:      {new.client_id}")
    print(f"  client_secret:  {new.client_secret}")
    print("  (the secret is shown once; only its hash is stored)")
    print("  get a token:    curl -sk -d grant_type=client_credentials -d client_id=... -d client_secret=... \\")
    print("                    https://127.0.0.1:8443/as/token.oauth2")


async def _list(store: Store, now: datetime, args: argparse.Namespace) -> None:
    rows = [
        {
            "client_id": c.client_id,
            "name": c.name,
            "created_at": utc(c.created_at).isoformat(),
            "status": "revoked" if c.revoked_at else "active",
            "last_token_at": utc(c.last_token_at).isoformat() if c.last_token_at else None,
        }
        for c in await apiclients.listing(store)
    ]
    if args.json:
        print_json(rows)
        return
    if not rows:
        print("no API client yet: ssm-server api-client create --name NAME")
        return
    print(
        table(
            ("CLIENT ID", "STATUS", "NAME", "CREATED"),
            ((r["client_id"], r["status"], r["name"], f"(created {r['created_at']})") for r in rows),
            header=False,
        )
    )


async def _revoke(store: Store, now: datetime, args: argparse.Namespace) -> None:
    await apiclients.revoke(store, args.client_id, now=now)
    print(f"API client {args.client_id} revoked")
