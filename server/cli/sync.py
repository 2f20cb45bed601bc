"""``ssm-server onprem register | sync now | status | export | import``: an SSM On-Prem's link to
the cloud, and the files Disconnected mode carries by hand (imported on either side)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from plumbing.clients.device import parse_overrides
from plumbing.cmdline import print_json, table
from server import deployment, onprem, views
from server.cli.common import Parents, SubParsers, admin
from server.pki_files import load_lab_pki
from server.registry import Registry
from server.store import Store
from server.timekeeping import load_clock
from shared.clock import SystemClock, epoch, utc
from shared.policy import DEFAULT_POLICY


def add_parsers(sub: SubParsers, parents: Parents) -> None:
    op = sub.add_parser("onprem", help="SSM On-Prem: its link to the cloud").add_subparsers(
        dest="onprem_verb", required=True
    )
    opr = op.add_parser(
        "register",
        help="bind this On-Prem to a cloud Smart Account with a cloud token",
        parents=[parents.certs, parents.db],
    )
    opr.add_argument("token")
    opr.add_argument(
        "--cloud",
        required=True,
        help="the cloud SSM's device URL, e.g. https://smartreceiver.cisco.com/licservice/license",
    )
    opr.add_argument("--resolve", action="append", default=[], metavar="HOST:PORT=ADDR:PORT")
    opr.add_argument(
        "--name",
        help="the name the cloud lists it under (default: its host name and serial number, or the name it had)",
    )
    opr.add_argument(
        "--force",
        action="store_true",
        help="register again though the link still stands (a stale one, removed by the cloud, needs no --force)",
    )
    opr.set_defaults(func=admin(_onprem_register))

    sy = sub.add_parser("sync", help="SSM On-Prem synchronization with the cloud").add_subparsers(
        dest="sync_verb", required=True
    )
    sy.add_parser("now", help="Connected mode: synchronize now", parents=[parents.certs, parents.db]).set_defaults(
        func=admin(_sync_now)
    )
    sy.add_parser(
        "status",
        help="On-Prem: the link to the cloud and the last synchronization; cloud: the On-Prems registered to it",
        parents=[parents.json, parents.db],
    ).set_defaults(func=admin(_sync_status))
    sye = sy.add_parser(
        "export", help="Disconnected mode, on the On-Prem: write a signed request file", parents=[parents.db]
    )
    sye.add_argument("--out", type=Path, required=True)
    sye.set_defaults(func=admin(_sync_export))
    syi = sy.add_parser(
        "import",
        help="a request file on the cloud (writes --out), a response file on the On-Prem",
        parents=[parents.certs, parents.db],
    )
    syi.add_argument("file", type=Path)
    syi.add_argument("--out", type=Path, help="cloud: where to write the response file")
    syi.set_defaults(func=admin(_sync_import))


def _resolve_map(pairs: Sequence[str]) -> dict[str, str]:
    try:
        return parse_overrides(pairs)
    except ValueError as exc:
        raise SystemExit(f"ssm-server: --resolve {exc}") from None


async def _onprem_register(store: Store, now: datetime, args: argparse.Namespace) -> None:
    link = await onprem.register(
        store,
        now,
        token=args.token,
        cloud_url=args.cloud,
        truststore=args.certs / "truststore.pem",
        resolve=_resolve_map(args.resolve),
        name=args.name,
        force=args.force,
    )
    print(
        f"SSM On-Prem registered to cloud account {link.account_domain} / {link.virtual_account} "
        f"as {link.name} ({link.piid})"
    )
    print("next: synchronize ('ssm-server sync now', or run with --sync connected; Disconnected: sync export)")


async def _sync_now(store: Store, now: datetime, args: argparse.Namespace) -> None:
    result = await onprem.sync_now(store, now, truststore=args.certs / "truststore.pem")
    print(
        f"synchronized (sequence {result.sequence}): {result.entitlements} entitlement(s) applied; "
        f"next deadline {result.deadline}"
    )


async def _sync_status(store: Store, now: datetime, args: argparse.Namespace) -> None:
    found = await deployment.load(store)
    if found is not None and found.kind is deployment.Kind.CLOUD:
        await _cloud_status(store, args)
        return
    link = await onprem.require_link(store)
    info = views.onprem_link(link, found.sync if found else deployment.SyncMode.CONNECTED)
    if args.json:
        print_json(info)
        return
    print(f"SSM On-Prem:      {link.name} ({str(info['mode']).title()} mode)")
    print(f"cloud:            {link.cloud_url}")
    print(f"registered as:    {link.piid} in {link.account_domain} / {link.virtual_account}")
    print(f"sequence:         {link.sequence} built, {link.applied} applied")
    print(f"last sync:        {info['last_sync'] or 'never'}")
    print(f"deadline:         {info['deadline'] or '-'}")
    if link.last_error:
        print(f"last error:       {link.last_error} (at {info['last_error_at']})")
        why = onprem.stale(link, epoch(now))
        if why:
            print(f"the cloud no longer holds this registration ({why}): {onprem.again(link.cloud_url)}")


async def _cloud_status(store: Store, args: argparse.Namespace) -> None:
    """On a cloud SSM: the SSM On-Prems registered to it and where each stands."""
    rows = await views.onprems(store, DEFAULT_POLICY)
    if args.json:
        print_json({"ssm": "cloud", "onprems": rows})
        return
    print("this is a cloud SSM: the SSM On-Prems registered to it synchronize here")
    if not rows:
        print("no SSM On-Prem has registered yet (on the On-Prem: 'ssm-server onprem register TOKEN --cloud URL')")
        return
    print(
        table(
            ("NAME", "PIID", "VIRTUAL ACCOUNT", "LAST SYNC", "DEADLINE", "INSTANCES", "STATUS"),
            (
                (
                    r["name"],
                    r["piid"],
                    r["virtual_account"],
                    r["last_sync"] or "never",
                    r["deadline"] or "-",
                    r["instances"],
                    r["status"] + (f" ({', '.join(r['alerts'])})" if r["alerts"] and not r["removed_at"] else ""),
                )
                for r in rows
            ),
        )
    )


async def _sync_export(store: Store, now: datetime, args: argparse.Namespace) -> None:
    data = await onprem.export_request(store, now)
    args.out.write_bytes(data)
    print(
        f"sync request written to {args.out}; import it on the cloud SSM: "
        f"'ssm-server sync import {args.out.name} --out response.json'"
    )


async def _sync_import(store: Store, now: datetime, args: argparse.Namespace) -> None:
    data = args.file.read_bytes()
    found = await deployment.load(store)
    if found is not None and found.kind is deployment.Kind.ONPREM:
        link = await onprem.import_response(store, now, data, truststore=args.certs / "truststore.pem")
        print(
            f"sync response applied (sequence {link.applied}); next deadline "
            f"{utc(link.deadline).isoformat() if link.deadline else '-'}"
        )
        return
    if args.out is None:
        raise SystemExit("ssm-server: on the cloud, 'sync import REQUEST --out response.json' writes the response")
    clock = await load_clock(store) or SystemClock()
    registry = Registry(store=store, clock=clock, policy=DEFAULT_POLICY, lab_pki=load_lab_pki(args.certs))
    args.out.write_bytes(await registry.import_sync_file(data))
    print(
        f"sync response written to {args.out}; import it on the SSM On-Prem: 'ssm-server sync import {args.out.name}'"
    )
