"""What the ``ssm-server`` verbs share: the parent parsers of their repeated options, the handler
types and the runner of the administrative verbs.

A verb's parser sets its handler with ``set_defaults(func=...)``; ``main`` calls ``args.func(args)``.
Administrative handlers are ``async (store, now, args) -> None`` wrapped by ``admin()``, which opens
the database, reads the server's saved clock (so they see the server's domain time) and closes it.
"""

from __future__ import annotations

import argparse
import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TypeAlias

from plumbing.cmdline import option
from server.cli import reads
from server.store import Store
from server.store.location import db_location
from server.watch import OUTSIDE_CHANGE

DEFAULT_DB = "var/ssm/ssm.db"
DEFAULT_URL = "https://127.0.0.1:8443"

SubParsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
#: What a verb's parser sets as ``func``: the whole verb, its exit status returned.
Handler = Callable[[argparse.Namespace], int]
#: An administrative verb: the open store, the server's domain time now, the arguments.
AdminHandler = Callable[[Store, datetime, argparse.Namespace], Awaitable[None]]


@dataclass(frozen=True)
class Parents:
    """The options several verbs take, declared once (argparse parent parsers)."""

    db: argparse.ArgumentParser
    json: argparse.ArgumentParser
    certs: argparse.ArgumentParser
    account: argparse.ArgumentParser
    va: argparse.ArgumentParser
    url: argparse.ArgumentParser
    cacert: argparse.ArgumentParser
    limit: argparse.ArgumentParser

    @classmethod
    def build(cls) -> Parents:
        # Built per parser: argparse shares a parent's actions with every child, so parents are
        # never reused across parsers that could change their defaults.
        return cls(
            db=option(
                "--db",
                default=Path(DEFAULT_DB),
                type=db_location,
                help=f"SQLite file (default {DEFAULT_DB}) or postgresql://USER@HOST/DB",
            ),
            json=option("--json", action="store_true"),
            certs=option("--certs", type=Path, default=Path("certs")),
            account=option("--account", help="Smart Account domain (default: the lab account)"),
            va=option("--va", help="virtual account name"),
            url=option("--url", default=DEFAULT_URL, help="the running SSM"),
            cacert=option("--cacert", type=Path, default=Path("certs/ca.pem")),
            limit=option("--limit", type=_at_least_one, default=50),
        )


def _at_least_one(text: str) -> int:
    """An argparse type: a count of rows to show, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"at least 1, not {value}")
    return value


def admin(handler: AdminHandler) -> Handler:
    """An administrative verb as a handler: the store open around it, at the server's time."""

    def run(args: argparse.Namespace) -> int:
        async def body() -> None:
            async with reads.opened(args.db) as (store, now):
                await handler(store, now, args)
                if store.batched:  # it wrote: a running SSM on this database looks again
                    await store.write(lambda uow: uow.settings.set(OUTSIDE_CHANGE, uuid.uuid4().hex))

        asyncio.run(body())
        return 0

    return run
