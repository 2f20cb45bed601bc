"""Cisco's "Software APIs" 1.0.2 (``/v1/software/apis/...``): accounts and licensing.

Every answer is valid against the schema of its operation in Cisco's OpenAPI document
(research/cisco-software-apis-1.0.2-licensing.json); ``tests/server/test_swapi_schema.py`` checks
it. Operations that do the same as a legacy one share its handler (reserve, update, confirm,
transfer, remove): the two families answer them with the same fields.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

import msgspec
from aiohttp import web

from plumbing.web.routes import Route
from server import accounts, keys
from server.admin import bodies, common, errors, legacy, views
from server.admin.common import api
from server.admin.routing import SOFTWARE
from server.store.rows import VirtualAccount
from shared.errors import BadRequest, NotFound
from shared.limits import Int64, Name, PageLimit, PageOffset, Text


def _va_item(v: VirtualAccount) -> dict[str, object]:
    return {
        "name": v.name,
        "description": v.description,
        "isDefault": "true" if v.is_default else "false",
        "commerceAccessLevel": "FULL",
        "isSatellite": "false",
    }


async def virtual_accounts(request: web.Request) -> web.Response:
    account = await views.account_of(request)
    vas = await request.app[keys.STORE].read(lambda uow: uow.accounts.virtual_accounts(account.id))
    return web.json_response(
        {
            "status": "SUCCESS",
            "statusMessage": "",
            "totalRows": len(vas),
            "pageSize": len(vas),
            "currentPage": 1,
            "totalPages": 1,
            "virtualAccounts": [_va_item(v) for v in vas],
        }
    )


class VaBody(msgspec.Struct):
    name: Name
    description: Text = ""
    isDefault: bodies.Short = "false"
    commerceAccessLevel: bodies.Short = "FULL"


class AccountTypeParams(msgspec.Struct):
    """The Smart Account type in the path, as Cisco's enum spells it."""

    type: Literal["CUSTOMER", "HOLDING"]


async def virtual_account_create(request: web.Request, body: VaBody) -> web.Response:
    account = await views.account_of(request)
    va = await accounts.create_virtual_account(
        request.app[keys.STORE],
        account=account,
        name=body.name,
        description=body.description,
        now=views.now_of(request),
    )
    return web.json_response({"status": "SUCCESS", "statusMessage": f"Virtual Account {va.name} created successfully"})


async def virtual_account_default(request: web.Request, q: bodies.DefaultVaQuery) -> web.Response:
    """The default virtual account of a Smart Account."""
    store = request.app[keys.STORE]
    account = await accounts.resolve_account(store, q.smartAccountDomain)
    va = next(v for v in await store.read(lambda uow: uow.accounts.virtual_accounts(account.id)) if v.is_default)
    return web.json_response(
        {
            "id": va.id,
            "name": va.name,
            "accountId": account.id,
            "accountName": account.name,
            "accountDomain": account.domain,
            "default": True,
        }
    )


async def device_search(request: web.Request, q: bodies.DeviceSearch) -> web.Response:
    """Product instances of a virtual account, by instance name."""
    va_name = q.virtualAccountName if isinstance(q, bodies.DeviceSearchV2) else None
    _, va = await legacy._va(request, bodies.VaQuery(virtualAccountName=va_name) if va_name else None)
    rows = await views.device_rows(request.app[keys.STORE], [va], q.instanceName or None)
    limit, offset = q.limit, q.offset
    return web.json_response(
        {
            "status": "SUCCESS",
            "statusMessage": "",
            "totalRecords": len(rows),
            "devices": [
                {"instanceName": d.name, "productTagName": d.product_tag, "sudi": d.sudi()}
                for d in views.page(rows, limit, offset)
            ],
        }
    )


async def device_usage(request: web.Request, body: bodies.ListBody) -> web.Response:
    vas = await common.listing_vas(request, body)
    rows = await views.device_rows(request.app[keys.STORE], vas)
    return web.json_response(
        {
            "status": "SUCCESS",
            "statusMessage": "",
            "totalRecords": len(rows),
            "devices": [
                {
                    "virtualAccount": d.va.name,
                    "hostname": d.hostname,
                    "sudi": d.sudi(),
                    "productName": d.product,
                    "displayName": d.display_name,
                    "productTagName": d.product_tag,
                    "productDescription": d.product,
                    "productType": "UCCE",
                    "status": d.status,
                    "registrationDate": views.iso(d.registered),
                    "lastContactDate": views.iso(d.last_contact),
                    "mode": ("PLR" if d.reservation.universal else "SLR") if d.reservation else _mode(d),
                    "licenseUsage": [
                        {"license": name, "quantity": str(qty), "startDate": "", "endDate": ""} for name, qty in d.usage
                    ],
                }
                for d in views.page(rows, body.limit, body.offset)
            ],
        }
    )


def _mode(d: views.DeviceRow) -> str:
    """Smart Licensing, directly or through the SSM On-Prem that synchronizes it here."""
    return f"Smart Licensing (SSM On-Prem {d.onprem})" if d.onprem else "Smart Licensing"


