"""``ssm-server notify-address | webhook | mail``: where a Smart Account's notifications are
e-mailed, the webhook subscriptions its events are POSTed to, and what was delivered (issue 21).

They open the database directly, as the other administrative verbs do: a running SSM's
dispatcher sees a new address or subscription at its next delivery.
"""

from __future__ import annotations

import argparse
from datetime import datetime

from plumbing.cmdline import print_json, table
from server.cli.common import Parents, SubParsers, admin
from server.notify import subscriptions
from server.store import Store
from shared.clock import utc


def _when(t: int | None) -> str:
    return "—" if t is None else utc(t).strftime("%Y-%m-%d %H:%M:%S")


def add_parsers(sub: SubParsers, parents: Parents) -> None:
    addr = sub.add_parser("notify-address", help="the e-mail addresses a Smart Account's notifications go to")
    verbs = addr.add_subparsers(dest="address_verb", required=True)
    add = verbs.add_parser(
        "add", help="e-mail the account's notifications to ADDRESS", parents=[parents.account, parents.db]
    )
    add.add_argument("address")
    add.set_defaults(func=admin(_address_add))
    verbs.add_parser("list", parents=[parents.account, parents.json, parents.db]).set_defaults(
        func=admin(_address_list)
    )
    rm = verbs.add_parser("remove", parents=[parents.account, parents.db])
    rm.add_argument("address")
    rm.set_defaults(func=admin(_address_remove))

    hook = sub.add_parser("webhook", help="webhook subscriptions: every event of a Smart Account, signed")
    hverbs = hook.add_subparsers(dest="webhook_verb", required=True)
    hadd = hverbs.add_parser(
        "add",
        help="subscribe URL (its signing secret is shown once)",
        parents=[parents.account, parents.json, parents.db],
    )
    hadd.add_argument("--url", required=True, help="http:// or https:// URL receiving each event as a JSON POST")
    hadd.set_defaults(func=admin(_webhook_add))
    hverbs.add_parser("list", parents=[parents.account, parents.json, parents.db]).set_defaults(
        func=admin(_webhook_list)
    )
    hrm = hverbs.add_parser("remove", help="stop a subscription (its log is kept)", parents=[parents.db])
    hrm.add_argument("webhook_id", type=int)
    hrm.set_defaults(func=admin(_webhook_remove))
    hlog = hverbs.add_parser(
        "deliveries",
        help="a subscription's delivery log, newest first",
        parents=[parents.limit, parents.json, parents.db],
    )
    hlog.add_argument("webhook_id", type=int)
    hlog.set_defaults(func=admin(_webhook_log))

    sub.add_parser(
        "mail", help="the notification e-mails and where each stands", parents=[parents.limit, parents.json, parents.db]
    ).set_defaults(func=admin(_mail))


async def _address_add(store: Store, now: datetime, args: argparse.Namespace) -> None:
    added = await subscriptions.add_address(store, args.account, args.address, now)
    domain, _ = await subscriptions.addresses(store, args.account)
    print(f"{args.address.lower()} {'added to' if added else 'was already in'} {domain}'s notification addresses")


async def _address_list(store: Store, now: datetime, args: argparse.Namespace) -> None:
    domain, addresses = await subscriptions.addresses(store, args.account)
    if args.json:
        print_json({"account": domain, "addresses": addresses})
        return
    print("\n".join(addresses) if addresses else f"{domain} has no notification addresses")


async def _address_remove(store: Store, now: datetime, args: argparse.Namespace) -> None:
    await subscriptions.remove_address(store, args.account, args.address)
    print(f"{args.address} removed")


async def _webhook_add(store: Store, now: datetime, args: argparse.Namespace) -> None:
    created = await subscriptions.add_webhook(store, args.account, args.url, now)
    w = created.webhook
    if args.json:
        print_json({**subscriptions.webhook_view(w, created.account_domain), "secret": w.secret})
        return
    print(f"webhook {w.id} subscribed for {created.account_domain}: {w.url}")
    print("  signing secret (shown once; verify X-SSMlab-Signature with it):")
    print(w.secret)


async def _webhook_list(store: Store, now: datetime, args: argparse.Namespace) -> None:
    rows = await subscriptions.webhooks(store, args.account)
    if args.json:
        print_json([subscriptions.webhook_view(w, d) for w, d in rows])
        return
    if not rows:
        print("no webhook subscriptions")
        return
    print(table(("ID", "ACCOUNT", "URL", "SINCE"), ((w.id, d, w.url, _when(w.created_at)) for w, d in rows)))


async def _webhook_remove(store: Store, now: datetime, args: argparse.Namespace) -> None:
    await subscriptions.remove_webhook(store, args.webhook_id, now)
    print(f"webhook {args.webhook_id} removed")


async def _webhook_log(store: Store, now: datetime, args: argparse.Namespace) -> None:
    log = await subscriptions.webhook_log(store, args.webhook_id, limit=args.limit)
    if args.json:
        print_json([subscriptions.attempt_view(a) for a in log])
        return
    if not log:
        print(f"webhook {args.webhook_id} has no delivery attempts yet")
        return
    print(
        table(
            ("AT", "DELIVERY", "EVENT", "RESULT", "STATUS", "ERROR"),
            (
                (_when(a.at), a.delivery_id, a.what, "ok" if a.ok else "failed", a.status_code or "—", a.error)
                for a in log
            ),
        )
    )


async def _mail(store: Store, now: datetime, args: argparse.Namespace) -> None:
    rows = await subscriptions.mails(store, limit=args.limit)
    if args.json:
        print_json([subscriptions.delivery_view(d) for d in rows])
        return
    if not rows:
        print("no notification e-mails (add an address: ssm-server notify-address add ADDRESS)")
        return
    print(
        table(
            ("ID", "TO", "STATUS", "ATTEMPTS", "NEXT ATTEMPT", "LAST ERROR"),
            (
                (d.id, d.recipients.replace(",", ", "), d.status, d.attempts, _when(d.next_attempt_at), d.last_error)
                for d in rows
            ),
        )
    )
