"""``ssmlab``: the lab — an SSM, a Smart Agent and the lab PKI — with one command, and its controls.

    ssmlab run [--fresh] [--rate R] [--headless]      the demo (make run): live view until Ctrl-C
    ssmlab up [--fresh] [--rate R] | down | status     the lab in the background; stop it; one screen
    ssmlab clock show | advance DURATION | rate R      both clocks together
    ssmlab clock skew DURATION                          the agent's clock DURATION ahead (-D: behind; 0: together)
    ssmlab reset [--account DOMAIN]                    start over (everything, or one account)
    ssmlab snapshot save | load | list [NAME]          both sides' state, local and free
    ssmlab tls list | MODE                             the SSM's TLS drill
    ssmlab fault add ... | list | remove ID | clear    injected faults on the SSM's device plane
    ssmlab journal [--limit N] | verify | reset | export FILE | replay FILE    the SSM's requests
    ssmlab timeline [--limit N]                        SSM and agent events in domain-time order
    ssmlab scenario list | run NAME|FILE [--json]      graded scenarios on a private virtual-clock lab
    ssmlab proxy [--listen 127.0.0.1:3128] [--connect-to HOST:PORT=ADDR:PORT ...] [--refuse]


It runs ``ssm-server`` and ``smart-agent`` as commands and talks to them over HTTP only; it never
imports either.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import signal
import sys
import time
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

from lab import clock as lockstep
from lab import demo, idcert, journalcli, proxy, view
from lab.processes import ADDRESS_BODY, Lab
from plumbing.clients.lab import LabError, call
from plumbing.cmdline import FILE_ERRORS, file_error, option, print_json, table
from shared.durations import parse_duration

#: 90 domain days in 60 real seconds.
DEMO_RATE = 90 * 86400 / 60


def _lab(args: argparse.Namespace) -> Lab:
    lab = Lab(args.dir, args.certs).load()
    # A port given (not 0: any free port, chosen at start) is where a running lab is looked for.
    if getattr(args, "ssm_port", None):
        lab.ssm_port = args.ssm_port
    if getattr(args, "agent_port", None):
        lab.agent_port = args.agent_port
    return lab


def _bring_up(args: argparse.Namespace) -> Lab:
    lab = _lab(args)
    if not args.fresh and lab.running():
        print(f"ssmlab: the lab is already running (SSM {lab.ssm_url}, agent {lab.agent_url})")
        _print_pages(lab)
        return lab
    lab.prepare(demo.INSTANCES, fresh=args.fresh, ssm_port=args.ssm_port, agent_port=args.agent_port)
    resumed = "domain_now" in lab.state
    lab.start(rate=args.rate, device_mtls=args.device_mtls)
    demo.started(lab)
    lab.start_console(args.console_port)
    clock = lab.ssm("GET", "/_lab/clock")
    print(
        f"ssmlab: {'resumed' if resumed else 'new'} lab in {lab.folder}: SSM {lab.ssm_url}, agent {lab.agent_url}, "
        f"domain time {clock['now'][:16]} at {clock['rate']:g}x"
    )
    print(
        f"ssmlab: admin API (Cisco's REST API): client id and secret in {lab.api_client_file}; "
        f"token at {lab.ssm_url}/as/token.oauth2 (docs/admin-api.md)"
    )
    _print_pages(lab)
    return lab


def _print_pages(lab: Lab) -> None:
    print(f"ssmlab: web {view.pages_line(lab)}")


def cmd_run(args: argparse.Namespace) -> int:
    lab = _bring_up(args)
    stop = False

    def handler(_sig: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    tty = sys.stdout.isatty() and not args.headless
    last_line = 0.0
    said: collections.deque[str] = collections.deque(maxlen=3)  # the screen is redrawn: keep the last
    try:
        while not stop:
            for line in demo.run_due(lab):
                said.append(line)
                print(f"ssmlab: {line}", flush=True)
            if tty:
                print(
                    "\x1b[H\x1b[2J" + view.screen(lab) + "".join(f"\nDEMO: {line}" for line in said) + "\n\nCtrl-C "
                    "stops both processes; 'make run' resumes this lab, 'make run ARGS=--fresh' starts over.",
                    flush=True,
                )
            elif time.monotonic() - last_line >= 5:
                print(f"ssmlab: {view.one_line(lab)}", flush=True)
                last_line = time.monotonic()
            for _ in range(10):
                if stop:
                    break
                time.sleep(0.05)
    except LabError as exc:
        print(f"ssmlab: lost the lab: {exc.message}", file=sys.stderr)
    finally:
        lab.stop()
    print(f"ssmlab: stopped; the lab is kept in {lab.folder} (domain time {lab.state.get('domain_now', '?')[:16]})")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    lab = _bring_up(args)
    for line in demo.run_due(lab):
        print(f"ssmlab: {line}")
    print("ssmlab: running in the background; 'ssmlab status' shows it, 'ssmlab down' stops it")
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    lab = _lab(args)
    print("ssmlab: stopped" if lab.stop() else "ssmlab: nothing was running")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    """One screen: it shows, and never plays a step of the demo (see ``demo.describe``)."""
    lab = _lab(args)
    print(view.screen(lab, events=args.limit))
    if (next_step := demo.describe(lab)) is not None:
        print(f"\n{next_step}")
    return 0


def cmd_clock(verb: str, args: argparse.Namespace) -> int:
    lab = _lab(args)
    endpoints = list(lab.endpoints())
    if args.ssm:
        endpoints[0] = lockstep.Endpoint("ssm", args.ssm, args.cacert)
    if args.agent:
        endpoints[1] = lockstep.Endpoint("agent", args.agent)
    if verb == "advance":
        if "demo_start" in lab.state:
            target, steps, lines = demo.advance(lab, endpoints, parse_duration(args.duration))
        else:
            target, steps = lockstep.advance(endpoints, args.duration)
            lines = []
        print(f"advanced to {target.isoformat()} in {steps} step(s)")
        for line in lines:
            print(f"ssmlab: {line}")
    elif verb == "rate":
        lockstep.set_rate(endpoints, args.rate)
    elif verb == "skew":
        print(f"the agent's clock is now {lockstep.skew(endpoints, args.duration)} from the SSM's")
    rows = []
    for name, v in lockstep.show(endpoints):
        nxt = f", next timer {v['next_deadline']}" if v.get("next_deadline") else ""
        rows.append((name, v["now"], f"({v['kind']} clock, rate {v['rate']:g}{nxt})"))
    print(table(("SIDE", "NOW", "CLOCK"), rows, header=False))
    for e in endpoints:
        e.close()
    lab.close()
    return 0


def cmd_reset(args: argparse.Namespace) -> int:
    lab = _lab(args)
    body: dict[str, Any] = {"account": args.account} if args.account else {}
    print(json.dumps(lab.ssm("POST", "/_lab/reset", body)))
    lab.ssm("POST", "/_lab/notify-addresses", ADDRESS_BODY)  # the reseeded lab account's, again
    if not args.account:
        print(json.dumps(lab.agent("POST", "/_lab/reset")))
        if "demo_start" in lab.state:  # the demo's story starts over (a running 'ssmlab run' sees it)
            demo.restart(lab)
            print("ssmlab: the demo script starts over from now")
    return 0


def cmd_snapshot(args: argparse.Namespace) -> int:
    lab = _lab(args)
    if args.snapshot_verb == "list":
        names = (
            sorted(p.name for p in (lab.folder / "snapshots").glob("*") if p.is_dir())
            if (lab.folder / "snapshots").exists()
            else []
        )
        print("\n".join(names) if names else "no snapshots")
        return 0
    if not args.name:
        raise SystemExit("ssmlab: snapshot save|load NAME")
    verb = "snapshot" if args.snapshot_verb == "save" else "restore"
    # Both clocks stand on one instant while both sides save (or load): a snapshot is one moment.
    with lockstep.frozen(lab.endpoints()):
        lab.ssm("POST", f"/_lab/{verb}", {"name": args.name})
        lab.agent("POST", f"/_lab/{verb}", {"name": args.name})
        now = lab.ssm("GET", "/_lab/clock")["now"]
    lab.close()
    kept = lab.folder / "snapshots" / args.name
    if verb == "snapshot":
        kept.mkdir(parents=True, exist_ok=True)
        demo.save_progress(lab, kept)
        print(f"snapshot {args.name} saved on both sides at {now[:19]} (domain time)")
    else:
        demo.load_progress(lab, kept)
        print(f"snapshot {args.name} loaded on both sides: databases, and both clocks back at {now[:19]}")
    return 0


def cmd_tls(args: argparse.Namespace) -> int:
    lab = _lab(args)
    if args.mode in (None, "list"):
        modes = lab.ssm("GET", "/_lab/tls")["modes"]
        rows = ((f"{'*' if m.get('current') else ' '} {m['mode']}", m.get("description", "")) for m in modes)
        print(table(("MODE", "DESCRIPTION"), rows, header=False))
        return 0
    result = lab.ssm("POST", "/_lab/tls", {"mode": args.mode})
    print(f"the SSM now serves the {result.get('mode', args.mode)} certificate")
    return 0


def cmd_mtls(args: argparse.Namespace) -> int:
    """Switch mutual TLS on the device plane, or show what each instance presented."""
    lab = _lab(args)
    if args.switch in ("on", "off"):
        lab.ssm("POST", "/_lab/device-mtls", {"enabled": args.switch == "on"})
    view = lab.ssm("GET", "/_lab/device-mtls")
    state = "demands" if view["enabled"] else "does not demand"
    print(f"the SSM {state} ID certificates on the device plane (mutual TLS)")
    rows = (
        (piid, p["serial"][:16], p["issuer"], p["not_after"][:10], p["verdict"], p["at"][:16])
        for piid, p in view["presented"].items()
    )
    print(table(("PIID", "SERIAL", "ISSUER", "NOT AFTER", "VERDICT", "SEEN"), rows))
    if view["revoked"]:
        print(f"revoked ID certificates: {', '.join(view['revoked'])}")
    return 0


def _duration(text: str) -> str:
    """An argparse type: a duration as the lab plane takes it (``30d``, ``36h``, ``P30D``), checked here."""
    try:
        parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def cmd_pki(args: argparse.Namespace) -> int:
    """The CA rollover of the SSM's PKI: start it, cut over now, or show where it stands."""
    lab = _lab(args)
    if args.pki_verb == "rollover":
        lab.ssm("POST", "/_lab/pki/rollover", {"overlap": args.overlap})
    elif args.pki_verb == "cutover":
        lab.ssm("POST", "/_lab/pki/rollover/cutover")
    view = lab.ssm("GET", "/_lab/pki/rollover")
    phase = view["phase"]
    if phase == "overlap":
        print(
            f"CA rollover to {view['generation']} in its overlap: cutover at {view['cutover_at'][:16]} (domain time)\n"
            f"  the new root: {view['next_root']['subject']} ({view['next_root']['fingerprint'][:23]}...)\n"
            f"  give it to agents now and they never fail: "
            f"smart-agent trust import {lab.certs / 'next' / 'ca.pem'} "
            f"--alias ssmlab-root-ca-{view['generation'].lower()}"
        )
    elif phase == "done":
        print(
            f"CA rollover to {view['generation']} done at {view['cutover_at'][:16]}; the SSM still accepts ID "
            f"certificates of {', '.join(view['previous_roots'])}"
        )
    else:
        print("no CA rollover: 'ssmlab pki rollover --overlap 30d' starts one")
    return 0


