"""Cisco's "Software APIs" 1.0.2 (``/v1/software/apis/...``): accounts and licensing.

Every answer is valid against the schema of its operation in Cisco's OpenAPI document
(research/cisco-software-apis-1.0.2-licensing.json); ``tests/server/test_swapi_schema.py`` checks
it. Operations that do the same as a legacy one share its handler (reserve, update, confirm,
transfer, remove): the two families answer them with the same fields.
"""

from __future__ import annotations

import functools

import msgspec
from aiohttp import web

from server import accounts, keys
from server.admin import common, legacy, views
from server.admin.routing import SOFTWARE
from server.store.rows import VirtualAccount
from shared.errors import BadRequest, NotFound


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
    name: str
    description: str = ""
    isDefault: str = "false"
    commerceAccessLevel: str = "FULL"


async def virtual_account_create(request: web.Request) -> web.Response:
    account = await views.account_of(request)
    body = await views.body_of(request, VaBody)
    va = await accounts.create_virtual_account(
        request.app[keys.STORE],
        account=account,
        name=body.name,
        description=body.description,
        now=views.now_of(request),
    )
    return web.json_response({"status": "SUCCESS", "statusMessage": f"Virtual Account {va.name} created successfully"})


async def virtual_account_default(request: web.Request) -> web.Response:
    store = request.app[keys.STORE]
    account = await accounts.resolve_account(store, request.query.get("smartAccountDomain"))
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


async def device_search(request: web.Request) -> web.Response:
    _, va = await legacy._va(request)
    rows = await views.device_rows(request.app[keys.STORE], [va], request.query.get("instanceName") or None)
    limit, offset = views.query_int(request, "limit", 0), views.query_int(request, "offset", 0)
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


async def device_usage(request: web.Request) -> web.Response:
    body, vas = await common.listing_request(request)
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
                    "mode": "SLR" if d.reservation else "Smart Licensing",
                    "licenseUsage": [
                        {"license": name, "quantity": str(qty), "startDate": "", "endDate": ""} for name, qty in d.usage
                    ],
                }
                for d in views.page(rows, body.limit, body.offset)
            ],
        }
    )


async def device_transfer(request: web.Request) -> web.Response:
    account, va = await legacy._va(request)
    body = await views.body_of(request, common.DeviceTransferBody)
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


async def device_remove_v1(request: web.Request) -> web.Response:
    _, va = await legacy._va(request)
    body = await views.body_of(request, common.DeviceRemoveV1)
    pid, sn = body.sudi.key()
    msg = await common.remove_device(
        request.app[keys.STORE], va, pid, sn, "", views.now_of(request), by="the admin API"
    )
    return web.json_response({"status": "SUCCESS", "statusMessage": msg})


async def token_create(request: web.Request) -> web.Response:
    account, va = await legacy._va(request)
    body = await views.body_of(request, common.TokenBody)
    created = await common.create_token(request, account, va, body)
    return web.json_response(
        {
            "status": "SUCCESS",
            "statusMessage": "A valid, active token was generated.",
            "tokenInfo": [common.token_info(request, created, body)],
        }
    )


async def token_revoke(request: web.Request) -> web.Response:
    _, va = await legacy._va(request)
    body = await views.body_of(request, common.RevokeBody)
    results = await common.revoke_tokens(request.app[keys.STORE], va, body.tokens, views.now_of(request))
    items = [{"status": r.status, "statusMessage": r.message} for r in results]
    return common.batch_answer(results, "token revocation(s)", tokensRevokeStatus=items)


class SummaryData(msgspec.Struct):
    timestamp: int = 0
    nonce: str = ""
    tags: list[str] = []


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


async def get_summary(request: web.Request) -> web.Response:
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
    body = await views.body_of(request, SummaryBody)
    rows = await views.license_rows(store, [va])
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
                            "quantity": r.pool.quantity,
                            "start_date": "",
                            "end_date": "",
                            "subscription_id": "",
                            "license_type": r.license_type,
                        }
                    ],
                }
                for r in rows
            ],
        }
    )


class AlertBody(msgspec.Struct):
    virtualAccounts: list[str] = []
    severity: list[str] = []
    limit: int = 50
    offset: int = 0


async def get_alerts(request: web.Request) -> web.Response:
    """The account's alerts (the SSM's notifications), newest last."""
    account = await views.account_of(request)
    body = await views.body_of(request, AlertBody)
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


def add_routes(app: web.Application) -> None:
    r = app.router
    acc = SOFTWARE + "/accounts/v1/domain/{domain}/type/{type}"
    r.add_get(acc + "/virtual-accounts", virtual_accounts)
    r.add_post(acc + "/virtual-accounts", virtual_account_create)
    r.add_post(acc + "/virtual-account/create", virtual_account_create)
    r.add_get(SOFTWARE + "/accounts/v1/virtual-account/default", virtual_account_default)
    lic = SOFTWARE + "/licensing"
    v1va = lic + "/v1/account/{domain}/virtual-account/{va}"
    v2 = lic + "/v2/accounts/{domain}"
    r.add_get(v1va + "/device/search", device_search)
    r.add_get(v2 + "/devices", device_search)
    r.add_post(lic + "/v1/account/{domain}/device/get-usage", device_usage)
    r.add_post(v1va + "/device/transfer", device_transfer)
    r.add_post(v2 + "/devices/transfer", device_transfer)
    r.add_post(v1va + "/device/remove", device_remove_v1)
    r.add_post(lic + "/v3/accounts/{domain}/devices/remove", legacy.remove_devices)
    r.add_post(v1va + "/token/create", token_create)
    r.add_get(v1va + "/token/list", legacy.tokens_list)
    r.add_post(v1va + "/token/revoke", token_revoke)
    r.add_post(v1va + "/licenses/transfer", legacy.licenses_transfer)
    r.add_post(v2 + "/licenses/transfer", legacy.licenses_transfer)
    r.add_post(lic + "/{version:v1|v2}/account/{domain}/virtual-account/{va}/licenses/reserve", legacy.reserve)
    r.add_post(v1va + "/update-slr", legacy.update)
    r.add_post(v2 + "/licenses/update", legacy.update)
    r.add_post(v1va + "/confirm-slr-update", legacy.confirm)
    r.add_post(v2 + "/licenses/confirm", legacy.confirm)
    r.add_post(lic + "/v2/get-summary", get_summary)
    r.add_post(lic + "/v1/account/{domain}/get-alerts", get_alerts)
