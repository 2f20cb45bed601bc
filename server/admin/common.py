"""The admin API's operations, family-neutral: request bodies (msgspec, lenient like Cisco's
clients) and what each operation does to the store. ``legacy`` and ``swapi`` shape the answers.

Batch operations answer per item (Cisco's ``...Status`` lists): each item is its own
transaction, so one refused item neither blocks nor half-applies the others.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web

from plumbing.web.body import JSON
from plumbing.web.routes import Body, Handler, Plane, Route
from server import accounts, books, keys, registration, reservations
from server.admin import views
from server.admin.bodies import (
    ConfirmItem,
    DeviceTransferItem,
    LicenseWant,
    ListBody,
    ReserveBody,
    TokenBody,
    TransferItem,
    UpdateBody,
)
from server.admin.errors import LEGACY, Errors, declare
from server.reservations import Outcome, Wanted, display_name
from server.store import Store, UnitOfWork
from server.store.rows import Account, Reservation, VirtualAccount
from shared import rejudge, tokens
from shared.clock import epoch
from shared.errors import BadRequest, Conflict, NotFound, SmartLicensingError


def api(
    method: str,
    path: str,
    handler: Handler,
    body: type | None = None,
    *,
    query: type | None = None,
    headers: tuple[str, ...] = (),
    answer: dict[str, object] | None = None,
    params: type | None = None,
    errors: Errors = LEGACY,
) -> Route:
    """An admin API operation: bearer token required; its body read as Cisco's clients send it
    (JSON; "365" for 365; an empty body, of any declared type, as {}); its refusals as ``errors``."""
    route = Route(
        method,
        path,
        handler,
        Plane.ADMIN,
        body=Body(
            body,
            types=(JSON,),
            empty=b"{}",
            strict=False,
            malformed="invalid_json",
            invalid="invalid_body",
            fix="send the fields COVERAGE.md lists for this operation",
        )
        if body is not None
        else None,
        query=query,
        params=params,
        auth=True,
        headers=headers,
        answer=answer,
    )
    return declare(route, errors)


async def listing_vas(request: web.Request, body: ListBody) -> list[VirtualAccount]:
    """The virtual accounts a listing's body names (``virtualAccounts``; all of them when empty)."""
    account = await views.account_of(request)
    return await views.vas_named(request.app[keys.STORE], account, body.virtualAccounts)


def wanted(items: Sequence[LicenseWant]) -> list[Wanted]:
    return [Wanted(x.entitlementTag, x.quantity) for x in items]


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One item of a batch: ``ok`` and the message Cisco puts in ``statusMessage``."""

    ok: bool
    message: str
    code: str = ""
    fix: str = ""

    @property
    def status(self) -> str:
        return "SUCCESS" if self.ok else "ERROR"


def failed(err: SmartLicensingError) -> ItemResult:
    return ItemResult(False, f"{err.message}" + (f" (fix: {err.fix})" if err.fix else ""), err.code, err.fix)


async def attempt(call: Callable[[], Awaitable[str]]) -> ItemResult:
    """One item of a batch: its success message, or its refusal (the others go on)."""
    try:
        return ItemResult(True, await call())
    except SmartLicensingError as err:
        return failed(err)


def batch_status(results: Sequence[ItemResult] | Sequence[Outcome], noun: str) -> tuple[str, str]:
    """The envelope's status and message for a batch: SUCCESS, WARNING (some failed) or ERROR."""
    ok = sum(1 for r in results if r.ok)
    if ok == len(results):
        return "SUCCESS", f"{ok} {noun} processed successfully"
    if ok == 0:
        first = next(r for r in results)
        why = first.message if isinstance(first, ItemResult) else failed(first.error).message if first.error else ""
        return "ERROR", f"{len(results) - ok} {noun} failed: {why}"
    return "WARNING", f"{ok} {noun} processed successfully, {len(results) - ok} failed"


# -- tokens --------------------------------------------------------------------------------------


async def create_token(
    request: web.Request, account: Account, va: VirtualAccount, body: TokenBody
) -> accounts.CreatedToken:
    app = request.app
    return await accounts.create_token(
        app[keys.STORE],
        account=account,
        va_name=va.name,
        now=app[keys.CLOCK].now(),
        policy=app[keys.SETTINGS].policy,
        days=body.expiresAfterDays,
        description=body.description,
        export_controlled=body.export_allowed(),
        created_by=f"api-client:{request.get(keys.API_CLIENT, '?')}",
    )


