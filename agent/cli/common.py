"""What the ``smart-agent`` client verbs share: parent parsers, finding the daemon's local API,
naming the instance a verb acts on, and reporting a refused action.

A client verb is ``(client, args) -> exit status``; ``client_verb()`` makes it a handler of
``args`` alone that first finds the daemon (``--api URL``, else ``$SMART_AGENT_API``, else the
``api.url`` file the daemon writes in its data directory, else the config's ``api`` address).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

from agent.client import ApiError, Client
from agent.config import load_config
from plumbing.cmdline import option

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Handler = Callable[[argparse.Namespace], int]
ClientHandler = Callable[[Client, argparse.Namespace], int]
DEFAULT_API = "http://127.0.0.1:8787"


@dataclass(frozen=True)
class Parents:
    """The options several verbs take, declared once (argparse parent parsers)."""

    instance: argparse.ArgumentParser
    json: argparse.ArgumentParser

    @classmethod
    def build(cls) -> Parents:
        return cls(
            instance=option("--instance", help="instance name (needed when the agent hosts several)"),
            json=option("--json", action="store_true"),
        )


def api_url(args: argparse.Namespace) -> str:
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
    return DEFAULT_API


def client_verb(handler: ClientHandler) -> Handler:
    """A verb that talks to the running daemon, as a handler: the client found first."""

    def run(args: argparse.Namespace) -> int:
        return handler(Client(api_url(args)), args)

    return run


def instance_path(client: Client, name: str | None) -> str:
    """The local API path of the named instance, or of the only one the agent hosts."""
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


def refused(what: str, exc: ApiError) -> int:
    """Report an action the agent refused (``what failed (code): message``, the fix); status 1."""
    print(f"{what} failed ({exc.code}): {exc.message}", file=sys.stderr)
    if exc.fix:
        print(f"  fix: {exc.fix}", file=sys.stderr)
    return 1