async def device_transfer(
    request: web.Request, body: bodies.DeviceTransferBody, query: bodies.VaQuery | None = None
) -> web.Response:
    account, va = await legacy._va(request, query)
    store, now = request.app[keys.STORE], views.now_of(request)
    results, items = [], []
    for item in body.productInstances:
        results.append(await common.attempt(functools.partial(common.transfer_device, store, account, va, item, now)))
        items.append(
            {
                "status": results[-1].status,
                "statusMessage": results[-1].message,
                "sudi": {"udiPid": item.sudi.udiPid, "udiSerialNumber": item.sudi.udiSerialNumber},
                "targetVirtualAccount": item.targetVirtualAccount,
                "sourceVirtualAccount": va.name,
                "productTagName": item.productTagName,
            }
        )
    ok = sum(1 for r in results if r.ok)
    return common.batch_answer(
        results,
        "product instance transfer(s)",
        productsTransferStatus=items,
        successCount=ok,
        errorCount=len(results) - ok,
    )


async def device_remove_v1(request: web.Request, body: bodies.DeviceRemoveV1) -> web.Response:
    _, va = await legacy._va(request)
    pid, sn = body.sudi.key()
    msg = await common.remove_device(
        request.app[keys.STORE], va, pid, sn, "", views.now_of(request), by="the admin API"
    )
    return web.json_response({"status": "SUCCESS", "statusMessage": msg})


async def token_create(request: web.Request, body: bodies.TokenBody) -> web.Response:
    account, va = await legacy._va(request)
    created = await common.create_token(request, account, va, body)
    return web.json_response(
        {
            "status": "SUCCESS",
            "statusMessage": "A valid, active token was generated.",
            "tokenInfo": [common.token_info(request, created, body)],
        }
    )


async def token_revoke(request: web.Request, body: bodies.RevokeBody) -> web.Response:
    _, va = await legacy._va(request)
    results = await common.revoke_tokens(request.app[keys.STORE], va, body.tokens, views.now_of(request))
    items = [{"status": r.status, "statusMessage": r.message} for r in results]
    return common.batch_answer(results, "token revocation(s)", tokensRevokeStatus=items)


class SummaryData(msgspec.Struct):
    timestamp: Int64 = 0
    nonce: bodies.Short = ""
    tags: Annotated[list[bodies.Short], bodies.Items] = []


class SummaryBody(msgspec.Struct):
    data: SummaryData


def _header_id(request: web.Request, name: str) -> int:
    raw = request.headers.get(name, "")
    try:
        value = int(raw)
        if not 0 < value < 2**53:
            raise ValueError(raw)
        return value
    except ValueError:
        raise BadRequest(
            f"header {name} must carry the numeric id, not {raw!r}",
            code="header_required",
            fix="read the ids from GET .../v2/accounts/search (account_id, virtual_account_id)",
        ) from None


async def get_summary(request: web.Request, body: SummaryBody) -> web.Response:
    """v2 get-summary: the pools of the virtual account the X-CSW headers name."""
    store = request.app[keys.STORE]
    account_id = _header_id(request, "X-CSW-SMART-ACCOUNT-ID")
    va_id = _header_id(request, "X-CSW-VIRTUAL-ACCOUNT-ID")
    va = await store.read(lambda uow: uow.accounts.virtual_account(va_id))
    if va is None or va.account_id != account_id:
        raise NotFound(
            f"no virtual account {va_id} in Smart Account {account_id}",
            code="virtual_account_not_found",
            fix="read the ids from GET .../v2/accounts/search",
        )
    rows = await views.license_rows(store, [va], views.now_of(request))
    if body.data.tags:
        rows = [r for r in rows if r.pool.tag in body.data.tags]
    return web.json_response(
        {
            "status": "SUCCESS",
            "message_code": "",
            "message": f"Retrieved summary for {len(rows)} license in the pool.",
            "timestamp": body.data.timestamp,
            "nonce": body.data.nonce,
            "out_standing_reports": 0,
            "summary": [
                {
                    "tag": r.pool.tag,
                    "entitled": r.pool.quantity,
                    "future_entitled": 0,
                    "inuse": r.pool.pool.in_use + r.pool.reserved,
                    "reserved": r.pool.reserved,
                    "compliance_status": r.status,
                    "display_name": r.name,
                    "enforced": True,
                    "export_restricted": False,
                    "license_details": [
                        {
                            "quantity": d.quantity,
                            "start_date": views.cisco_date(d.start),
                            "end_date": views.cisco_date(d.end or r.end),
                            "subscription_id": d.subscription_id,
                            "license_type": r.license_type,
                        }
                        for d in r.details
                    ],
                }
                for r in rows
            ],
        }
    )


class AlertBody(msgspec.Struct):
    virtualAccounts: Annotated[list[bodies.Short], bodies.Items] = []
    severity: Annotated[list[bodies.Short], bodies.Items] = []
    limit: PageLimit = 50
    offset: PageOffset = 0


