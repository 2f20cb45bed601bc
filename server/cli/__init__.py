"""``ssm-server``: run the SSM emulator and administer its store.

Verbs::

    ssm-server pki init --out certs/ [--host NAME_OR_IP ...]
    ssm-server run --mode onprem --listen HOST:PORT --admin-listen HOST:PORT [--sync connected|disconnected]
    ssm-server onprem register TOKEN --cloud URL [--resolve HOST:PORT=ADDR:PORT ...]
    ssm-server sync now | status | export --out request.json | import FILE [--out response.json]
    ssm-server run [--mode cloud] [--listen 127.0.0.1:8443] [--db PATH] [--certs DIR]
                   [--clock scaled|virtual|system] [--rate R] [--epoch ISO] [--anchor REAL]
                   [--policy NAME=VALUE ...]
    ssm-server token create --va NAME [--account DOMAIN] [--days 1..365] [--uses N]
                            [--description TEXT] [--export-controlled] [--json | -q]
    ssm-server token list [--va NAME] [--json]
    ssm-server token revoke TOKEN_ID
    ssm-server account create --domain D --name N [--no-export-control]
    ssm-server account list [--json]
    ssm-server va create --name N [--account DOMAIN] [--description TEXT]
    ssm-server instance list [--json] | instance remove PIID
    ssm-server license list [--va NAME] [--json]
    ssm-server license add --type Flex|Perpetual [--mode Production|Non-Production] --name NAME --quantity N [--va]
    ssm-server events [--limit N]
    ssm-server outbox [--limit N] [--json]        the notifications (alerts) the SSM would e-mail
    ssm-server clock show | advance DURATION | rate R   [--url URL] [--cacert FILE]
    ssm-server tls list | set MODE | ca   [--url URL]   the TLS drill the running SSM serves

Administrative verbs open the database directly (whether or not the server runs) and read the
server's saved clock, so they see the same domain time as the server.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path

from plumbing import serve
from plumbing.httpclient import parse_overrides
from plumbing.labclient import clock_command
from server import accounts, apiclients, cli_tls, keys, onprem, reservations, views
from server.app import create_app
from server.ledger import remove_instance
from server.pki_files import PkiMissing, init_lab_pki, load_lab_pki
from server.registry import Registry
from server.settings import ServerSettings
from server.store import Store, StoreError
from server.timekeeping import load_clock
from shared.clock import AnyClock, SystemClock, choose_clock, utc
from shared.clockctl import parse_instant
from shared.errors import SmartLicensingError
from shared.logging import configure_logging
from shared.policy import DEFAULT_POLICY, Policy
from shared.states import LicenseType, UsageMode

DEFAULT_DB = "var/ssm/ssm.db"


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _policy(pairs: Sequence[str]) -> Policy:
    overrides: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"ssm-server: --policy takes NAME=VALUE, got {pair!r}")
        overrides[name.strip()] = value.strip()
    try:
        return DEFAULT_POLICY.with_overrides(overrides)
    except ValueError as exc:
        raise SystemExit(f"ssm-server: {exc}") from None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ssm-server", description="Cisco Smart Software Manager emulator")
    sub = p.add_subparsers(dest="verb", required=True)

    pk = sub.add_parser("pki", help="the lab PKI").add_subparsers(dest="pki_verb", required=True)
    init = pk.add_parser("init", help="create the lab PKI (idempotent)")
    init.add_argument("--out", default="certs", type=Path)
    init.add_argument("--host", action="append", default=[], help="extra SAN (DNS name or IP); repeatable")

    run = sub.add_parser("run", help="run the SSM")
    run.add_argument("--mode", choices=["cloud", "onprem"], default="cloud")
    run.add_argument("--admin-listen", type=_listen, help="On-Prem: the admin listener HOST:PORT (8443-style)")
    run.add_argument(
        "--sync",
        choices=["connected", "disconnected"],
        default="connected",
        help="On-Prem: synchronize with the cloud on a schedule, or by files carried by hand",
    )
    run.add_argument("--listen", type=_listen, default=("127.0.0.1", 8443), help="HOST:PORT (port 0: any free port)")
    run.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    run.add_argument("--certs", type=Path, default=Path("certs"))
    run.add_argument("--clock", choices=["scaled", "virtual", "system"])
    run.add_argument("--rate", type=float, help="domain seconds per real second (scaled clock)")
    run.add_argument("--epoch", help="domain time at the anchor (ISO 8601)")
    run.add_argument("--anchor", type=float, help="real epoch seconds the domain epoch is pinned to")
    run.add_argument("--policy", action="append", default=[], metavar="NAME=VALUE")
    run.add_argument("--log-format", choices=["auto", "json", "console"], default="auto")
    run.add_argument("--log-level", default="info")

    tok = sub.add_parser("token", help="registration tokens").add_subparsers(dest="token_verb", required=True)
    create = tok.add_parser("create", help="create a Product Instance Registration Token")
    create.add_argument("--va", required=True, help="virtual account name")
    create.add_argument("--account", help="Smart Account domain (default: the lab account)")
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
    tl = tok.add_parser("list", help="list tokens (never their secret)")
    tl.add_argument("--va")
    tl.add_argument("--account")
    tl.add_argument("--json", action="store_true")
    tr = tok.add_parser("revoke", help="revoke a token")
    tr.add_argument("token_id")

    api = sub.add_parser("api-client", help="clients of the admin API (OAuth2 client credentials)").add_subparsers(
        dest="api_client_verb", required=True
    )
    apc = api.add_parser("create", help="create an API client; its secret is shown once")
    apc.add_argument("--name", default="lab script", help="what the client is for")
    apc.add_argument("--json", action="store_true")
    apl = api.add_parser("list", help="list API clients (never their secret)")
    apl.add_argument("--json", action="store_true")
    apr = api.add_parser("revoke", help="revoke an API client (its tokens stop working)")
    apr.add_argument("client_id")

    rsv = sub.add_parser("reservation", help="Specific License Reservations").add_subparsers(
        dest="reservation_verb", required=True
    )
    rsl = rsv.add_parser("list", help="devices holding reserved licenses")
    rsl.add_argument("--json", action="store_true")
    rsr = rsv.add_parser(
        "release", help="release a device's reservation without its return code (the device lost or never installed it)"
    )
    rsr.add_argument("device", metavar="UDI_PID:SERIAL")

    acc = sub.add_parser("account", help="Smart Accounts").add_subparsers(dest="account_verb", required=True)
    ac = acc.add_parser("create")
    ac.add_argument("--domain", required=True)
    ac.add_argument("--name", required=True)
    ac.add_argument(
        "--no-export-control", action="store_true", help="the account may not use Export-Controlled functionality"
    )
    al = acc.add_parser("list")
    al.add_argument("--json", action="store_true")

    va = sub.add_parser("va", help="virtual accounts").add_subparsers(dest="va_verb", required=True)
    vc = va.add_parser("create")
    vc.add_argument("--name", required=True)
    vc.add_argument("--account")
    vc.add_argument("--description", default="")

    inst = sub.add_parser("instance", help="product instances").add_subparsers(dest="instance_verb", required=True)
    il = inst.add_parser("list")
    il.add_argument("--json", action="store_true")
    ir = inst.add_parser("remove", help="remove a product instance (its licenses return to the pool)")
    ir.add_argument("piid")

    lic = sub.add_parser("license", help="license pools").add_subparsers(dest="license_verb", required=True)
    ll = lic.add_parser("list", help="purchased, in use, balance and status of each pool")
    ll.add_argument("--va")
    ll.add_argument("--json", action="store_true")
    la = lic.add_parser("add", help="purchase licenses into a virtual account's pool")
    la.add_argument("--va", default="DEFAULT")
    la.add_argument("--account")
    la.add_argument("--type", choices=[t.value for t in LicenseType], required=True)
    la.add_argument("--mode", choices=[m.value for m in UsageMode], default="Production")
    la.add_argument("--name", required=True, help='e.g. "Premium Agent"')
    la.add_argument("--quantity", type=int, required=True)

    op = sub.add_parser("onprem", help="SSM On-Prem: its link to the cloud").add_subparsers(
        dest="onprem_verb", required=True
    )
    opr = op.add_parser("register", help="bind this On-Prem to a cloud Smart Account with a cloud token")
    opr.add_argument("token")
    opr.add_argument(
        "--cloud",
        required=True,
        help="the cloud SSM's device URL, e.g. https://smartreceiver.cisco.com/licservice/license",
    )
    opr.add_argument("--resolve", action="append", default=[], metavar="HOST:PORT=ADDR:PORT")
    opr.add_argument("--certs", type=Path, default=Path("certs"))

    sy = sub.add_parser("sync", help="SSM On-Prem synchronization with the cloud").add_subparsers(
        dest="sync_verb", required=True
    )
    syn = sy.add_parser("now", help="Connected mode: synchronize now")
    syn.add_argument("--certs", type=Path, default=Path("certs"))
    sys_ = sy.add_parser("status", help="the link to the cloud and the last synchronization")
    sye = sy.add_parser("export", help="Disconnected mode, on the On-Prem: write a signed request file")
    sye.add_argument("--out", type=Path, required=True)
    syi = sy.add_parser("import", help="a request file on the cloud (writes --out), a response file on the On-Prem")
    syi.add_argument("file", type=Path)
    syi.add_argument("--out", type=Path, help="cloud: where to write the response file")
    syi.add_argument("--certs", type=Path, default=Path("certs"))

    ob = sub.add_parser("outbox", help="notifications the SSM would e-mail (alerts)")
    ob.add_argument("--limit", type=int, default=50)
    ob.add_argument("--json", action="store_true")

    ck = sub.add_parser("clock", help="the running SSM's domain clock")
    ck.add_argument("--url", default="https://127.0.0.1:8443", help="the running SSM")
    ck.add_argument("--cacert", type=Path, default=Path("certs/ca.pem"))
    cks = ck.add_subparsers(dest="clock_verb", required=True)
    cks.add_parser("show")
    cka = cks.add_parser("advance")
    cka.add_argument("duration", help="e.g. 30d, 36h, 15m, P90D")
    ckr = cks.add_parser("rate")
    ckr.add_argument("rate", help="domain seconds per real second (0 freezes)")

    cli_tls.add_parser(sub)

    ev = sub.add_parser("events", help="the SSM event log")
    ev.add_argument("--limit", type=int, default=50)

    for sp in (
        run,
        create,
        tl,
        tr,
        ac,
        al,
        vc,
        il,
        ir,
        ev,
        ob,
        ll,
        la,
        opr,
        syn,
        sys_,
        sye,
        syi,
        apc,
        apl,
        apr,
        rsl,
        rsr,
    ):
        sp.add_argument("--db", default=DEFAULT_DB, type=Path, help=f"SQLite file (default {DEFAULT_DB})")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.verb == "pki":
            report = init_lab_pki(args.out, hosts=args.host)
            print(f"lab PKI in {args.out}:")
            print(report.render())
            return 0
        if args.verb == "run":
            return asyncio.run(_run(args))
        if args.verb == "tls":
            return cli_tls.command(args)
        if args.verb == "clock":
            value = getattr(args, "duration", None) or getattr(args, "rate", None)
            return clock_command(args.url, args.clock_verb, None if value is None else str(value), cacert=args.cacert)
        return asyncio.run(_admin(args))
    except SmartLicensingError as err:
        print(f"ssm-server: {err.message}", file=sys.stderr)
        if err.fix:
            print(f"  fix: {err.fix}", file=sys.stderr)
        return 2
    except (PkiMissing, StoreError) as exc:
        print(f"ssm-server: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # 'ssm-server license list | head': the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 0


def _clock(args: argparse.Namespace, saved: AnyClock | None) -> AnyClock:
    return choose_clock(
        kind=args.clock,
        rate=args.rate,
        start=parse_instant(args.epoch) if args.epoch else None,
        anchor=args.anchor,
        saved=saved,
    )


def _log_json(fmt: str) -> bool:
    return fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())


async def _run(args: argparse.Namespace) -> int:
    lab_pki = load_lab_pki(args.certs)
    store = await Store.open(args.db)
    try:
        clock = _clock(args, await load_clock(store))
        configure_logging(clock=clock, json=_log_json(args.log_format), level=args.log_level)
        host, port = args.listen
        admin_host, admin_port = args.admin_listen or ("127.0.0.1", None)
        settings = ServerSettings(
            mode=args.mode,
            host=host,
            port=port,
            db_path=args.db,
            certs=args.certs,
            policy=_policy(args.policy),
            admin_host=admin_host,
            admin_port=admin_port,
            sync=args.sync,
        )
        app = create_app(settings, clock=clock, lab_pki=lab_pki, store=store)
        also = (admin_host, admin_port) if admin_port is not None else None
        runner, bound = await serve.start(app, host, port, ssl_context=app[keys.TLS].context, also=also)
        ports = serve.bound_ports(runner)
        app[keys.LISTENERS].device = ports[0]
        if also is not None:
            app[keys.LISTENERS].admin = ports[1]
            print(f"ssm-server: admin listener on https://{admin_host}:{ports[1]}", file=sys.stderr, flush=True)
        if args.port_file:
            args.port_file.write_text(" ".join(map(str, ports)))
        print(
            f"ssm-server: {args.mode} SSM listening on https://{host}:{bound} "
            f"(db {args.db}, clock {clock.state().kind} rate {clock.rate:g}, "
            f"now {clock.now().isoformat(timespec='seconds')})",
            file=sys.stderr,
            flush=True,
        )
        await serve.wait_for_signal()
        print("ssm-server: shutting down", file=sys.stderr, flush=True)
        await runner.cleanup()
    finally:
        await store.close()
    return 0


def _print_json(obj: object) -> None:
    print(json.dumps(obj, indent=2))


async def _admin(args: argparse.Namespace) -> int:
    store = await Store.open(args.db)
    try:
        clock = await load_clock(store) or SystemClock()
        now = clock.now()
        verb = args.verb.replace("-", "_")
        handler = _ADMIN[(args.verb, getattr(args, f"{verb}_verb", None))]
        await handler(store, now, args)
    finally:
        await store.close()
    return 0


async def _token_create(store: Store, now: datetime, args: argparse.Namespace) -> None:
    await accounts.seed_lab(store, now)
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
        _print_json(info)
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
    rows = []
    for t in await store.read.tokens(va_id):
        va = await store.read.virtual_account(t.virtual_account_id)
        state = (
            "revoked"
            if t.revoked_at
            else "expired"
            if t.expires_at <= now
            else "used up"
            if t.max_uses is not None and t.uses >= t.max_uses
            else "active"
        )
        rows.append(
            {
                "token_id": t.token_id,
                "virtual_account": va.name if va else "?",
                "status": state,
                "expires_at": t.expires_at.isoformat(),
                "uses": t.uses,
                "max_uses": t.max_uses,
                "export_controlled": t.export_controlled,
                "description": t.description,
            }
        )
    if args.json:
        _print_json(rows)
        return
    for r in rows:
        print(
            f"{r['token_id']}  {r['virtual_account']:<12} {r['status']:<8} expires {r['expires_at']}  "
            f"uses {r['uses']}/{r['max_uses'] or '∞'}  {r['description']}"
        )
    if not rows:
        print("no tokens")


async def _token_revoke(store: Store, now: datetime, args: argparse.Namespace) -> None:
    await accounts.revoke_token(store, args.token_id, now)
    print(f"token {args.token_id} revoked")


async def _account_create(store: Store, now: datetime, args: argparse.Namespace) -> None:
    account = await accounts.create_account(
        store, domain=args.domain, name=args.name, export_control_allowed=not args.no_export_control, now=now
    )
    print(f"Smart Account {account.name} ({account.domain}) created with virtual account {accounts.DEFAULT_VA}")


async def _account_list(store: Store, now: datetime, args: argparse.Namespace) -> None:
    rows = []
    for a in await store.read.accounts():
        vas = [v.name for v in await store.read.virtual_accounts(a.id)]
        rows.append(
            {
                "domain": a.domain,
                "name": a.name,
                "export_control_allowed": a.export_control_allowed,
                "virtual_accounts": vas,
            }
        )
        if not args.json:
            print(
                f"{a.domain}  {a.name}  export control: "
                f"{'allowed' if a.export_control_allowed else 'not allowed'}  VAs: {', '.join(vas)}"
            )
    if args.json:
        _print_json(rows)


async def _va_create(store: Store, now: datetime, args: argparse.Namespace) -> None:
    account = await accounts.resolve_account(store, args.account)
    va = await accounts.create_virtual_account(
        store, account=account, name=args.name, description=args.description, now=now
    )
    print(f"virtual account {va.name} created in {account.domain}")


async def _instance_list(store: Store, now: datetime, args: argparse.Namespace) -> None:
    rows = await views.instances(store)
    if args.json:
        _print_json(rows)
        return
    for r in rows:
        usage = ", ".join(
            f"{u['license']} {u['reported']}" + (f" (actual {u['actual']})" if u["actual"] != u["reported"] else "")
            for u in r["usage"]
        )
        print(
            f"{r['piid']}  {r['name']:<16} {r['product']:<12} SN {r['serial_number']}  VA {r['virtual_account']}  "
            f"{r['status']}  last contact {r['last_contact_at']}" + (f"  usage: {usage}" if usage else "")
        )
    if not rows:
        print("no product instances")


async def _license_list(store: Store, now: datetime, args: argparse.Namespace) -> None:
    rows = await views.pools(store, va_name=args.va)
    if args.json:
        _print_json(rows)
        return
    print(
        f"{'VIRTUAL ACCOUNT':<16} {'LICENSE':<18} {'TYPE':<22} {'PURCHASED':>9} {'RESERVED':>8} {'IN USE':>7}  "
        f"{'BALANCE':<14} STATUS"
    )
    for r in rows:
        kind = f"{r['license_type']} {r['usage_mode']}"
        since = f" since {r['out_of_compliance_since']}" if r["out_of_compliance_since"] else ""
        print(
            f"{r['virtual_account']:<16} {r['license']:<18} {kind:<22} {r['purchased']:>9} {r['reserved']:>8} "
            f"{r['in_use']:>7}  "
            f"{r['balance']:<14} {r['status']}{since}"
        )


async def _license_add(store: Store, now: datetime, args: argparse.Namespace) -> None:
    account = await accounts.resolve_account(store, args.account)
    total = await accounts.add_licenses(
        store,
        account=account,
        va_name=args.va,
        license_type=LicenseType(args.type),
        usage_mode=UsageMode(args.mode),
        name=args.name,
        quantity=args.quantity,
        now=now,
    )
    print(f"{args.quantity} {args.type} {args.mode} {args.name} added to {args.va}: {total} purchased")
    print("the next usage report of each instance consuming it is judged against the new quantity")


async def _instance_remove(store: Store, now: datetime, args: argparse.Namespace) -> None:
    inst = await remove_instance(store, args.piid, now, by="ssm-server instance remove")
    print(f"product instance {inst.piid} ({inst.name}) removed; its licenses returned to the virtual account")


async def _outbox(store: Store, now: datetime, args: argparse.Namespace) -> None:
    rows = await store.read.notifications(limit=args.limit)
    if args.json:
        _print_json(
            [
                {
                    "at": utc(n.at).isoformat(),
                    "kind": n.kind,
                    "severity": n.severity,
                    "piid": n.piid,
                    "subject": n.subject,
                    "body": n.body,
                }
                for n in rows
            ]
        )
        return
    for n in rows:
        print(f"{utc(n.at).isoformat()}  [{n.severity}] {n.subject}\n    {n.body}")
    if not rows:
        print("no notifications")


def _resolve_map(pairs: Sequence[str]) -> dict[str, str]:
    try:
        return parse_overrides(pairs)
    except ValueError as exc:
        raise SystemExit(f"ssm-server: --resolve {exc}") from None


async def _onprem_register(store: Store, now: datetime, args: argparse.Namespace) -> None:
    await onprem.seed_onprem(store, now)
    link = await onprem.register(
        store,
        now,
        token=args.token,
        cloud_url=args.cloud,
        truststore=args.certs / "truststore.pem",
        resolve=_resolve_map(args.resolve),
    )
    print(f"SSM On-Prem registered to cloud account {link.account_domain} / {link.virtual_account} as {link.piid}")
    print("next: synchronize ('ssm-server sync now', or run with --sync connected; Disconnected: sync export)")


async def _sync_now(store: Store, now: datetime, args: argparse.Namespace) -> None:
    result = await onprem.sync_now(store, now, truststore=args.certs / "truststore.pem")
    print(
        f"synchronized (sequence {result.sequence}): {result.entitlements} entitlement(s) applied; "
        f"next deadline {result.deadline}"
    )


async def _sync_status(store: Store, now: datetime, args: argparse.Namespace) -> None:
    link = await onprem.require_link(store)
    print(f"cloud:            {link.cloud_url}")
    print(f"registered as:    {link.piid} in {link.account_domain} / {link.virtual_account}")
    print(f"sequence:         {link.sequence} built, {link.applied} applied")
    print(f"last sync:        {utc(link.last_sync).isoformat() if link.last_sync else 'never'}")
    print(f"deadline:         {utc(link.deadline).isoformat() if link.deadline else '-'}")
    if link.last_error:
        print(f"last error:       {link.last_error}")


async def _sync_export(store: Store, now: datetime, args: argparse.Namespace) -> None:
    data = await onprem.export_request(store, now)
    args.out.write_bytes(data)
    print(
        f"sync request written to {args.out}; import it on the cloud SSM: "
        f"'ssm-server sync import {args.out.name} --out response.json'"
    )


async def _sync_import(store: Store, now: datetime, args: argparse.Namespace) -> None:
    data = args.file.read_bytes()
    if await onprem.load_link(store) is not None:
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


async def _api_client_create(store: Store, now: datetime, args: argparse.Namespace) -> None:
    new = await apiclients.create(store, name=args.name, now=now)
    if args.json:
        _print_json({"client_id": new.client_id, "client_secret": new.client_secret, "name": args.name})
        return
    print(f"API client created: {args.name}")
    print(f"  client_id:      {new.client_id}")
    print(f"  client_secret:  {new.client_secret}")
    print("  (the secret is shown once; only its hash is stored)")
    print("  get a token:    curl -sk -d grant_type=client_credentials -d client_id=... -d client_secret=... \\")
    print("                    https://127.0.0.1:8443/as/token.oauth2")


async def _api_client_list(store: Store, now: datetime, args: argparse.Namespace) -> None:
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
        _print_json(rows)
        return
    if not rows:
        print("no API client yet: ssm-server api-client create --name NAME")
    for r in rows:
        print(f"{r['client_id']}  {r['status']:<8} {r['name']}  (created {r['created_at']})")


async def _api_client_revoke(store: Store, now: datetime, args: argparse.Namespace) -> None:
    await apiclients.revoke(store, args.client_id, now=now)
    print(f"API client {args.client_id} revoked")


async def _reservation_list(store: Store, now: datetime, args: argparse.Namespace) -> None:
    found = await store.read.reservations()
    rows = []
    for r in found:
        va = await store.read.virtual_account(r.virtual_account_id)
        rows.append(
            {
                "device": f"{r.udi_pid}:{r.serial_number}",
                "virtual_account": va.name if va else "?",
                "status": r.status,
                "licenses": {x.name: x.count for x in r.licenses},
                "reserved_at": utc(r.created_at).isoformat(),
            }
        )
    if args.json:
        _print_json(rows)
        return
    if not rows:
        print("no reservation")
    for r, row in zip(found, rows, strict=True):
        held = ", ".join(f"{x.name}={x.count}" for x in r.licenses)
        print(f"{row['device']}  {row['status']:<10} {row['virtual_account']}  {held}")


async def _reservation_release(store: Store, now: datetime, args: argparse.Namespace) -> None:
    pid, sep, serial = str(args.device).rpartition(":")
    if not sep or not pid or not serial:
        raise SystemExit(
            f"ssm-server: name the device as UDI_PID:SERIAL (as 'reservation list' shows), not {args.device!r}"
        )
    released = await reservations.release(store, pid, serial, now=now, by="ssm-server")
    held = ", ".join(f"{x.count} {x.name}" for x in released.licenses)
    print(f"reservation of {pid}:{serial} released without a return code; back in the pool: {held}")


async def _events(store: Store, now: datetime, args: argparse.Namespace) -> None:
    for e in await store.read.events(limit=args.limit):
        print(f"{utc(e.at).isoformat()}  {e.kind:<24} {e.message}")


_ADMIN: dict[tuple[str, str | None], Callable[[Store, datetime, argparse.Namespace], Awaitable[None]]] = {
    ("token", "create"): _token_create,
    ("token", "list"): _token_list,
    ("token", "revoke"): _token_revoke,
    ("account", "create"): _account_create,
    ("account", "list"): _account_list,
    ("va", "create"): _va_create,
    ("instance", "list"): _instance_list,
    ("instance", "remove"): _instance_remove,
    ("license", "list"): _license_list,
    ("license", "add"): _license_add,
    ("outbox", None): _outbox,
    ("onprem", "register"): _onprem_register,
    ("sync", "now"): _sync_now,
    ("sync", "status"): _sync_status,
    ("sync", "export"): _sync_export,
    ("sync", "import"): _sync_import,
    ("events", None): _events,
    ("api-client", "create"): _api_client_create,
    ("api-client", "list"): _api_client_list,
    ("api-client", "revoke"): _api_client_revoke,
    ("reservation", "list"): _reservation_list,
    ("reservation", "release"): _reservation_release,
}
