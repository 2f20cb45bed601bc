"""The legacy Smart Accounts & Licensing API (``/services/api/smart-accounts-and-licensing/``),
in the shapes real scripts read (research/cisco-api.md §a.2, L1-L13). On-Prem's token
operations (``/backend/api/v1/...``) share these handlers.
"""

from __future__ import annotations

import functools
from datetime import datetime

from aiohttp import web

from plumbing.web.routes import Route
from server import keys
from server.admin import bodies, common, views
from server.admin.common import ItemResult, api
from server.admin.routing import BACKEND, LEGACY
from server.store import UnitOfWork
from server.store.rows import Account, VirtualAccount
from shared import tokens
from shared.errors import SmartLicensingError
from shared.tokens import TokenRecord


async def accounts_v2(request: web.Request) -> web.Response:
    accounts = await request.app[keys.STORE].read(lambda uow: uow.accounts.all())
    return web.json_response(
        {
            "accounts": [
                {
                    "accountName": a.name,
                    "accountDomain": a.domain,
                    "accountStatus": "Active",
                    "accountType": "CUSTOMER",
                    "roles": [{"role": "Smart Account Administrator"}],
                }
                for a in accounts
            ],
            "statusMessage": "",
            "status": "SUCCESS",
        }
    )


async def accounts_search_v1(request: web.Request, q: bodies.AccountSearch) -> web.Response:
    """L3: Smart Accounts whose domain and name contain the given text (at most 1000)."""
    found = [
        a
        for a in await request.app[keys.STORE].read(lambda uow: uow.accounts.all())
        if q.domain.lower() in a.domain.lower() and q.name.lower() in a.name.lower()
    ]
    limit = 1000 if q.limit <= 0 or q.limit > 1000 else q.limit  # Cisco's hard cap
    rows = views.page(found, limit, q.offset)
    return web.json_response(
        {
            "totalRecords": len(found),
            "accounts": [
                {"domain": a.domain, "name": a.name, "id": a.id, "type": "CUSTOMER", "status": "ACTIVE"} for a in rows
            ],
            "statusMessage": "",
            "status": "SUCCESS",
        }
    )


async def accounts_search_v2(request: web.Request) -> web.Response:
    store = request.app[keys.STORE]
    out = []

    def read(uow: UnitOfWork) -> list[tuple[Account, list[VirtualAccount]]]:
        return [(a, uow.accounts.virtual_accounts(a.id)) for a in uow.accounts.all()]

    for a, vas in await store.read(read):
        out.append(
            {
                "account_id": str(a.id),
                "domain": a.domain,
                "name": a.name,
                "virtual_accounts": [
                    {"default": v.is_default, "name": v.name, "virtual_account_id": str(v.id)} for v in vas
                ],
            }
        )
    return web.json_response({"message_code": "", "accounts": out, "message": "", "status": "COMPLETE"})


async def virtual_accounts(request: web.Request) -> web.Response:
    account = await views.account_of(request)
    vas = await request.app[keys.STORE].read(lambda uow: uow.accounts.virtual_accounts(account.id))
    return web.json_response(
        {
            "virtualAccounts": [
                {
                    "isDefault": "true" if v.is_default else "false",
                    "name": v.name,
                    "description": v.description,
                    "commerceAccessLevel": "FULL",
                }
                for v in vas
            ],
            "statusMessage": "",
            "status": "SUCCESS",
        }
    )


async def licenses(request: web.Request, body: bodies.ListBody) -> web.Response:
    """L5: license usage by virtual account, paged (what mcssmapi's smart_license_usage reads)."""
    vas = await common.listing_vas(request, body)
    rows = await views.license_rows(request.app[keys.STORE], vas, views.now_of(request))
    return web.json_response(
        {
            "totalRecords": len(rows),
            "licenses": [
                {
                    "license": r.name,
                    "entitlementTag": r.pool.tag,
                    "quantity": r.pool.quantity,
                    "inUse": r.pool.pool.in_use,
                    "available": r.available,
                    "reserved": r.pool.reserved,
                    "pendingQuantity": 0,
                    "status": r.status,
                    "billingType": "PREPAID",
                    "ahaApps": False,
                    "isPortable": False,
                    "virtualAccount": r.va.name,
                    "licenseDetails": [
                        {
                            "licenseType": r.license_type,
                            "quantity": d.quantity,
                            "startDate": views.iso_date(d.start) if d.termed else views.iso(r.since),
                            "endDate": None
                            if r.license_type == "PERPETUAL" or d.end is None
                            else views.iso_date(d.end),
                            "subscriptionId": d.subscription_id,
                            "status": "ACTIVE",
                        }
                        for d in r.details
                    ],
                    "licenseSubstitutions": [],
                }
                for r in views.page(rows, body.limit, body.offset)
            ],
            "statusMessage": "",
            "status": "SUCCESS",
        }
    )