def token_info(request: web.Request, created: accounts.CreatedToken, body: TokenBody) -> dict[str, object]:
    """A created token as both families show it (the legacy one as an object, Cisco's spec in a list)."""
    return {
        "token": created.minted.text,
        "expirationDate": views.iso(int(created.minted.expires_at.timestamp())),
        "description": body.description,
        "exportControl": "Allowed" if body.export_allowed() else "Not Allowed",
        "createdBy": f"api-client:{request.get(keys.API_CLIENT, '')}",
    }


async def revoke_tokens(store: Store, va: VirtualAccount, texts: Sequence[str], now: datetime) -> list[ItemResult]:
    async def revoke(text: str) -> str:
        parsed = tokens.parse(text)
        record = await store.read(lambda uow: uow.tokens.get(parsed.token_id))
        # the token text proves the caller holds it: its id alone revokes nothing
        if (
            record is None
            or record.virtual_account_id != va.id
            or not hmac.compare_digest(record.secret_hash, tokens.hash_secret(parsed.secret))
        ):
            raise NotFound(
                f"virtual account {va.name} has no such token",
                code="token_not_found",
                fix="send the whole token text as it was created, to the virtual account that created it",
            )
        await accounts.revoke_token(store, parsed.token_id, now)
        return "Token revoked successfully"

    return [await attempt(functools.partial(revoke, text)) for text in texts]


# -- licenses ------------------------------------------------------------------------------------


async def transfer_licenses(
    store: Store, account: Account, source: VirtualAccount, items: Sequence[TransferItem], now: datetime
) -> list[ItemResult]:
    """Move purchased licenses between virtual accounts of the account; one result per item."""
    out = []
    for item in items:

        def body(uow: UnitOfWork, item: TransferItem = item) -> str:
            target = uow.accounts.virtual_account_named(account.id, item.targetVirtualAccount)
            if target is None:
                raise NotFound(
                    f"no virtual account {item.targetVirtualAccount!r} in {account.domain}",
                    code="virtual_account_not_found",
                    fix="name an existing virtual account of the Smart Account as targetVirtualAccount",
                )
            if target.id == source.id:
                raise BadRequest(
                    "the target is the source virtual account",
                    code="transfer_to_self",
                    fix="name another virtual account as targetVirtualAccount",
                )
            pools = uow.pools.of(source.id)
            match = [p for p in pools if item.license in (display_name(p), p.tag)] or [
                p for p in pools if p.name == item.license
            ]
            if len(match) != 1:
                names = ", ".join(display_name(p) for p in pools if p.quantity)
                raise NotFound(
                    f"virtual account {source.name} has {'several' if match else 'no'} license {item.license!r}",
                    code="license_not_found",
                    fix=f"name it exactly as listed: {names}",
                )
            pool = match[0]
            if item.quantity < 1 or reservations.available(pool) < item.quantity:
                raise Conflict(
                    f"cannot transfer {item.quantity} {display_name(pool)}: {max(0, reservations.available(pool))} "
                    "available (purchased less in use and reserved)",
                    code="insufficient_licenses",
                    fix="transfer fewer",
                )
            t = epoch(now)
            accounts.check_pool_room(uow, target, pool.tag, item.quantity)
            uow.events.add(
                at=t,
                kind="licenses_transferred",
                va_id=source.id,
                message=f"{item.quantity} {display_name(pool)} transferred from {source.name} to {target.name}",
            )
            # Both accounts re-judged at once: the licenses reach the target's instances now.
            for va_id, delta in ((source.id, -item.quantity), (target.id, item.quantity)):
                loaded = books.load_account(uow, va_id)
                held = loaded.pools.get(pool.tag)
                total = (held.purchased if held else 0) + delta
                books.write_rejudgement(uow, rejudge.purchase(loaded, {pool.tag: total}, t), va_id=va_id, at=t)
            return f"{item.quantity} {display_name(pool)} transferred to {target.name}"

        out.append(await attempt(functools.partial(store.write, body)))
    return out


async def reserve(request: web.Request, va: VirtualAccount, body: ReserveBody) -> list[Outcome]:
    app = request.app
    return await reservations.reserve(
        app[keys.STORE],
        va,
        [(r.reservationCode, r.reservationType, wanted(r.licenses)) for r in body.reservationRequests],
        now=app[keys.CLOCK].now(),
        lab_pki=app[keys.REGISTRY].pki,
    )


async def update(request: web.Request, va: VirtualAccount, body: UpdateBody) -> list[Outcome]:
    app = request.app
    items = []
    for u in body.reservationUpdateRequests:
        pid, sn = u.sudi.key()
        items.append((pid, sn, wanted(u.licenses)))
    return await reservations.update(
        app[keys.STORE], va, items, now=app[keys.CLOCK].now(), lab_pki=app[keys.REGISTRY].pki
    )