def cmd_id_cert(args: argparse.Namespace) -> int:
    """An ID-certificate drill on one instance: the SSM revokes its certificate, or the agent is
    given one of another product's CA, or an expired one."""
    lab = _lab(args)
    try:
        made = idcert.play(lab, args.drill, args.instance)
    except idcert.NotRegistered as exc:
        print(f"ssmlab: {exc}")
        return 1
    print(idcert.describe(made, args.instance))
    if not lab.ssm("GET", "/_lab/device-mtls")["enabled"]:
        print("ssmlab: the SSM does not demand ID certificates yet: 'ssmlab mtls on' (or 'ssmlab up --device-mtls')")
    config = lab.folder / "agent.toml"
    print(f"next: smart-agent --config {config} renew auth --instance {args.instance} (refused); fix: {made['fix']}")
    return 0


#: The options of ``fault add`` that make the fault's specification, as the lab plane names them.
FAULT_FIELDS = [
    "kind",
    "status",
    "retry_after",
    "latency_ms",
    "path",
    "piid",
    "token_id",
    "message",
    "probability",
    "seed",
    "ttl",
    "times",
]


def _faults(args: argparse.Namespace, method: str, path: str = "", body: dict[str, Any] | None = None) -> Any:
    """A call to the faults of the lab's SSM, or of the SSM at ``--url`` (its lab plane, not
    verified: a TLS drill may break its certificate, as for 'ssm-server tls')."""
    if args.url:
        return call(args.url.rstrip("/") + "/_lab/faults" + path, method, body, insecure=True)
    return _lab(args).ssm(method, "/_lab/faults" + path, body)


