"""``smart-agent register | reregister | renew | deregister | license-type | agents add | enable |
disable | serial generate``: the actions of the License Management page, on one instance."""

from __future__ import annotations

import argparse
import sys
from functools import partial
from typing import Any

from agent.cli.common import Parents, SubParsers, client_verb, instance_path, refused
from agent.cli.render import render_status
from agent.client import ApiError, Client
from shared.states import LicenseType, UsageMode


def add_parsers(sub: SubParsers, parents: Parents) -> None:
    one = [parents.instance]
    reg = sub.add_parser("register", help="register a product instance with a token", parents=one)
    reg.add_argument("token", help="the Product Instance Registration Token, or - to read it from stdin")
    reg.set_defaults(func=client_verb(_register))
    rr = sub.add_parser("reregister", help="register again (a token of another virtual account moves it)", parents=one)
    rr.add_argument("token", help="the token, or - to read it from stdin")
    rr.set_defaults(func=client_verb(_reregister))
    rn = sub.add_parser("renew", help="Renew Authorization (auth) or Renew Registration (id)", parents=one)
    rn.add_argument("what", choices=["auth", "authorization", "id", "registration"])
    rn.set_defaults(func=client_verb(_renew))
    dr = sub.add_parser("deregister", help="deregister; all licenses return to the virtual account", parents=one)
    dr.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    dr.set_defaults(func=client_verb(_deregister))
    lt = sub.add_parser("license-type", help="show or select the License Type (before registering)", parents=one)
    lt.add_argument("--type", choices=[str(t) for t in LicenseType])
    lt.add_argument("--mode", choices=[str(m) for m in UsageMode])
    lt.set_defaults(func=client_verb(_license_type))
    ag = sub.add_parser("agents", help="agents of the deployment (adding is blocked in Enforcement)")
    aga = ag.add_subparsers(dest="agents_verb", required=True).add_parser("add", parents=one)
    aga.add_argument("count", nargs="?", type=int, default=1)
    aga.set_defaults(func=client_verb(_agents))
    for verb in ("enable", "disable"):
        en = sub.add_parser(verb, help=f"{verb} the Smart Agent for an instance", parents=one)
        en.set_defaults(func=client_verb(partial(_toggle, verb)))
    sn = sub.add_parser("serial", help="the serial number")
    sng = sn.add_subparsers(dest="serial_verb", required=True).add_parser(
        "generate", help="generate a serial number where none was generated", parents=one
    )
    sng.set_defaults(func=client_verb(_serial))


def _token(args: argparse.Namespace) -> str:
    return sys.stdin.read().strip() if args.token == "-" else str(args.token)  # noqa: S105 - "-" means stdin


def _action(client: Client, args: argparse.Namespace, verb: str, what: str, body: dict[str, Any] | None = None) -> int:
    path = instance_path(client, args.instance)
    try:
        status = client.call("POST", f"{path}/{verb}", body)
    except ApiError as exc:
        return refused(what, exc)
    print(f"{what} succeeded." if not status.get("reason") else f"{what} done, with a failure to look at:")
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
    path = instance_path(client, args.instance)
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
    path = instance_path(client, args.instance)
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
    path = instance_path(client, args.instance)
    status = client.call("POST", f"{path}/agents", {"count": args.count})
    print(f"{args.count} agent(s) added; {status['agents']} configured")
    return 0


def _toggle(verb: str, client: Client, args: argparse.Namespace) -> int:
    path = instance_path(client, args.instance)
    client.call("POST", f"{path}/{verb}")
    print(f"Smart Agent {verb}d for {path.rsplit('/', 1)[-1]}")
    return 0


def _serial(client: Client, args: argparse.Namespace) -> int:
    path = instance_path(client, args.instance)
    status = client.call("POST", f"{path}/serial")
    print(f"serial number {status['serial_number']} generated for {status['product_instance_name']}")
    return 0
