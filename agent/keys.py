"""Every ``web.AppKey`` of the agent's local API, in one place."""

from __future__ import annotations

from aiohttp import web

from agent.daemon import Agent

AGENT = web.AppKey("agent", Agent)