def device_legacy(d: views.DeviceRow) -> dict[str, object]:
    row: dict[str, object] = {
        "licenseUsage": [{"license": name, "quantity": qty} for name, qty in d.usage],
        "hostName": d.hostname,
        "sudi": d.sudi(),
        "displayName": d.display_name,
        "registrationDate": views.iso(d.registered),
        "lastContactDate": views.iso(d.last_contact),
        "productTagName": d.product_tag,
        "productName": d.product,
        "productDescription": d.product,
        "productType": "UCCE",
        "virtualAccount": d.va.name,
        "status": d.status,
    }
    if d.onprem is not None:
        row["satelliteName"] = d.onprem  # registered to an SSM On-Prem (a satellite) that synchronizes here
    return row


async def devices(request: web.Request, body: bodies.ListBody) -> web.Response:
    vas = await common.listing_vas(request, body)
    rows = await views.device_rows(request.app[keys.STORE], vas)
    return web.json_response(
        {
            "totalRecords": len(rows),
            "devices": [device_legacy(d) for d in views.page(rows, body.limit, body.offset)],
            "statusMessage": "",
            "status": "SUCCESS",
        }
    )


async def _va(request: web.Request, query: bodies.VaQuery | None = None) -> tuple[Account, VirtualAccount]:
    """The account and virtual account of a request: the VA from the path or the query's
    ``virtualAccountName``."""
    account = await views.account_of(request)
    name = request.match_info.get("va") or (query.virtualAccountName if query else None)
    return account, await views.va_named(request, account, name)


async def tokens_list(request: web.Request) -> web.Response:
    _, va = await _va(request)
    records = await request.app[keys.STORE].read(lambda uow: uow.tokens.of(va.id))
    now = views.now_of(request)
    return web.json_response(
        {
            "tokens": [token_row(r, now) for r in records],
            "statusMessage": "",
            "status": "SUCCESS",
        }
    )


def token_row(r: TokenRecord, now: datetime) -> dict[str, object]:
    """A token as listed. Only its hash is stored, so the token text itself cannot be shown
    again: ``token`` names it by id (ssmlab), as the portal masks it."""
    return {
        "token": f"{r.token_id} (shown once at creation)",
        "tokenId": r.token_id,
        "expirationDate": views.iso(int(r.expires_at.timestamp())),
        "description": r.description,
        "exportControl": "Allowed" if r.export_controlled else "Not Allowed",
        "createdBy": r.created_by,
        "status": tokens.status(r, now).title(),
        "usesAllowed": r.max_uses,
        "usesRemaining": None if r.max_uses is None else max(0, r.max_uses - r.uses),
    }


async def tokens_create(request: web.Request, body: bodies.TokenBody) -> web.Response:
    account, va = await _va(request)
    created = await common.create_token(request, account, va, body)
    return web.json_response(
        {
            "tokenInfo": common.token_info(request, created, body),
            "status": "SUCCESS",
            "statusMessage": "A valid, active token was generated.",
        }
    )


async def licenses_transfer(
    request: web.Request, body: bodies.TransferBody, query: bodies.VaQuery | None = None
) -> web.Response:
    account, va = await _va(request, query)
    results = await common.transfer_licenses(request.app[keys.STORE], account, va, body.licenses, views.now_of(request))
    items = [{"status": r.status, "statusMessage": r.message} for r in results]
    return common.batch_answer(results, "license transfer(s)", licensesTransferStatus=items)


