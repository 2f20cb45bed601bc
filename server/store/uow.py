"""The unit of work: every repository over one connection, for the length of one transaction.

``Store.write(fn)`` and ``Store.read(fn)`` call ``fn(uow)`` in the connection's thread; ``fn`` is
plain synchronous code that loads, decides (``shared``'s pure rules) and writes through the
repositories. A unit of work is made once per connection and reused.
"""

from __future__ import annotations

import sqlite3

from server.store.repos.accounts import Accounts
from server.store.repos.events import Events
from server.store.repos.instances import Instances
from server.store.repos.pools import Pools
from server.store.repos.reservations import Reservations
from server.store.repos.satellites import Satellites
from server.store.repos.settings import ApiClients, Settings
from server.store.repos.terms import Terms
from server.store.repos.tokens import Tokens
from server.store.repos.usage import Usage


class UnitOfWork:
    """The repositories of one connection."""

    __slots__ = (
        "accounts",
        "api_clients",
        "events",
        "instances",
        "pools",
        "reservations",
        "satellites",
        "settings",
        "terms",
        "tokens",
        "usage",
    )

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.settings = Settings(conn)
        self.accounts = Accounts(conn)
        self.api_clients = ApiClients(conn)
        self.tokens = Tokens(conn)
        self.instances = Instances(conn)
        self.pools = Pools(conn)
        self.terms = Terms(conn)
        self.usage = Usage(conn)
        self.reservations = Reservations(conn)
        self.satellites = Satellites(conn)
        self.events = Events(conn)
