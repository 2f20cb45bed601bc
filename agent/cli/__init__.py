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
    smart-agent reservation request | install CODE|FILE|- | return | cancel [--instance NAME] [--json]
    smart-agent events [--instance NAME] [--limit N]
    smart-agent clock show | advance DURATION | rate R
    smart-agent transport show | set [--mode smart-transport|call-home] [--direct|--gateway URL|--proxy H:P]
    smart-agent trust list | import FILE --alias NAME | remove ALIAS
    smart-agent diagnose [URL] [--json]                (exit status 1 when a step fails)

Every verb but ``run`` is a client of the daemon's local API, over HTTP only (``agent.client``):
``--api URL``, else ``$SMART_AGENT_API``, else the ``api.url`` file the daemon writes in its data
directory, else the config's ``api`` address.

The package: ``common`` (parent parsers, finding the daemon, the instance a verb acts on),
``render`` (the status and consumption tables), and one module per group of verbs, each adding its
parsers with their handlers (``set_defaults(func=...)``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from agent.cli import connection, lifecycle, reservation, run, views
from agent.cli.common import Parents, SubParsers, api_url
from agent.client import ApiError
from agent.config import ConfigError
from plumbing.clients.lab import clock_command
from plumbing.cmdline import FILE_ERRORS, file_error
from shared.errors import SmartLicensingError

DEFAULT_CONFIG = "agent.toml"

#: The groups of verbs, in the order ``smart-agent --help`` lists them.
GROUPS = (run, lifecycle, views, reservation, connection)


def _add_clock(sub: SubParsers) -> None:
    ck = sub.add_parser("clock", help="the agent's domain clock")
    cks = ck.add_subparsers(dest="clock_verb", required=True)
    cks.add_parser("show").set_defaults(func=partial(_clock, "show"))
    for verb, metavar in (("advance", "DURATION"), ("rate", "RATE")):
        parser = cks.add_parser(verb)
        parser.add_argument("value", metavar=metavar)
        parser.set_defaults(func=partial(_clock, verb))


def _clock(verb: str, args: argparse.Namespace) -> int:
    """``clock show | advance DURATION | rate R``: the agent's clock alone, over its lab plane."""
    return clock_command(api_url(args), verb, None if verb == "show" else args.value)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="smart-agent", description="ssmlab Smart Agent (product instances)")
    p.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG), help="agent.toml (default ./agent.toml)")
    p.add_argument("--api", help="local API URL of a running agent (default: from the config)")
    sub = p.add_subparsers(dest="verb", required=True)
    parents = Parents.build()
    for group in GROUPS:
        group.add_parsers(sub, parents)
    _add_clock(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status: int = args.func(args)
        return status
    except ConfigError as exc:
        print(f"smart-agent: {exc}", file=sys.stderr)
        return 2
    except FILE_ERRORS as exc:
        return file_error("smart-agent", exc)
    except (ApiError, SmartLicensingError) as exc:
        print(f"smart-agent: {exc.message}", file=sys.stderr)
        if exc.fix:
            print(f"  fix: {exc.fix}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
