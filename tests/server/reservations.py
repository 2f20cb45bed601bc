"""Specific License Reservation as a test makes one: reserve through the SSM's service."""

from __future__ import annotations

from server.accounts import LAB_DOMAIN
from tests.server.conftest import Api

LEGACY = "/services/api/smart-accounts-and-licensing"


async def reserve(api: Api, code: str, tag: str, quantity: int, *, version: str = "v2") -> tuple[int, dict]:  # type: ignore[type-arg]
    body = {
        "reservationRequests": [
            {
                "reservationCode": code,
                "reservationType": "SPECIFIC",
                "licenses": [{"entitlementTag": tag, "quantity": quantity, "precedence": "LONGEST_TERM_FIRST"}],
            }
        ]
    }
    path = f"{LEGACY}/{version}/accounts/{LAB_DOMAIN}/virtual-accounts/DEFAULT/reserve-licenses"
    return await api.call("POST", path, json=body)
