"""``ssm-server``: run the SSM emulator and administer its store.

Verbs::

    ssm-server pki init --out certs/ [--host NAME_OR_IP ...]
    ssm-server run --mode onprem --listen HOST:PORT --admin-listen HOST:PORT [--sync connected|disconnected]
    ssm-server onprem register TOKEN --cloud URL [--name N] [--force] [--resolve HOST:PORT=ADDR:PORT ...]
    ssm-server sync now | status [--json] | export --out request.json | import FILE [--out response.json]
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
                           [--term 1y|3y|5y|400d | --ends YYYY-MM-DD]
    ssm-server license terms [--va NAME] [--json] | renew SUBSCRIPTION [--term 1y | --ends YYYY-MM-DD]
    ssm-server report consumption [--from DATE] [--to DATE] [--virtual-account NAME] [--json]   CSV on stdout
    ssm-server events [--limit N]
    ssm-server outbox [--limit N] [--json]        the notifications (alerts) the SSM would e-mail
    ssm-server api-client create [--name N] [--json] | list [--json] | revoke CLIENT_ID
    ssm-server reservation list [--json] | release UDI_PID:SERIAL
    ssm-server clock show | advance DURATION | rate R   [--url URL] [--cacert FILE]
    ssm-server tls list | set MODE | ca   [--url URL]   the TLS drill the running SSM serves

Administrative verbs open the database directly (whether or not the server runs) and read the
server's saved clock, so they see the same domain time as the server. A database is one kind of
SSM, cloud or On-Prem (``server.deployment``): a verb of the other kind refuses.

The package: ``common`` (parent parsers, handler types, the administrative runner), ``reads``
(every direct read of the store), and one module per group of verbs, each adding its parsers with
their handlers (``set_defaults(func=...)``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from plumbing.cmdline import FILE_ERRORS, file_error
from server.cli import account, api_client, clock, drill, inventory, pki, report, reservation, run, sync
from server.cli.common import Parents
from server.pki_files import PkiMissing
from server.store import StoreError
from shared.errors import SmartLicensingError

#: The groups of verbs, in the order ``ssm-server --help`` lists them.
GROUPS = (pki, run, account, api_client, reservation, inventory, report, sync, clock, drill)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ssm-server", description="Cisco Smart Software Manager emulator")
    sub = parser.add_subparsers(dest="verb", required=True)
    parents = Parents.build()
    for group in GROUPS:
        group.add_parsers(sub, parents)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        status: int = args.func(args)
        return status
    except SmartLicensingError as err:
        print(f"ssm-server: {err.message}", file=sys.stderr)
        if err.fix:
            print(f"  fix: {err.fix}", file=sys.stderr)
        return 2
    except (PkiMissing, StoreError) as exc:
        print(f"ssm-server: {exc}", file=sys.stderr)
        return 2
    except FILE_ERRORS as exc:
        return file_error("ssm-server", exc)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # 'ssm-server license list | head': the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing left to flush at exit
        return 0
