"""``smart-agent``: run the Smart Agent daemon and drive it through its local API.

Verbs::

    smart-agent run [--config agent.toml]
    smart-agent register TOKEN|- [--instance NAME]      (- reads the token from stdin)
    smart-agent reregister TOKEN|- [--instance NAME]    (a token of another virtual account moves it)
    smart-agent renew auth|id [--instance NAME]         (Renew Authorization / Renew Registration)
    smart-agent deregister [--instance NAME] [--yes]
    smart-agent license-type [--type Flex|Perpetual --mode Production|Non-Production] [--instance NAME]
    smart-agent agents add [N] [--instance NAME]       (refused in Enforcement)
    smart-agent status [--instance NAME] [--json]
    smart-agent usage set [--instance NAME] "Premium Agent=130" ...  |  usage show [--instance NAME] [--json]
    smart-agent banner [--json]        the aggregate banner and the License Compliance report
    smart-agent alerts [--json]        system alerts per machine (red / green)
    smart-agent enable | disable [--instance NAME];  smart-agent serial generate [--instance NAME]
    smart-agent events [--instance NAME] [--limit N]
    smart-agent clock show | advance DURATION | rate R
    smart-agent transport show | set [--mode smart-transport|call-home] [--direct|--gateway URL|--proxy H:P]
    smart-agent trust list | import FILE --alias NAME | remove ALIAS
    smart-agent diagnose [URL] [--json]                (exit status 1 when a step fails)

Client verbs find the daemon with ``--api URL``, else ``$SMART_AGENT_API``, else the
``api.url`` file the daemon writes in its data directory, else the config's ``api`` address.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from agent import cli_transport
from agent.api import create_api
from agent.client import ApiError, Client
from agent.config import AgentConfig, ClockConfig, ConfigError, load_config
from agent.daemon import Agent, open_transport
from agent.store import AgentStore
from plumbing import serve
from plumbing.labclient import clock_command
from shared.clock import AnyClock, ScaledClock, choose_clock, dump_state, load_state
from shared.clockctl import parse_instant
from shared.errors import SmartLicensingError
from shared.logging import configure_logging
from shared.policy import DEFAULT_POLICY

DEFAULT_CONFIG = "agent.toml"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="smart-agent", description="ssmlab Smart Agent (product instances)")
    p.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG), help="agent.toml (default ./agent.toml)")
    p.add_argument("--api", help="local API URL of a running agent (default: from the config)")
    sub = p.add_subparsers(dest="verb", required=True)
    run = sub.add_parser("run", help="run the daemon")
    run.add_argument("--clock", choices=["scaled", "virtual", "system"], help="overrides agent.toml [clock]")
    run.add_argument("--rate", type=float, help="domain seconds per real second (scaled clock)")
    run.add_argument("--epoch", help="domain time at the anchor (ISO 8601)")
    run.add_argument("--anchor", type=float, help="real epoch seconds the domain epoch is pinned to")
    reg = sub.add_parser("register", help="register a product instance with a token")
    reg.add_argument("token", help="the Product Instance Registration Token, or - to read it from stdin")
    reg.add_argument("--instance", help="instance name (needed when the agent hosts several)")
    rr = sub.add_parser("reregister", help="register again (a token of another virtual account moves it)")
    rr.add_argument("token", help="the token, or - to read it from stdin")
    rr.add_argument("--instance")
    rn = sub.add_parser("renew", help="Renew Authorization (auth) or Renew Registration (id)")
    rn.add_argument("what", choices=["auth", "authorization", "id", "registration"])
    rn.add_argument("--instance")
    dr = sub.add_parser("deregister", help="deregister; all licenses return to the virtual account")
    dr.add_argument("--instance")
    dr.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    lt = sub.add_parser("license-type", help="show or select the License Type (before registering)")
    lt.add_argument("--type", choices=["Flex", "Perpetual"])
    lt.add_argument("--mode", choices=["Production", "Non-Production"])
    lt.add_argument("--instance")
    ag = sub.add_parser("agents", help="agents of the deployment (adding is blocked in Enforcement)")
    ags = ag.add_subparsers(dest="agents_verb", required=True)
    aga = ags.add_parser("add")
    aga.add_argument("count", nargs="?", type=int, default=1)
    aga.add_argument("--instance")
    st = sub.add_parser("status", help="Smart Licensing Status (seed Table 2)")
    st.add_argument("--instance")
    st.add_argument("--json", action="store_true")
    us = sub.add_parser("usage", help="license usage: set the in-use counts, show the consumption summary")
    uss = us.add_subparsers(dest="usage_verb", required=True)
    uset = uss.add_parser("set", help='e.g. usage set "Premium Agent=130" "Dialer Ports=20"')
    uset.add_argument("values", nargs="+", metavar="NAME=COUNT")
    uset.add_argument("--instance")
    ushow = uss.add_parser("show", help="License consumption summary (seed Table 5)")
    ushow.add_argument("--instance")
    ushow.add_argument("--json", action="store_true")
    bn = sub.add_parser("banner", help="the aggregate banner and the License Compliance report")
    bn.add_argument("--json", action="store_true")
    al = sub.add_parser("alerts", help="system alerts of each machine")
    al.add_argument("--json", action="store_true")
    for verb in ("enable", "disable"):
        en = sub.add_parser(verb, help=f"{verb} the Smart Agent for an instance")
        en.add_argument("--instance")
    sn = sub.add_parser("serial", help="the serial number")
    sns = sn.add_subparsers(dest="serial_verb", required=True)
    sng = sns.add_parser("generate", help="generate a serial number where none was generated")
    sng.add_argument("--instance")
    rs = sub.add_parser("reservation", help="Specific License Reservation (request, install, return, cancel)")
    rss = rs.add_subparsers(dest="reservation_verb", required=True)
    rsr = rss.add_parser("request", help="print the request code to reserve licenses with on the SSM")
    rsi = rss.add_parser("install", help="install the SSM's authorization code (the code, a file, or - for stdin)")
    rsi.add_argument("code", metavar="CODE|FILE")
    rst = rss.add_parser("return", help="give the reserved licenses back; prints the return code for the SSM")
    rsc = rss.add_parser("cancel", help="cancel a reservation in progress")
    for p_ in (rsr, rsi, rst, rsc):
        p_.add_argument("--instance")
        p_.add_argument("--json", action="store_true")
    ev = sub.add_parser("events", help="the agent's event log (transitions, requests)")
    ev.add_argument("--instance")
    ev.add_argument("--limit", type=int, default=50)
    cli_transport.add_parsers(sub)
    ck = sub.add_parser("clock", help="the agent's domain clock")
    cks = ck.add_subparsers(dest="clock_verb", required=True)
    cks.add_parser("show")
    cka = cks.add_parser("advance")
    cka.add_argument("value", metavar="DURATION")
    ckr = cks.add_parser("rate")
    ckr.add_argument("value", metavar="RATE")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.verb == "run":
            cfg = load_config(args.config)
            if args.clock or args.rate is not None or args.epoch or args.anchor is not None:
                current = cfg.clock or ClockConfig()
                cfg = msgspec.structs.replace(
                    cfg,
                    clock=ClockConfig(
                        kind=args.clock or current.kind,
                        rate=args.rate if args.rate is not None else current.rate,
                        epoch=args.epoch or current.epoch,
                        anchor=args.anchor if args.anchor is not None else current.anchor,
                    ),
                )
            return asyncio.run(_run(cfg))
        base = _api_url(args)
        if args.verb == "clock":
            return clock_command(base, args.clock_verb, getattr(args, "value", None))
        client = Client(base)
        handler = _VERBS.get(args.verb)
        if handler is not None:
            return handler(client, args)
    except ConfigError as exc:
        print(f"smart-agent: {exc}", file=sys.stderr)
        return 2
    except (ApiError, SmartLicensingError) as exc:
        print(f"smart-agent: {exc.message}", file=sys.stderr)
        if exc.fix:
            print(f"  fix: {exc.fix}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 2


# -- daemon -------------------------------------------------------------------------------------


async def _run(cfg: AgentConfig) -> int:
    data = cfg.data_path
    data.mkdir(parents=True, exist_ok=True)
    os.chmod(data, 0o700)
    store = await AgentStore.open(data / "agent.db")
    try:
        saved_text = await store.setting("clock")
        c = cfg.clock
        clock = choose_clock(
            kind=c.kind if c else None,
            rate=c.rate if c else None,
            start=parse_instant(c.epoch) if c and c.epoch else None,
            anchor=c.anchor if c else None,
            saved=load_state(saved_text) if saved_text else None,
        )
        json_logs = cfg.log_format == "json" or (cfg.log_format == "auto" and not sys.stderr.isatty())
        configure_logging(clock=clock, json=json_logs, level=cfg.log_level)
        try:
            policy = DEFAULT_POLICY.with_overrides(cfg.policy)
        except ValueError as exc:
            raise ConfigError(f"[policy]: {exc}") from None

        async def persist_clock(clk: AnyClock) -> None:
            await store.set_setting("clock", dump_state(clk))

        await persist_clock(clock)
        transport = await open_transport(cfg, store)
        agent = Agent(config=cfg, clock=clock, store=store, transport=transport, policy=policy)
        await agent.start()
        host, port = cfg.api_address
        try:
            runner, bound = await serve.start(create_api(agent, persist_clock), host, port)
        except OSError as exc:
            await agent.stop()  # its instances stop before the store closes
            await transport.close()
            raise ConfigError(
                f"cannot listen on {host}:{port} for the local API: {exc.strerror} "
                "(is another smart-agent running? change 'api' in agent.toml)"
            ) from None
        url = f"http://{host}:{bound}"
        (data / "api.url").write_text(url + "\n")
        print(
            f"smart-agent: {len(agent.runners)} product instance(s) "
            f"({', '.join(agent.runners)}); local API {url}; SSM {transport.url} ({transport.settings.mode}); "
            f"clock {clock.state().kind} rate {clock.rate:g}",
            file=sys.stderr,
            flush=True,
        )
        try:
            await serve.wait_for_signal()
        finally:
            print("smart-agent: shutting down", file=sys.stderr, flush=True)
            await agent.stop()
            await runner.cleanup()
            if isinstance(clock, ScaledClock):
                clock.rebase()  # record the domain time reached: a restart resumes from here
                await persist_clock(clock)
            await transport.close()
    finally:
        await store.close()
    return 0


# -- client -------------------------------------------------------------------------------------


def _api_url(args: argparse.Namespace) -> str:
    if args.api:
        return str(args.api).rstrip("/")
    if env := os.environ.get("SMART_AGENT_API"):
        return env.rstrip("/")
    if args.config.exists():
        cfg = load_config(args.config)
        marker = cfg.data_path / "api.url"
        if marker.exists():
            return marker.read_text().strip().rstrip("/")
        host, port = cfg.api_address
        return f"http://{host}:{port}"
    return "http://127.0.0.1:8787"


def _instance_path(client: Client, name: str | None) -> str:
    if name:
        return f"/api/v1/instances/{name}"
    instances = client.call("GET", "/api/v1/status")["instances"]
    if len(instances) != 1:
        names = ", ".join(i["product_instance_name"] for i in instances)
        raise ApiError(
            f"this agent hosts {len(instances)} product instances; say which",
            "instance_required",
            f"pass --instance with one of: {names}",
        )
    return f"/api/v1/instances/{instances[0]['product_instance_name']}"


def _token(args: argparse.Namespace) -> str:
    return sys.stdin.read().strip() if args.token == "-" else str(args.token)  # noqa: S105 - "-" means stdin


def _action(client: Client, args: argparse.Namespace, verb: str, what: str, body: dict[str, Any] | None = None) -> int:
    path = _instance_path(client, args.instance)
    try:
        status = client.call("POST", f"{path}/{verb}", body)
    except ApiError as exc:
        print(f"{what} failed ({exc.code}): {exc.message}", file=sys.stderr)
        if exc.fix:
            print(f"  fix: {exc.fix}", file=sys.stderr)
        return 1
    print(f"{what} succeeded." if not status.get("reason") else f"{what} done, with a failure to look at:")
    print(render_status(status))
    return 0


def _code_arg(text: str) -> str:
    """An authorization code given inline, as a file name, or as - (stdin)."""
    if text == "-":
        return sys.stdin.read().strip()
    if not text.lstrip().startswith("<"):
        path = Path(text)
        if not path.is_file():
            raise ApiError(
                f"{text!r} is neither an authorization code nor a file",
                "invalid_authorization_code",
                "pass the code (it starts with <specificPLR>), a file holding it, or - to read stdin",
            )
        return path.read_text().strip()
    return text


def _reservation(client: Client, args: argparse.Namespace) -> int:
    path = _instance_path(client, args.instance) + "/reservation/" + args.reservation_verb
    body = {"code": _code_arg(args.code)} if args.reservation_verb == "install" else None
    try:
        result = client.call("POST", path, body)
    except ApiError as exc:
        print(f"reservation {args.reservation_verb} failed ({exc.code}): {exc.message}", file=sys.stderr)
        if exc.fix:
            print(f"  fix: {exc.fix}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    status = result.get("status", result)
    verb = args.reservation_verb
    if verb == "request":
        print("Reservation request code (reserve licenses with it on the SSM, then install the code it returns):")
        print(status["reservation_request_code"])
    elif verb == "install":
        print("Authorization code installed. Confirmation code (give it to the SSM's confirm operation):")
        print(status["reservation_confirmation_code"])
    elif verb == "return":
        print("Reservation returned. Return code (give it to the SSM to release the licenses):")
        print(result["return_code"])
    else:
        print("Reservation request cancelled.")
    print(render_status(status))
    return 0


def _register(client: Client, args: argparse.Namespace) -> int:
    return _action(client, args, "register", "Registration", {"token": _token(args)})


def _reregister(client: Client, args: argparse.Namespace) -> int:
    return _action(client, args, "reregister", "Reregistration", {"token": _token(args)})


def _renew(client: Client, args: argparse.Namespace) -> int:
    if args.what in ("auth", "authorization"):
        return _action(client, args, "renew-authorization", "Renew Authorization")
    return _action(client, args, "renew-registration", "Renew Registration")


def _deregister(client: Client, args: argparse.Namespace) -> int:
    path = _instance_path(client, args.instance)
    if not args.yes and sys.stdin.isatty():
        answer = input(f"Deregister {path.rsplit('/', 1)[-1]}? All its licenses return to the virtual account. [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("not deregistered")
            return 1
    result = client.call("POST", f"{path}/deregister")
    print(("Deregistered: " if result["removed_on_ssm"] else "WARNING: ") + result["message"])
    print(render_status(result["status"]))
    return 0


def _license_type(client: Client, args: argparse.Namespace) -> int:
    path = _instance_path(client, args.instance)
    if args.type or args.mode:
        current = client.call("GET", f"{path}/license-type")
        body = {"license_type": args.type or current["license_type"], "usage_mode": args.mode or current["usage_mode"]}
        client.call("PUT", f"{path}/license-type", body)
    lt = client.call("GET", f"{path}/license-type")
    note = (
        ""
        if lt["license_type"] == lt["effective_license_type"]
        else (f" (used as {lt['effective_license_type']}: {lt['deployment_type']})")
    )
    print(f"License Type: {lt['license_type']} {lt['usage_mode']}{note}")
    return 0


def _agents(client: Client, args: argparse.Namespace) -> int:
    path = _instance_path(client, args.instance)
    status = client.call("POST", f"{path}/agents", {"count": args.count})
    print(f"{args.count} agent(s) added; {status['agents']} configured")
    return 0


def _events(client: Client, args: argparse.Namespace) -> int:
    query = f"?instance={args.instance}" if args.instance else ""
    rows = client.call("GET", f"/_lab/events{query}")[-args.limit :]
    for e in rows:
        print(f"{e['at']}  {e['instance']:<12} {e['kind']:<28} {e['message']}")
    if not rows:
        print("no events")
    return 0


def _status(client: Client, args: argparse.Namespace) -> int:
    if args.instance:
        views = [client.call("GET", f"/api/v1/instances/{args.instance}/status")]
    else:
        views = client.call("GET", "/api/v1/status")["instances"]
    if args.json:
        print(json.dumps(views[0] if args.instance else views, indent=2))
    else:
        print("\n\n".join(render_status(v) for v in views))
    return 0


def _usage(client: Client, args: argparse.Namespace) -> int:
    path = _instance_path(client, args.instance)
    if args.usage_verb == "set":
        values: dict[str, int] = {}
        for item in args.values:
            name, sep, count = item.partition("=")
            if not sep or not count.strip().lstrip("-").isdigit():
                raise ApiError(f"{item!r} is not NAME=COUNT", "invalid_usage", 'e.g. "Premium Agent=130"')
            values[name.strip()] = int(count)
        result = client.call("PUT", f"{path}/usage", values)
    else:
        result = client.call("GET", f"{path}/consumption")
    if getattr(args, "json", False):
        print(json.dumps(result, indent=2))
    else:
        print(render_consumption(result))
    return 0


def render_consumption(result: dict[str, Any]) -> str:
    rows = result["consumption"]
    out = [
        f"License consumption summary — {result['instance']}",
        f"  {'License Name':<18} {'Usage Count':>11} {'Actual':>7}  Status",
    ]
    for c in rows:
        out.append(f"  {c['license_name']:<18} {c['usage_count']:>11} {c['actual_usage']:>7}  {c['status']}")
    return "\n".join(out)


def _banner(client: Client, args: argparse.Namespace) -> int:
    b = client.call("GET", "/api/v1/banner")
    if args.json:
        print(json.dumps(b, indent=2))
        return 0
    print(f"[{b['level']}] {b['message']}" if b["level"] else "No banner: every instance is registered and compliant.")
    if b.get("non_production"):
        print(f"[Non-Production] {b['non_production']}")
    print("\nLicense Compliance report")
    for r in b["report"]:
        state = (r["enforcement"] and f"Enforcement ({r['enforcement']})") or r["authorization"]
        print(f"  {r['instance']:<14} {r['registration']:<22} {state:<34} {r['detail']}")
    return 0


def _alerts(client: Client, args: argparse.Namespace) -> int:
    alerts = client.call("GET", "/api/v1/alerts")["alerts"]
    if args.json:
        print(json.dumps(alerts, indent=2))
        return 0
    for a in alerts:
        mark = "RED  " if a["state"] == "red" else "green"
        print(f"  {mark} {a['machine']:<14} {a['alert']}" + (f"  (fix: {a['fix']})" if a["fix"] else ""))
    return 0


def _toggle(client: Client, args: argparse.Namespace) -> int:
    path = _instance_path(client, args.instance)
    client.call("POST", f"{path}/{args.verb}")
    print(f"Smart Agent {args.verb}d for {path.rsplit('/', 1)[-1]}")
    return 0


def _serial(client: Client, args: argparse.Namespace) -> int:
    path = _instance_path(client, args.instance)
    status = client.call("POST", f"{path}/serial")
    print(f"serial number {status['serial_number']} generated for {status['product_instance_name']}")
    return 0


_VERBS = {
    "register": _register,
    "reregister": _reregister,
    "renew": _renew,
    "deregister": _deregister,
    "license-type": _license_type,
    "agents": _agents,
    "status": _status,
    "events": _events,
    "usage": _usage,
    "banner": _banner,
    "alerts": _alerts,
    "enable": _toggle,
    "disable": _toggle,
    "serial": _serial,
    "reservation": _reservation,
    **cli_transport.VERBS,
}


def _when(iso: str | None) -> str:
    return f" ({iso.replace('T', ' ').replace('+00:00', ' UTC')})" if iso else ""


def render_status(v: dict[str, Any]) -> str:
    """Seed Table 2 for one instance, as the License Management page shows it."""
    auth = v["license_authorization_status"]
    if v.get("evaluation_remaining"):
        auth_text = f"{auth} ({v['evaluation_remaining']} remaining)"
    else:
        auth_text = auth + _when(v.get("authorization_time"))
    rows = [
        ("Registration Status", v["registration_status"] + _when(v.get("registration_time"))),
        ("License Authorization Status", auth_text),
        ("Export-Controlled Functionality", v["export_controlled_functionality"]),
    ]
    if v["registration_status"] != "Unregistered":
        rows += [
            ("Smart Account", v.get("smart_account") or "-"),
            ("Virtual Account", v.get("virtual_account") or "-"),
            ("Product Instance Name", v["product_instance_name"]),
            ("Serial Number", v["serial_number"]),
        ]
    if v["registration_status"] != "Unregistered":
        for label, key in (
            ("Next Authorization Renewal", "next_authorization_renewal"),
            ("Authorization Expires", "authorization_expires"),
            ("Next Registration Renewal", "next_registration_renewal"),
            ("Registration Expires", "registration_expires"),
        ):
            if v.get(key):
                rows.append((label, _when(v[key]).strip(" ()")))
    if v.get("reservation_request_code") and v["registration_status"] == "Reservation In Progress":
        rows.append(("Reservation request code", v["reservation_request_code"]))
    if v.get("reservation_confirmation_code"):
        rows.append(("Reservation confirmation code", v["reservation_confirmation_code"]))
        held = ", ".join(f"{e['name']} {e['reported']}" for e in v.get("entitlements", []))
        rows.append(("Reserved licenses", held or "-"))
    if v.get("out_of_compliance_since"):
        rows.append(("Out of Compliance since", _when(v["out_of_compliance_since"]).strip(" ()")))
        if v.get("out_of_compliance_reason"):
            rows.append(("Out of Compliance reason", v["out_of_compliance_reason"]))
    if v.get("enforcement"):
        rows.append(("Enforcement", f"{v['enforcement']} (since {_when(v.get('enforcement_since')).strip(' ()')})"))
        rows.append(("Way out", v.get("way_out") or ""))
    reason = v.get("reason")
    if reason:
        rows.append(("Last failure", f"{reason['code']}: {reason['message']}"))
        if reason.get("fix"):
            rows.append(("Fix", reason["fix"]))
    head = (
        f"{v['product_instance_name']} — {v['product']}, {v['deployment_type']} "
        f"({v['license_type']} {v['usage_mode']}, SN {v['serial_number']})"
    )
    width = max(len(k) for k, _ in rows) + 2
    return head + "\nSmart Licensing Status\n" + "\n".join(f"  {(k + ':').ljust(width)}{val}" for k, val in rows)
