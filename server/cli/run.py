"""``ssm-server run``: the SSM itself, cloud or On-Prem, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from plumbing import labtoken, loop
from plumbing.web import serve
from plumbing.web.guard import is_loopback
from server import deployment, keys, workers
from server.app import create_app
from server.cli.common import Parents, SubParsers
from server.pki_files import load_lab_pki
from server.settings import ServerSettings
from server.store import Store
from server.store.location import redacted
from server.timekeeping import load_clock
from shared.clock import AnyClock, choose_clock
from shared.clockctl import parse_instant
from shared.logging import configure_logging
from shared.policy import DEFAULT_POLICY, Policy


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _url_host(host: str) -> str:
    """A bound address as a browser reaches it (a wildcard by loopback; IPv6 in brackets)."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - naming a wildcard bind, not binding one
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def add_parsers(sub: SubParsers, parents: Parents) -> None:
    run = sub.add_parser("run", help="run the SSM", parents=[parents.db, parents.certs])
    run.add_argument(
        "--mode",
        choices=["cloud", "onprem"],
        help="a new database's kind (default cloud); a database keeps the kind it was first run as",
    )
    run.add_argument("--admin-listen", type=_listen, help="On-Prem: the admin listener HOST:PORT (8443-style)")
    run.add_argument(
        "--sync",
        choices=["connected", "disconnected"],
        help="On-Prem: synchronize with the cloud on a schedule, or by files carried by hand (kept in the "
        "database; default: as last run, else connected)",
    )
    run.add_argument("--listen", type=_listen, default=("127.0.0.1", 8443), help="HOST:PORT (port 0: any free port)")
    run.add_argument("--port-file", type=Path, help="write the bound port here once listening")
    run.add_argument("--clock", choices=["scaled", "virtual", "system"])
    run.add_argument("--rate", type=float, help="domain seconds per real second (scaled clock)")
    run.add_argument("--epoch", help="domain time at the anchor (ISO 8601)")
    run.add_argument("--anchor", type=float, help="real epoch seconds the domain epoch is pinned to")
    run.add_argument("--policy", action="append", default=[], metavar="NAME=VALUE")
    run.add_argument("--log-format", choices=["auto", "json", "console"], default="auto")
    run.add_argument("--log-level", default="info")
    run.add_argument(
        "--lab-exposed",
        action="store_true",
        help="let non-loopback peers use the lab plane (/_lab, /metrics) with the lab token printed at start",
    )
    run.add_argument(
        "--workers",
        type=_workers,
        default=1,
        help="processes answering the port, sharing the store (SO_REUSEPORT; default 1). With more than one, "
        "the lab plane's clock, faults, TLS drills, reset and snapshots are refused",
    )
    run.add_argument(
        "--device-mtls",
        action="store_true",
        help="mutual TLS on the device plane: registered instances must present their ID certificate "
        "(checked on the domain clock, against the SSM's revocation list)",
    )
    run.add_argument(
        "--smtp",
        type=_listen,
        metavar="HOST:PORT",
        help="e-mail the notifications through this SMTP server (STARTTLS when it offers it; "
        "its certificate verified against the system's roots and the lab CA). Without it they wait, queued",
    )
    run.add_argument("--smtp-from", default="ssm@ssmlab.invalid", help="the e-mails' sender (default %(default)s)")
    run.add_argument("--worker-of", help=argparse.SUPPRESS)  # PARENT_PID:INDEX, set for workers 1..N-1
    run.set_defaults(func=lambda args: loop.run(_run(args)))