def cmd_fault_add(args: argparse.Namespace) -> int:
    given = vars(args)
    spec = {k: given[k] for k in FAULT_FIELDS if given[k] is not None}
    print(json.dumps(_faults(args, "POST", body=spec)))
    return 0


def cmd_fault_list(args: argparse.Namespace) -> int:
    faults = _faults(args, "GET")
    for f in faults:
        print(json.dumps(f))
    if not faults:
        print("no faults")
    return 0


def cmd_fault_clear(args: argparse.Namespace) -> int:
    print(json.dumps(_faults(args, "DELETE")))
    return 0


def cmd_fault_remove(args: argparse.Namespace) -> int:
    print(json.dumps(_faults(args, "DELETE", f"/{args.id}")))
    return 0


def cmd_timeline(args: argparse.Namespace) -> int:
    rows = ((e["at"][:19], e["side"], e["kind"], e["message"]) for e in view.timeline(_lab(args), limit=args.limit))
    listing = table(("AT", "SIDE", "KIND", "MESSAGE"), rows, header=False)
    if listing:
        print(listing)
    return 0


def cmd_scenario_list(args: argparse.Namespace) -> int:
    from lab import scenario

    print(table(("NAME", "DESCRIPTION"), scenario.builtin(), header=False, gap=1))
    return 0