async def get_alerts(request: web.Request, body: AlertBody) -> web.Response:
    """The account's alerts (the SSM's notifications), newest last."""
    account = await views.account_of(request)
    store = request.app[keys.STORE]
    vas = {v.id: v.name for v in await views.vas_named(store, account, body.virtualAccounts)}
    wanted = {s.lower() for s in body.severity}
    alerts = []
    for n in await store.read(lambda uow: uow.events.outbox(limit=10_000)):
        if n.virtual_account_id not in vas:
            continue
        severity = "major" if n.severity == "critical" else "minor"
        if wanted and severity not in wanted:
            continue
        alerts.append(
            {
                "virtualAccount": vas[n.virtual_account_id],
                "message": n.body,
                "license": "",
                "severity": severity,
                "messageType": n.kind,
                "licenseEndDate": "",
                "licenseStartDate": "",
                "actionDue": views.iso(n.at) or "",
                "source": n.piid or "",
                "sourceType": "Product Instance" if n.piid else "Virtual Account",
                "productInstanceHostName": "",
                "satelliteName": "",
            }
        )
    return web.json_response(
        {
            "status": "SUCCESS",
            "statusMessage": "",
            "totalRecords": len(alerts),
            "alerts": views.page(alerts, body.limit, body.offset),
        }
    )


def sw(*args: Any, errors: errors.Errors = errors.SOFTWARE, **kwargs: Any) -> Route:
    """An operation of Cisco's Software APIs: its refusals as Cisco's document gives them."""
    return api(*args, errors=errors, **kwargs)


_ACC = SOFTWARE + "/accounts/v1/domain/{domain}/type/{type}"
_LIC = SOFTWARE + "/licensing"
_V1VA = _LIC + "/v1/account/{domain}/virtual-account/{va}"
_V2 = _LIC + "/v2/accounts/{domain}"
#: The default virtual account's answer is not Cisco's status envelope.
DEFAULT_VA_ANSWER: dict[str, object] = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": "string"},
        "accountId": {"type": "integer"},
        "accountName": {"type": "string"},
        "accountDomain": {"type": "string"},
        "default": {"type": "boolean"},
    },
    "required": ["id", "name", "accountId", "accountDomain", "default"],
}

ROUTES: list[Route] = [
    sw("GET", _ACC + "/virtual-accounts", virtual_accounts, params=AccountTypeParams),
    sw("POST", _ACC + "/virtual-accounts", virtual_account_create, VaBody, params=AccountTypeParams),
    sw("POST", _ACC + "/virtual-account/create", virtual_account_create, VaBody, params=AccountTypeParams),
    sw(
        "GET",
        SOFTWARE + "/accounts/v1/virtual-account/default",
        virtual_account_default,
        query=bodies.DefaultVaQuery,
        answer=DEFAULT_VA_ANSWER,
        errors=errors.DEFAULT_VA,
    ),
    sw("GET", _V1VA + "/device/search", device_search, query=bodies.DeviceSearch),
    sw("GET", _V2 + "/devices", device_search, query=bodies.DeviceSearchV2),
    sw("POST", _LIC + "/v1/account/{domain}/device/get-usage", device_usage, bodies.ListBody),
    sw("POST", _V1VA + "/device/transfer", device_transfer, bodies.DeviceTransferBody),
    sw("POST", _V2 + "/devices/transfer", device_transfer, bodies.DeviceTransferBody, query=bodies.VaQuery),
    sw("POST", _V1VA + "/device/remove", device_remove_v1, bodies.DeviceRemoveV1),
    sw(
        "POST",
        _LIC + "/v3/accounts/{domain}/devices/remove",
        legacy.remove_devices,
        bodies.RemoveBody,
        query=bodies.VaQuery,
    ),
    sw("POST", _V1VA + "/token/create", token_create, bodies.TokenBody),
    sw("GET", _V1VA + "/token/list", legacy.tokens_list),
    sw("POST", _V1VA + "/token/revoke", token_revoke, bodies.RevokeBody),
    sw("POST", _V1VA + "/licenses/transfer", legacy.licenses_transfer, bodies.TransferBody),
    sw("POST", _V2 + "/licenses/transfer", legacy.licenses_transfer, bodies.TransferBody, query=bodies.VaQuery),
    sw(
        "POST",
        _LIC + "/{version:v1|v2}/account/{domain}/virtual-account/{va}/licenses/reserve",
        legacy.reserve,
        bodies.ReserveBody,
    ),
    sw("POST", _V1VA + "/update-slr", legacy.update, bodies.UpdateBody),
    sw("POST", _V2 + "/licenses/update", legacy.update, bodies.UpdateBody, query=bodies.VaQuery),
    sw("POST", _V1VA + "/confirm-slr-update", legacy.confirm, bodies.ConfirmBody),
    sw("POST", _V2 + "/licenses/confirm", legacy.confirm, bodies.ConfirmBody, query=bodies.VaQuery),
    sw(
        "POST",
        _LIC + "/v2/get-summary",
        get_summary,
        SummaryBody,
        headers=("X-CSW-SMART-ACCOUNT-ID", "X-CSW-VIRTUAL-ACCOUNT-ID"),
        errors=errors.cisco(errors.ERROR_V3, errors.ERROR_V5),
    ),
    sw("POST", _LIC + "/v1/account/{domain}/get-alerts", get_alerts, AlertBody),
]
