"""The admin plane: Cisco's Smart Accounts & Licensing REST API, as scripts call it.

- ``oauth``: the OAuth2 token endpoints (client credentials, signed JWT access tokens);
- ``legacy``: ``/services/api/smart-accounts-and-licensing/...`` (and On-Prem's ``/backend/api``);
- ``swapi``: Cisco's "Software APIs" 1.0.2 under ``/v1/software/apis/...``;
- ``discovery``: the Smart Account and virtual account listings clients start with (PnP, user search);
- ``search``: device search across the accounts and the SLR details of a product;
- ``consumption``: the License Consumption report (ssmlab's extension; CSV or JSON);
- ``subscriptions``: the Flex subscription terms (Cisco's ``subscription-usage``);
- ``errors``: each operation's refusals in the schema and statuses Cisco's document gives;
- ``routing``: tolerant paths, bearer tokens and Cisco's error envelope;
- ``openapi``: the OpenAPI document of what is emulated, at ``GET /openapi.json``.

``ROUTES`` is the plane's route table.
"""

from __future__ import annotations

from plumbing.web.routes import Route
from server.admin import consumption, discovery, legacy, oauth, openapi, search, subscriptions, swapi

ROUTES: list[Route] = [
    *oauth.ROUTES,
    *legacy.ROUTES,
    *swapi.ROUTES,
    *discovery.ROUTES,
    *search.ROUTES,
    *consumption.ROUTES,
    *subscriptions.ROUTES,
    *openapi.ROUTES,
]
