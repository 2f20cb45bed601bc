"""Every ``web.AppKey`` and ``web.RequestKey`` of the SSM app, in one place."""

from __future__ import annotations

from aiohttp import web

from server.registry import Registry
from server.settings import ServerSettings
from server.store import Store
from server.tls import TlsSwitch
from shared.clock import AnyClock

CLOCK: web.AppKey[AnyClock] = web.AppKey("clock")
STORE = web.AppKey("store", Store)
SETTINGS = web.AppKey("settings", ServerSettings)
REGISTRY = web.AppKey("registry", Registry)
TLS = web.AppKey("tls", TlsSwitch)