async def confirm(store: Store, va: VirtualAccount | None, item: ConfirmItem, now: datetime) -> Reservation:
    pid, sn = item.sudi.key()
    return await reservations.confirm(store, va, pid, sn, item.confirmationCode, now=now)


# -- devices -------------------------------------------------------------------------------------


async def remove_device(
    store: Store, va: VirtualAccount, pid: str, serial: str, return_code: str, now: datetime, *, by: str
) -> str:
    """Remove a product instance: a reservation needs its return code; a registered instance is
    removed as by the portal (its licenses return to the pool; it must register again)."""
    if await store.read(lambda uow: uow.reservations.active(pid, serial)) is not None:
        await reservations.give_back(store, va, pid, serial, return_code, now=now)
        return f"{pid}:{serial} removed; its reserved licenses returned to {va.name}"
    inst = await store.read(lambda uow: uow.instances.active_by_sudi(pid, serial))
    if inst is None or inst.virtual_account_id != va.id:
        raise NotFound(
            f"no product instance {pid}:{serial} in virtual account {va.name}",
            code="instance_not_found",
            fix="search the devices of the virtual account for the exact udiPid and udiSerialNumber",
        )
    await registration.remove_instance(store, inst.piid, now, by=by)
    return f"{inst.name} ({pid}:{serial}) removed; its licenses returned to {va.name}"


async def transfer_device(
    store: Store, account: Account, source: VirtualAccount | None, item: DeviceTransferItem, now: datetime
) -> str:
    pid, serial = item.sudi.key()

    def body(uow: UnitOfWork) -> str:
        inst = uow.instances.active_by_sudi(pid, serial)
        if inst is None or (source is not None and inst.virtual_account_id != source.id):
            if uow.reservations.active(pid, serial) is not None:
                raise Conflict(
                    f"{pid}:{serial} holds a license reservation",
                    code="reserved_device",
                    fix="return the reservation, then reserve in the other virtual account",
                )
            raise NotFound(
                f"no registered product instance {pid}:{serial}",
                code="instance_not_found",
                fix="search the devices of the virtual account for the exact udiPid and udiSerialNumber",
            )
        target = uow.accounts.virtual_account_named(account.id, item.targetVirtualAccount)
        if target is None:
            raise NotFound(
                f"no virtual account {item.targetVirtualAccount!r}",
                code="virtual_account_not_found",
                fix="name an existing virtual account of the Smart Account as targetVirtualAccount",
            )
        registration.transfer(uow, inst, target, epoch(now))
        return f"{inst.name} transferred to {target.name}"

    return await store.write(body)


# -- shapes both families share ------------------------------------------------------------------


def reservation_item(o: Outcome) -> dict[str, object]:
    """One entry of ``authorizationCodes`` (reserve and update answers)."""
    if o.reservation is None:
        assert o.error is not None
        return {
            "reservationCode": o.request_code,
            "status": "ERROR",
            "statusMessage": failed(o.error).message,
            "error": o.error.code,
        }
    r = o.reservation
    return {
        "reservationCode": r.request_code,
        "authorizationCode": r.authorization_code,
        "status": "SUCCESS",
        "statusMessage": "Licenses reserved: install the authorization code on the product instance",
        "productInstance": f"UDI_PID:{r.udi_pid}; UDI_SN:{r.serial_number}",
        "productTagName": f"regid.2019-03.com.cisco.{r.udi_pid},1.0",
        "productType": "UCCE",
        "sudi": {"udiPid": r.udi_pid, "udiSerialNumber": r.serial_number},
        "licenses": [
            {"name": x.name, "quantity": x.count, "licenseType": x.license_type, "endDate": "", "entitlementTag": x.tag}
            for x in r.licenses
        ],
    }


def batch_answer(results: Sequence[ItemResult] | Sequence[Outcome], noun: str, **extra: object) -> web.Response:
    """A batch's envelope: 200 unless every item failed (then 400, so a one-item call fails loudly)."""
    status, message = batch_status(results, noun)
    body: dict[str, object] = {"status": status, "statusMessage": message, **extra}
    if status == "ERROR":
        body["message"] = message
        first = results[0]
        error = first.error if not isinstance(first, ItemResult) else None
        body["error"] = first.code if isinstance(first, ItemResult) else error.code if error else "error"
        body["fix"] = (first.fix if isinstance(first, ItemResult) else error.fix if error else "") or (
            "see each item's statusMessage"
        )
    return web.json_response(body, status=400 if status == "ERROR" else 200)
