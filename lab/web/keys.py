"""The console application's keys (every ``web.AppKey`` in one place)."""

from __future__ import annotations

from aiohttp import web

from lab.web.backend import Backend
from lab.web.runner import Runner

BACKEND = web.AppKey("backend", Backend)
RUNNER = web.AppKey("runner", Runner)
