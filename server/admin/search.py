"""Searches across the Smart Accounts (Software APIs 1.0.2), as reservation tools start with:

- ``GET licensing/v2/device/search``: a product instance by ``udi_serial_number`` (with
  ``udi_pid``) or ``software_tag``, with the account and virtual account it is in and its licenses
  (Cisco's document: ``status: "COMPLETE"`` and a ``data`` list);
- ``POST licensing/v1/search-slr-details``: which entitlements a product (its software tag) may
  reserve (every license of the catalog: each lab product is a Unified CCE one).

Device search within a virtual account (``instanceName``) is ``swapi.device_search``.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec
from aiohttp import web

from plumbing.web.routes import Route
from server import keys
from server.admin import bodies, errors, views
from server.admin.common import api
from server.admin.routing import SOFTWARE
from server.store import UnitOfWork
from server.store.rows import Account, VirtualAccount
from shared.catalog import all_license_keys
from shared.clock import epoch
from shared.errors import BadRequest, NotFound

#: A product's software tag (``regid.2019-03.com.cisco.<UDI PID>,1.0`` and Cisco's ``_<uuid>`` form).
_SOFTWARE_TAG = re.compile(r"^regid\.\d{4}-\d{2}\.com\.cisco\.([^,]+),")


class DeviceQuery(msgspec.Struct, kw_only=True):
    udi_serial_number: bodies.Short = ""
    udi_pid: bodies.Short = ""
    software_tag: bodies.Short = ""
    #: read and ignored: the lab's product instances carry none of these
    host_identifier: bodies.Short = ""
    macaddress: bodies.Short = ""
    suvi: bodies.Short = ""
    tenant_id: bodies.Short = ""
    udi_vid: bodies.Short = ""
    uuid: bodies.Short = ""

    def wants(self, d: views.DeviceRow) -> bool:
        return (
            (not self.udi_serial_number or d.serial == self.udi_serial_number)
            and (not self.udi_pid or d.udi_pid == self.udi_pid)
            and (not self.software_tag or d.product_tag == self.software_tag)
        )


def _licenses(d: views.DeviceRow, pools: dict[tuple[int, str], views.LicenseRow]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for name, quantity in d.usage:
        row = pools.get((d.va.id, name))
        out.append(
            {
                "license": row.pool.tag if row else name,
                "quantity": quantity,
                "utility": False,
                "display_name": name,
                "compliance_status": row.status if row else d.status,
                "subscription_id": row.subscription_id if row else "",
                "end_date": views.iso_date(row.end) if row else "",
            }
        )
    return out


def _item(a: Account, d: views.DeviceRow, pools: dict[tuple[int, str], views.LicenseRow]) -> dict[str, object]:
    return {
        "sudi": d.sudi(),
        "software_tag": d.product_tag,
        "last_contact_date": views.iso(d.last_contact) or "",
        "account": {
            "name": a.name,
            "domain": a.domain,
            "account_id": str(a.id),
            "virtual_account_name": d.va.name,
            "virtual_account_id": str(d.va.id),
            "default": d.va.is_default,
        },
        "licenses": _licenses(d, pools),
    }


async def device_search(request: web.Request, q: DeviceQuery) -> web.Response:
    """Product instances of every Smart Account, by serial number (and PID) or software tag."""
    if not (q.udi_serial_number or q.udi_pid or q.software_tag):
        raise BadRequest(
            "the search names no device",
            code="search_criteria_required",
            fix="pass udi_serial_number (with udi_pid), or software_tag",
        )
    store = request.app[keys.STORE]

    def read(uow: UnitOfWork) -> list[tuple[Account, list[VirtualAccount]]]:
        return [(a, uow.accounts.virtual_accounts(a.id)) for a in uow.accounts.all()]

    found = []
    for account, vas in await store.read(read):
        devices = [d for d in await views.device_rows(store, vas) if q.wants(d)]
        if devices:
            pools = {(r.va.id, r.name): r for r in await views.license_rows(store, vas, views.now_of(request))}
            found += [_item(account, d, pools) for d in devices]
    if not found:
        raise NotFound(
            "no product instance matches the search",
            code="device_not_found",
            fix="search by the udi_serial_number the product shows (a registered or reserved instance)",
        )
    return web.json_response(
        {
            "status": "COMPLETE",
            "message_code": "DMS-SUCCESS",
            "message": "SUCCESS",
            "timestamp": epoch(views.now_of(request)) * 1000,
            "data": found,
        }
    )


class SlrDetailsBody(msgspec.Struct):
    softwareTags: Annotated[list[bodies.Short], bodies.Items]


def _entitlements(software_tag: str) -> list[dict[str, object]]:
    m = _SOFTWARE_TAG.match(software_tag)
    if m is None:
        return []
    return [
        {"type": "SPECIFIC", "entitlementTag": k.tag, "Export": "False", "UDI_PID": m.group(1)}
        for k in all_license_keys()
    ]


async def slr_details(request: web.Request, body: SlrDetailsBody) -> web.Response:
    """The entitlements each product (software tag) may reserve: an unknown tag has none."""
    if not body.softwareTags:
        raise BadRequest(
            "softwareTags is empty",
            code="software_tags_required",
            fix='send {"softwareTags": ["regid.2019-03.com.cisco.<UDI PID>,1.0"]} (a device\'s productTagName)',
        )
    return web.json_response(
        {
            "status": "SUCCESS",
            "status_message": "Fetched software tags",
            "data": [{"softwareTag": t, "entitlements": _entitlements(t)} for t in body.softwareTags],
        }
    )


ROUTES: list[Route] = [
    api(
        "GET",
        SOFTWARE + "/licensing/v2/device/search",
        device_search,
        query=DeviceQuery,
        errors=errors.cisco(errors.ERROR_V2, errors.ERROR_V4),
    ),
    api("POST", SOFTWARE + "/licensing/v1/search-slr-details", slr_details, SlrDetailsBody, errors=errors.SOFTWARE),
]