async def reserve(request: web.Request, body: bodies.ReserveBody) -> web.Response:
    _, va = await _va(request)
    outcomes = await common.reserve(request, va, body)
    items = [common.reservation_item(o) for o in outcomes]
    return common.batch_answer(outcomes, "reservation request(s)", authorizationCodes=items)


async def update(request: web.Request, body: bodies.UpdateBody, query: bodies.VaQuery | None = None) -> web.Response:
    _, va = await _va(request, query)
    outcomes = await common.update(request, va, body)
    items = [common.reservation_item(o) for o in outcomes]
    return common.batch_answer(outcomes, "update request(s)", authorizationCodes=items, autorizationCodes=items)


async def confirm(request: web.Request, body: bodies.ConfirmBody, query: bodies.VaQuery | None = None) -> web.Response:
    _, va = await _va(request, query)
    results, items = [], []
    for c in body.reservationConfirmationRequests:
        try:
            r = await common.confirm(request.app[keys.STORE], va, c, views.now_of(request))
            results.append(ItemResult(True, "Update confirmed"))
            items.append(
                {
                    "status": "SUCCESS",
                    "statusMessage": "Update confirmed",
                    "confirmation_code": r.confirmation_code,
                    "sudi": {"udiPid": r.udi_pid, "udiSerialNumber": r.serial_number},
                    "productTagName": c.productTagName,
                }
            )
        except SmartLicensingError as err:
            results.append(common.failed(err))
            items.append({"status": "ERROR", "statusMessage": results[-1].message, "error": err.code})
    return common.batch_answer(results, "confirmation(s)", data=items[0] if len(items) == 1 else items)


async def remove_devices(
    request: web.Request, body: bodies.RemoveBody, query: bodies.VaQuery | None = None
) -> web.Response:
    _, va = await _va(request, query)
    store, now = request.app[keys.STORE], views.now_of(request)

    async def remove(item: bodies.RemoveItem) -> str:
        pid, sn = item.sudi.key()
        return await common.remove_device(store, va, pid, sn, item.returnCode, now, by="the admin API")

    results, items = [], []
    for item in body.items():
        results.append(await common.attempt(functools.partial(remove, item)))
        items.append(
            {
                "status": results[-1].status,
                "statusMessage": results[-1].message,
                "device": f"{item.sudi.udiPid}:{item.sudi.udiSerialNumber}",
            }
        )
    return common.batch_answer(results, "remove request(s)", removeProductInstancesStatus=items)


_VA = LEGACY + "/{version:v1|v2}/accounts/{domain}/virtual-accounts/{va}"

ROUTES: list[Route] = [
    api("GET", LEGACY + "/v2/accounts", accounts_v2),
    api("GET", LEGACY + "/v2/accounts/", accounts_v2),
    api("GET", LEGACY + "/v1/accounts/search", accounts_search_v1, query=bodies.AccountSearch),
    api("GET", LEGACY + "/v2/accounts/search", accounts_search_v2),
    api("GET", LEGACY + "/v1/accounts/{domain}/customer/virtual-accounts", virtual_accounts),
    api("POST", LEGACY + "/v1/accounts/{domain}/licenses", licenses, bodies.ListBody),
    api("POST", LEGACY + "/v1/accounts/{domain}/devices", devices, bodies.ListBody),
    *(
        route
        for prefix in (LEGACY, BACKEND)
        for route in (
            api("GET", prefix + "/v1/accounts/{domain}/virtual-accounts/{va}/tokens", tokens_list),
            api("POST", prefix + "/v1/accounts/{domain}/virtual-accounts/{va}/tokens", tokens_create, bodies.TokenBody),
        )
    ),
    api("POST", _VA + "/licenses/transfer", licenses_transfer, bodies.TransferBody),
    api("POST", _VA + "/reserve-licenses", reserve, bodies.ReserveBody),
    api("POST", _VA + "/update-licenses", update, bodies.UpdateBody),
    api("POST", _VA + "/confirm-licenses", confirm, bodies.ConfirmBody),
    api("POST", _VA + "/devices/remove", remove_devices, bodies.RemoveBody),
]