def _workers(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 64:
        raise argparse.ArgumentTypeError(f"expected a number of processes from 1 to 64, got {text!r}")
    return int(text)


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


def _host_is_loopback(host: str) -> bool:
    return host == "localhost" or (is_loopback(host) and host != "")


def _lab_access(args: argparse.Namespace, hosts: list[str]) -> str | None:
    """The lab token when ``--lab-exposed`` (printed once, written 0600 beside the database); else
    None, with a warning when a listener is reachable from other machines."""
    folder = args.db.parent
    if args.lab_exposed:
        token = labtoken.mint(folder)
        print(
            f"ssm-server: the lab plane (/_lab, /metrics) answers any peer sending the lab token:\n"
            f"  Authorization: Bearer {token}\n"
            f"  (also in {folder / labtoken.FILE}, mode 0600; ssm-server and ssmlab on this machine read it)",
            file=sys.stderr,
            flush=True,
        )
        return token
    labtoken.forget(folder)
    open_hosts = [h for h in hosts if not _host_is_loopback(h)]
    if open_hosts:
        print(
            f"ssm-server: WARNING: listening on {', '.join(open_hosts)}, beyond loopback: other machines reach the "
            "device plane (signed requests) and the admin API (OAuth2 bearer tokens); the lab plane (/_lab, "
            "/metrics: tokens, licences, clock, reset) stays loopback-only and answers them 403 lab_not_exposed "
            "(--lab-exposed opens it with a lab token)",
            file=sys.stderr,
            flush=True,
        )
    return None


def _settings(
    args: argparse.Namespace, mode: deployment.Kind, sync: deployment.SyncMode, token: str | None, *, worker: int = 0
) -> ServerSettings:
    """The settings of this process (``worker``: its index among ``--workers``)."""
    host, port = args.listen
    admin_host, admin_port = args.admin_listen or ("127.0.0.1", None)
    return ServerSettings(
        mode=mode,
        host=host,
        port=port,
        db_path=args.db,
        certs=args.certs,
        policy=_policy(args.policy),
        admin_host=admin_host,
        admin_port=admin_port,
        sync=sync,
        lab_token=token,
        workers=args.workers,
        worker=worker,
        device_mtls=args.device_mtls,
        smtp=args.smtp,
        smtp_from=args.smtp_from,
    )


async def _run(args: argparse.Namespace) -> int:
    if args.worker_of:
        return await _run_worker(args)
    lab_pki = load_lab_pki(args.certs)
    store = await Store.open(args.db)
    try:
        found = await deployment.load(store)
        mode = deployment.Kind(args.mode) if args.mode else found.kind if found else deployment.Kind.CLOUD
        await deployment.require(
            store,
            mode,
            doing=f"'ssm-server run --mode {mode}'",
            fix=f"run it as it is (leave --mode out), or give the {mode} SSM a --db of its own",
        )
        sync = deployment.SyncMode(args.sync) if args.sync else found.sync if found else deployment.SyncMode.CONNECTED
        clock = _clock(args, await load_clock(store))
        configure_logging(clock=clock, json=_log_json(args.log_format), level=args.log_level)
        host, port = args.listen
        admin_host, admin_port = args.admin_listen or ("127.0.0.1", None)
        token = _lab_access(args, [host, admin_host] if admin_port is not None else [host])
        settings = _settings(args, mode, sync, token)
        app = create_app(settings, clock=clock, lab_pki=lab_pki, store=store)
        also = (admin_host, admin_port) if admin_port is not None else None
        runner, bound = await serve.start(
            app, host, port, ssl_context=app[keys.TLS].context, also=also, reuse_port=args.workers > 1
        )
        ports = serve.bound_ports(runner)
        app[keys.LISTENERS].device = ports[0]
        portal = f"https://{_url_host(host)}:{bound}/"
        if also is not None:
            app[keys.LISTENERS].admin = ports[1]
            portal = f"https://{_url_host(admin_host)}:{ports[1]}/"
            print(
                f"ssm-server: admin listener on https://{_url_host(admin_host)}:{ports[1]} (portal {portal})",
                file=sys.stderr,
                flush=True,
            )
        children = workers.spawn(args.argv, host=host, port=bound, clock=clock, workers=args.workers)
        try:
            await asyncio.to_thread(workers.ready, children)
        except RuntimeError:
            await asyncio.to_thread(workers.stop, children)
            raise
        if args.port_file:  # once every worker listens: a client may connect to any of them
            args.port_file.write_text(" ".join(map(str, ports)))
        print(
            f"ssm-server: {mode} SSM listening on https://{host}:{bound} "
            f"(portal {portal}, db {redacted(args.db)}, clock {clock.state().kind} rate {clock.rate:g}, "
            f"now {clock.now().isoformat(timespec='seconds')})",
            file=sys.stderr,
            flush=True,
        )
        if children:
            print(f"ssm-server: {args.workers} worker processes answer port {bound}", file=sys.stderr, flush=True)
        try:
            await serve.wait_for_signal()
        finally:
            print("ssm-server: shutting down", file=sys.stderr, flush=True)
            await asyncio.to_thread(workers.stop, children)
        await runner.cleanup()
    finally:
        await store.close()
    return 0


async def _run_worker(args: argparse.Namespace) -> int:
    """Worker 1..N-1 of ``--workers``: the first process's settings, its port, its clock; no
    housekeeping (the first process keeps house), no port file, the lab token it minted."""
    parent, _, index = args.worker_of.partition(":")
    lab_pki = load_lab_pki(args.certs)
    store = await Store.open(args.db)
    try:
        found = await deployment.load(store)
        assert found is not None, "the first process claimed the store before starting its workers"
        clock = _clock(args, None)
        configure_logging(clock=clock, json=_log_json(args.log_format), level=args.log_level)
        host, port = args.listen
        admin_host, admin_port = args.admin_listen or ("127.0.0.1", None)
        token = labtoken.find(args.db.parent) if args.lab_exposed else None
        settings = _settings(args, found.kind, found.sync, token, worker=int(index))
        app = create_app(settings, clock=clock, lab_pki=lab_pki, store=store)
        also = (admin_host, admin_port) if admin_port is not None else None
        runner, _ = await serve.start(app, host, port, ssl_context=app[keys.TLS].context, also=also, reuse_port=True)
        workers.announce_ready()
        gone = asyncio.create_task(workers.orphaned(int(parent)))
        signal = asyncio.create_task(serve.wait_for_signal())
        await asyncio.wait([gone, signal], return_when=asyncio.FIRST_COMPLETED)
        for task in (gone, signal):
            task.cancel()
        await runner.cleanup()
    finally:
        await store.close()
    return 0
