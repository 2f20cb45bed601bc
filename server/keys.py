"""Every ``web.AppKey`` and ``web.RequestKey`` of the SSM app, in one place."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiohttp import web

from server.apiclients import Authority
from server.registry import Registry
from server.rollover import Rollover
from server.settings import ServerSettings
from server.store import Store
from server.tls import TlsSwitch
from shared.clock import AnyClock

CLOCK: web.AppKey[AnyClock] = web.AppKey("clock")
STORE = web.AppKey("store", Store)
SETTINGS = web.AppKey("settings", ServerSettings)
REGISTRY = web.AppKey("registry", Registry)
#: Set to make an On-Prem's Connected-mode loop recompute (a synchronization happened by hand).
SYNC_POKE = web.AppKey("sync_poke", asyncio.Event)


@dataclass
class Listeners:
    """The ports the app is served on (filled in once bound: port 0 picks a free one)."""

    device: int
    admin: int | None = None


LISTENERS = web.AppKey("listeners", Listeners)
#: The product instance a device request speaks for, once known (for the journal).
PIID = web.RequestKey("piid", str)
TLS = web.AppKey("tls", TlsSwitch)
#: The CA rollover of the SSM's PKI (``server.rollover``).
ROLLOVER = web.AppKey("rollover", Rollover)
#: Issues and checks the admin API's access tokens.
AUTHORITY = web.AppKey("authority", Authority)
#: The API client an admin API request was authorized for.
API_CLIENT = web.RequestKey("api_client", str)