def cmd_scenario_run(args: argparse.Namespace) -> int:
    from lab import scenario

    report = scenario.run(args.target, certs=args.certs, progress=not args.json)
    if args.json:
        print_json(report)
    elif report.get("error") and not report.get("checks"):
        print(f"ssmlab: {report['error']}", file=sys.stderr)
    return 0 if report["passed"] else 1


def _bring_up_options() -> argparse.ArgumentParser:
    """The options of the verbs that bring the lab up (``run``, ``up``)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--fresh", action="store_true", help="discard the persisted lab and start over")
    parser.add_argument(
        "--rate",
        type=float,
        default=DEMO_RATE,
        help=f"domain seconds per real second (default {DEMO_RATE:g}: the demo's 90 days in a minute)",
    )
    parser.add_argument("--ssm-port", type=int)
    parser.add_argument("--agent-port", type=int)
    parser.add_argument(
        "--device-mtls",
        action="store_true",
        help="the SSM demands each registered instance's ID certificate (mutual TLS on the device plane)",
    )
    parser.add_argument(
        "--console-port", type=int, help="the lab console's port (default 8780, a free one when taken; 0: a free one)"
    )
    return parser


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="ssmlab", description="the ssmlab lab: SSM + Smart Agent + lab PKI")
    p.add_argument("--dir", type=Path, default=Path("var/lab"), help="the lab folder (default var/lab)")
    p.add_argument("--certs", type=Path, default=Path("certs"))
    sub = p.add_subparsers(dest="verb", required=True)
    bring_up = _bring_up_options()
    run = sub.add_parser("run", help="the demo: bring the lab up with a live view until Ctrl-C", parents=[bring_up])
    run.add_argument("--headless", action="store_true", help="log lines instead of the live view")
    run.set_defaults(func=cmd_run)
    sub.add_parser("up", help="bring the lab up in the background", parents=[bring_up]).set_defaults(func=cmd_up)
    sub.add_parser("down", help="stop the lab (its state is kept)").set_defaults(func=cmd_down)
    sub.add_parser(
        "status", help="one screen of the lab", parents=[option("--limit", type=int, default=10)]
    ).set_defaults(func=cmd_status)

    ck = sub.add_parser("clock", help="both clocks together")
    ck.add_argument("--ssm", help="the SSM's URL (default: the lab's)")
    ck.add_argument("--agent", help="the agent's local API URL (default: the lab's)")
    ck.add_argument("--cacert", type=Path, help="the CA that signed the SSM's certificate (with --ssm)")
    cks = ck.add_subparsers(dest="clock_verb", required=True)
    cks.add_parser("show").set_defaults(func=partial(cmd_clock, "show"))
    cka = cks.add_parser("advance")
    cka.add_argument("duration", help="e.g. 30d, 36h, 15m, 1y, P90D")
    cka.set_defaults(func=partial(cmd_clock, "advance"))
    ckr = cks.add_parser("rate")
    ckr.add_argument("rate", type=float)
    ckr.set_defaults(func=partial(cmd_clock, "rate"))
    cksk = cks.add_parser(
        "skew", help="set the clocks apart: the agent's DURATION ahead (-DURATION: behind; 0: together)"
    )
    cksk.add_argument("duration", help="e.g. 3d, -3d, 0")
    cksk.set_defaults(func=partial(cmd_clock, "skew"))

    rs = sub.add_parser("reset", help="start over: everything, or one Smart Account on the SSM")
    rs.add_argument("--account")
    rs.set_defaults(func=cmd_reset)
    sn = sub.add_parser("snapshot", help="save, load or list snapshots of both sides")
    sn.add_argument("snapshot_verb", choices=["save", "load", "list"])
    sn.add_argument("name", nargs="?")
    sn.set_defaults(func=cmd_snapshot)
    tl = sub.add_parser("tls", help="list the TLS drills, or switch the SSM's certificate")
    tl.add_argument("mode", nargs="?")
    tl.set_defaults(func=cmd_tls)
    mt = sub.add_parser("mtls", help="mutual TLS on the device plane: switch it, or show what instances presented")
    mt.add_argument("switch", nargs="?", choices=["on", "off", "show"], default="show")
    mt.set_defaults(func=cmd_mtls)
    pk = sub.add_parser("pki", help="CA rollover of the SSM's PKI: rollover [--overlap 30d], cutover, show")
    pk.add_argument("pki_verb", choices=["show", "rollover", "cutover"], nargs="?", default="show")
    pk.add_argument("--overlap", default="30d", type=_duration, help="domain time until the cutover (default 30d)")
    pk.set_defaults(func=cmd_pki)
    ic = sub.add_parser("id-cert", help="an ID-certificate drill: revoked, foreign (another product's CA), expired")
    ic.add_argument("drill", choices=idcert.DRILLS)
    ic.add_argument("--instance", default="ucce-1", help="the agent's instance (default ucce-1)")
    ic.set_defaults(func=cmd_id_cert)

    fas = sub.add_parser("fault", help="injected faults").add_subparsers(dest="fault_verb", required=True)
    target = option("--url", help="another SSM than the lab's, e.g. https://127.0.0.1:9443")
    fadd = fas.add_parser("add", parents=[target])
    fadd.add_argument("--kind", required=True, choices=["status", "latency", "drop", "reset"])
    fadd.add_argument("--status", type=int)
    fadd.add_argument("--retry-after", type=int)
    fadd.add_argument("--latency-ms", type=int)
    fadd.add_argument("--path")
    fadd.add_argument("--piid")
    fadd.add_argument("--token-id")
    fadd.add_argument(
        "--message",
        choices=["registration", "authorization", "report", "registration_renewal", "deregistration", "sync"],
        help="only this kind of device message (e.g. authorization: a registration succeeds, its authorization fails)",
    )
    fadd.add_argument("--probability", type=float)
    fadd.add_argument("--seed", type=int)
    fadd.add_argument("--ttl", help="domain-time duration, e.g. 2h")
    fadd.add_argument("--times", type=int)
    fadd.set_defaults(func=cmd_fault_add)
    fas.add_parser("list", parents=[target]).set_defaults(func=cmd_fault_list)
    fas.add_parser("clear", parents=[target]).set_defaults(func=cmd_fault_clear)
    frm = fas.add_parser("remove", parents=[target])
    frm.add_argument("id", type=int)
    frm.set_defaults(func=cmd_fault_remove)

    journalcli.add_parser(sub)  # sets its own handlers
    sub.add_parser(
        "timeline", help="SSM and agent events in domain-time order", parents=[option("--limit", type=int, default=50)]
    ).set_defaults(func=cmd_timeline)

    scs = sub.add_parser("scenario", help="graded scenarios on a private virtual-clock lab").add_subparsers(
        dest="scenario_verb", required=True
    )
    scs.add_parser("list").set_defaults(func=cmd_scenario_list)
    scr = scs.add_parser("run", parents=[option("--json", action="store_true", help="a JSON report (for graders)")])
    scr.add_argument("target", help="a built-in scenario name or a TOML file")
    scr.set_defaults(func=cmd_scenario_run)
    proxy.add_parser(sub)  # sets its own handler
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
        return status
    except BrokenPipeError:  # 'ssmlab timeline | head': the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 0
    except FILE_ERRORS as exc:
        return file_error("ssmlab", exc)
    except LabError as exc:
        print(f"ssmlab: {exc.message}", file=sys.stderr)
        if exc.fix:
            print(f"  fix: {exc.fix}", file=sys.stderr)
        if exc.code == "unreachable":
            print("  (is the lab running? 'ssmlab up' or 'make run')", file=sys.stderr)
        return 1
