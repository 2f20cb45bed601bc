"""The admin plane: Cisco's Smart Accounts & Licensing REST API, as scripts call it.

- ``oauth``: the OAuth2 token endpoints (client credentials, signed JWT access tokens);
- ``legacy``: ``/services/api/smart-accounts-and-licensing/...`` (and On-Prem's ``/backend/api``);
- ``swapi``: Cisco's "Software APIs" 1.0.2 under ``/v1/software/apis/...``;
- ``routing``: tolerant paths, bearer tokens and Cisco's error envelope;
- ``openapi``: the OpenAPI document of what is emulated, at ``GET /openapi.json``.
"""

from __future__ import annotations

from aiohttp import web

from server.admin import legacy, oauth, openapi, routing, swapi


def add_routes(app: web.Application) -> None:
    oauth.add_routes(app)
    legacy.add_routes(app)
    swapi.add_routes(app)
    openapi.add_routes(app)
    routing.install(app)
