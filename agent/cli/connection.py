"""``smart-agent transport | trust | diagnose``: how the agent reaches the SSM.

smart-agent transport show [--json]
smart-agent transport set [--mode smart-transport|call-home] [--direct | --gateway URL | --proxy HOST:PORT]
                          [--revocation off|soft-fail|hard-fail]
smart-agent trust list [--json] | trust import FILE --alias NAME | trust remove ALIAS
smart-agent diagnose [URL] [--json]          (exit status 1 when a step fails)
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path
from typing import Any

from agent.cli.common import Parents, SubParsers, client_verb
from agent.client import Client
from agent.diagnose import render
from plumbing.cmdline import print_json
from shared.revocation import RevocationMode
from shared.states import ConnectionMode
from shared.transportsettings import parse_mode, parse_proxy


def add_parsers(sub: SubParsers, parents: Parents) -> None:
    tr = sub.add_parser("transport", help="Transport Settings: mode (Smart Transport / Call Home) and connection")
    trs = tr.add_subparsers(dest="transport_verb", required=True)
    trs.add_parser("show", help="the saved Transport Settings", parents=[parents.json]).set_defaults(
        func=client_verb(_transport_show)
    )
    st = trs.add_parser("set", help="change and save the Transport Settings (checked by the URL rules)")
    st.add_argument("--mode", help="smart-transport or call-home (Smart Call Home (Deprecated))")
    how = st.add_mutually_exclusive_group()
    how.add_argument("--direct", action="store_true", help="the mode's default URL")
    how.add_argument("--gateway", metavar="URL", help="Transport Gateway: an SSM On-Prem or gateway URL")
    how.add_argument("--proxy", metavar="HOST:PORT", help="an HTTP/HTTPS proxy (CONNECT) to the default URL")
    st.add_argument(
        "--revocation",
        choices=[str(m) for m in RevocationMode],
        help="check the SSM's certificate against its CRL / OCSP responder: off, soft-fail (refuse a revoked "
        "certificate, go on without an answer; the default) or hard-fail (refuse without a 'good' answer)",
    )
    st.set_defaults(func=client_verb(_transport_set))

    ts = sub.add_parser("trust", help="the agent's truststore (cacerts in its data directory)")
    tss = ts.add_subparsers(dest="trust_verb", required=True)
    tss.add_parser("list", help="the trusted certificates", parents=[parents.json]).set_defaults(
        func=client_verb(_trust_list)
    )
    ti = tss.add_parser("import", help="trust a certificate (PEM or DER file)")
    ti.add_argument("file", type=Path)
    ti.add_argument("--alias", required=True)
    ti.set_defaults(func=client_verb(_trust_import))
    trm = tss.add_parser("remove", help="stop trusting a certificate")
    trm.add_argument("alias")
    trm.set_defaults(func=client_verb(_trust_remove))

    dg = sub.add_parser(
        "diagnose", help="check every step to the SSM; names the cause and the fix of a failure", parents=[parents.json]
    )
    dg.add_argument("url", nargs="?", help="a URL to check instead of the saved one")
    dg.set_defaults(func=client_verb(_diagnose))


def _render_transport(view: dict[str, Any]) -> str:
    s = view["settings"]
    lines = [
        "Transport Settings",
        f"  Transport Mode:  {s['mode']}",
        f"  Connection:      {s['connection']}",
        f"  URL:             {view['effective_url']}",
    ]
    if view.get("proxy_url"):
        lines.append(f"  Proxy:           {s['proxy_host']}:{s['proxy_port']}")
    lines.append(
        f"  Revocation:      {s.get('revocation', RevocationMode.SOFT_FAIL)} (CRL / OCSP of the SSM's certificate)"
    )
    return "\n".join(lines)


def _transport_show(client: Client, args: argparse.Namespace) -> int:
    view = client.call("GET", "/api/v1/transport")
    if args.json:
        print_json(view)
    else:
        print(_render_transport(view))
    return 0


def _transport_set(client: Client, args: argparse.Namespace) -> int:
    view = client.call("GET", "/api/v1/transport")
    s = dict(view["settings"])
    if args.mode:
        s["mode"] = str(parse_mode(args.mode))
    if args.direct:
        s.update(connection=ConnectionMode.DIRECT, url=None, proxy_host=None, proxy_port=None)
    elif args.gateway:
        s.update(connection=ConnectionMode.GATEWAY, url=args.gateway, proxy_host=None, proxy_port=None)
    elif args.proxy:
        host, port = parse_proxy(args.proxy)
        s.update(connection=ConnectionMode.PROXY, url=None, proxy_host=host, proxy_port=port)
    if args.revocation:
        s["revocation"] = args.revocation
    view = client.call("PUT", "/api/v1/transport", s)
    print("Transport Settings saved.")
    print(_render_transport(view))
    return 0


def _trust_import(client: Client, args: argparse.Namespace) -> int:
    try:
        data = args.file.read_bytes()
    except OSError as exc:
        print(f"smart-agent: cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    entry = client.call("POST", "/api/v1/trust", {"alias": args.alias, "data": base64.b64encode(data).decode()})
    print(f"Certificate was added to the truststore as {entry['alias']}: {entry['subject']}")
    print(f"  SHA-256 {entry['fingerprint']}")
    return 0


def _trust_remove(client: Client, args: argparse.Namespace) -> int:
    entry = client.call("DELETE", f"/api/v1/trust/{args.alias}")
    print(f"{entry['alias']} removed from the truststore ({entry['subject']})")
    return 0


def _trust_list(client: Client, args: argparse.Namespace) -> int:
    listed = client.call("GET", "/api/v1/trust")
    if args.json:
        print_json(listed)
        return 0
    print(f"Truststore {listed['truststore']} ({len(listed['entries'])} entries; keytool password changeit)")
    for e in listed["entries"]:
        print(f"  {e['alias']}  {e['subject']}  until {e['not_after'][:10]}" + ("  (CA)" if e["ca"] else ""))
        print(f"      SHA-256 {e['fingerprint']}")
    return 0


def _diagnose(client: Client, args: argparse.Namespace) -> int:
    report = client.call("POST", "/api/v1/diagnose", {"url": args.url})
    if args.json:
        print_json(report)
    else:
        print(render(report))
    return 0 if report["ok"] else 1
