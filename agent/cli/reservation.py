"""``smart-agent reservation request | install | return | cancel``: Specific License Reservation
on the instance's side: the request code, the SSM's authorization code installed, the return code."""

from __future__ import annotations

import argparse
import sys
from functools import partial
from pathlib import Path

from agent.cli.common import Parents, SubParsers, client_verb, instance_path, refused
from agent.cli.render import render_status
from agent.client import ApiError, Client
from plumbing.cmdline import print_json


def add_parsers(sub: SubParsers, parents: Parents) -> None:
    rs = sub.add_parser("reservation", help="Specific License Reservation (request, install, return, cancel)")
    verbs = rs.add_subparsers(dest="reservation_verb", required=True)
    both = [parents.instance, parents.json]
    verbs.add_parser(
        "request", help="print the request code to reserve licenses with on the SSM", parents=both
    ).set_defaults(func=client_verb(partial(_reservation, "request")))
    install = verbs.add_parser(
        "install", help="install the SSM's authorization code (the code, a file, or - for stdin)", parents=both
    )
    install.add_argument("code", metavar="CODE|FILE")
    install.set_defaults(func=client_verb(partial(_reservation, "install")))
    verbs.add_parser(
        "return", help="give the reserved licenses back; prints the return code for the SSM", parents=both
    ).set_defaults(func=client_verb(partial(_reservation, "return")))
    verbs.add_parser("cancel", help="cancel a reservation in progress", parents=both).set_defaults(
        func=client_verb(partial(_reservation, "cancel"))
    )


def code_arg(text: str) -> str:
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


def _reservation(verb: str, client: Client, args: argparse.Namespace) -> int:
    path = instance_path(client, args.instance) + "/reservation/" + verb
    body = {"code": code_arg(args.code)} if verb == "install" else None
    try:
        result = client.call("POST", path, body)
    except ApiError as exc:
        return refused(f"reservation {verb}", exc)
    if args.json:
        print_json(result)
        return 0
    status = result.get("status", result)
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
