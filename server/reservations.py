"""License reservations on the SSM: reserve, update, confirm, return.

Specific License Reservation (SLR) is what the rest of this doc describes. A Universal reservation
(PLR, ``reservationType: "UNIVERSAL"``) names no license: its short authorization code unlocks
every feature of the product, so it holds nothing in the pools; there is no confirmation code
(it is ``Confirmed`` at once) and nothing to update; the return code the device prints gives it
back.

A reservation holds licenses of a virtual account for one device (UDI product id and serial)
that will never report usage: the pool's ``reserved`` grows by what it holds, and reported usage
is judged against what is left (``License.for_usage``). Each operation is one transaction,
committed before it is answered; each refusal names the item and the way out.

The codes are ``shared.slr``'s: the SSM signs the authorization code with its response-signing
key; the confirmation and return codes the device prints are checked against the code issued.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from server import books
from server.pki_files import LabPki
from server.store import Store, UnitOfWork
from server.store.rows import License, Reservation, ReservedLicense, VirtualAccount
from shared import rejudge, slr
from shared.catalog import CISCO_LICENSE_TYPE
from shared.clock import epoch
from shared.errors import BadRequest, Conflict, NotFound, SmartLicensingError
from shared.reservation import ReservationAction, ReservationStatus, transition


@dataclass(frozen=True, slots=True)
class Wanted:
    """One license of a reservation request: an entitlement tag and a quantity."""

    tag: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer for one item of a batch: the reservation it produced, or why it failed."""

    reservation: Reservation | None = None
    error: SmartLicensingError | None = None
    request_code: str = ""

    @property
    def ok(self) -> bool:
        return self.error is None


def cisco_license_type(pool: License) -> str:
    """Cisco's licenseType for a pool (``shared.catalog.CISCO_LICENSE_TYPE``)."""
    return CISCO_LICENSE_TYPE[pool.license_type]


def display_name(pool: License) -> str:
    """A license's display name, unique in a virtual account (the same name exists per type/mode)."""
    return f"{pool.name} ({pool.license_type}, {pool.usage_mode})"


def available(pool: License) -> int:
    return pool.quantity - pool.pool.in_use - pool.reserved


def _take(uow: UnitOfWork, va: VirtualAccount, wanted: Sequence[Wanted]) -> list[ReservedLicense]:
    """Reserve ``wanted`` from the virtual account's pools (all or nothing: the caller's SAVEPOINT)."""
    if not wanted:
        raise BadRequest(
            "the reservation lists no license",
            code="reservation_empty",
            fix="list licenses as [{entitlementTag, quantity}] (the tags: POST .../licenses)",
        )
    merged: dict[str, int] = {}
    for w in wanted:  # the same tag twice is one license of the summed quantity
        merged[w.tag] = merged.get(w.tag, 0) + w.quantity
    held: list[ReservedLicense] = []
    for w in (Wanted(tag, quantity) for tag, quantity in merged.items()):
        if w.quantity < 1:
            raise BadRequest(
                f"quantity {w.quantity} of {w.tag} is not positive",
                code="invalid_quantity",
                fix="reserve 1 or more of each license listed (leave out the others)",
            )
        pool = uow.pools.by_tag(va.id, w.tag)
        if pool is None:
            raise NotFound(
                f"virtual account {va.name} holds no license with entitlement tag {w.tag}",
                code="license_not_found",
                fix="use an entitlementTag listed by POST .../accounts/{domain}/licenses for this virtual account",
            )
        if available(pool) < w.quantity:
            raise Conflict(
                f"insufficient licenses: {display_name(pool)} has {max(0, available(pool))} available "
                f"({pool.quantity} purchased, {pool.pool.in_use} in use, {pool.reserved} reserved), "
                f"{w.quantity} requested",
                code="insufficient_licenses",
                fix="reserve fewer, or add licenses ('ssm-server license add ...')",
            )
        uow.pools.reserve(pool.id, w.quantity)
        held.append(ReservedLicense(pool.tag, display_name(pool), w.quantity, cisco_license_type(pool)))
    return held


def _release(uow: UnitOfWork, va_id: int, held: Sequence[ReservedLicense]) -> None:
    for lic in held:
        pool = uow.pools.by_tag(va_id, lic.tag)
        if pool is not None:
            uow.pools.reserve(pool.id, -min(lic.count, pool.reserved))


def _sign(
    request: slr.RequestCode, held: Sequence[ReservedLicense], now: datetime, lab_pki: LabPki, *, after_ms: int = 0
) -> slr.Authorization:
    ents = [slr.Entitlement(x.tag, x.name, x.count, x.license_type) for x in held]
    chain = [lab_pki.signing.cert, *lab_pki.signing.chain]
    return slr.authorize(request, ents, now=now, key=lab_pki.signing.key, chain=chain, after_ms=after_ms)


def _issue(
    uow: UnitOfWork,
    va: VirtualAccount,
    request: slr.RequestCode,
    held: Sequence[ReservedLicense],
    now: datetime,
    lab_pki: LabPki,
    *,
    kind: str,
    what: str,
    after_ms: int = 0,
) -> Reservation:
    """Sign an authorization code for what ``held`` reserves and record it; the event says ``what``."""
    auth = _sign(request, held, now, lab_pki, after_ms=after_ms)
    found = uow.reservations.add(
        va_id=va.id,
        request_code=request.text,
        udi_pid=request.udi_pid,
        serial_number=request.serial_number,
        licenses=held,
        authorization_code=auth.text,
        confirmation_code=auth.confirmation_code,
        return_code=auth.return_code,
        at=epoch(now),
    )
    uow.events.add(
        at=epoch(now),
        kind=kind,
        va_id=va.id,
        message=f"{what}: " + ", ".join(f"{x.count} {x.name}" for x in held),
    )
    return found


def _issue_universal(uow: UnitOfWork, va: VirtualAccount, request: slr.RequestCode, now: datetime) -> Reservation:
    """Record a Universal reservation: its code, its return code; no license is held."""
    code = slr.universal_authorization(request, stamp_ms=epoch(now) * 1000)
    device = f"{request.udi_pid}:{request.serial_number}"
    found = uow.reservations.add(
        va_id=va.id,
        request_code=request.text,
        udi_pid=request.udi_pid,
        serial_number=request.serial_number,
        licenses=(),
        authorization_code=code,
        confirmation_code="",
        return_code=slr.return_code(code),
        at=epoch(now),
        kind="UNIVERSAL",
        status=ReservationStatus.CONFIRMED,
    )
    uow.events.add(
        at=epoch(now), kind="licenses_reserved", va_id=va.id, message=f"Universal (PLR) reservation for {device}"
    )
    return found


async def reserve(
    store: Store,
    va: VirtualAccount,
    requests: Sequence[tuple[str, str, Sequence[Wanted]]],
    *,
    now: datetime,
    lab_pki: LabPki,
) -> list[Outcome]:
    """Reserve licenses for each (request code, reservation type, licenses); one outcome each."""
    outcomes: list[Outcome] = []
    for code_text, kind, wanted in requests:
        try:
            if kind.upper() not in ("SPECIFIC", "UNIVERSAL"):
                raise BadRequest(
                    f"reservationType {kind!r} is neither SPECIFIC nor UNIVERSAL",
                    code="reservation_type_unsupported",
                    fix='send "reservationType": "SPECIFIC" with the licenses to reserve, or "UNIVERSAL" (PLR)',
                )
            request = slr.parse_request_code(code_text)
            universal = kind.upper() == "UNIVERSAL"

            def body(
                uow: UnitOfWork,
                request: slr.RequestCode = request,
                wanted: Sequence[Wanted] = wanted,
                universal: bool = universal,
            ) -> Reservation:
                if uow.instances.active_by_sudi(request.udi_pid, request.serial_number) is not None:
                    raise Conflict(
                        f"device {request.udi_pid}:{request.serial_number} is registered with Smart Licensing",
                        code="registered_device",
                        fix="deregister it first: a product instance uses Smart Licensing or a reservation, not both",
                    )
                if uow.reservations.active(request.udi_pid, request.serial_number) is not None:
                    raise Conflict(
                        f"device {request.udi_pid}:{request.serial_number} already has a reservation",
                        code="already_reserved",
                        fix="update it (POST .../update-licenses) or return it first (remove with its return code)",
                    )
                if universal:
                    return _issue_universal(uow, va, request, now)
                held = _take(uow, va, wanted)
                return _issue(
                    uow,
                    va,
                    request,
                    held,
                    now,
                    lab_pki,
                    kind="licenses_reserved",
                    what=f"Specific License Reservation for {request.udi_pid}:{request.serial_number}",
                )

            outcomes.append(Outcome(await store.write(body), request_code=code_text))
        except SmartLicensingError as err:
            outcomes.append(Outcome(error=err, request_code=code_text))
    return outcomes


def _find(uow: UnitOfWork, va: VirtualAccount | None, udi_pid: str, serial: str) -> Reservation:
    found = uow.reservations.active(udi_pid, serial)
    if found is None or (va is not None and found.virtual_account_id != va.id):
        where = f" in virtual account {va.name}" if va is not None else ""
        raise NotFound(
            f"no reservation for device {udi_pid}:{serial}{where}",
            code="reservation_not_found",
            fix="check the sudi (udiPid, udiSerialNumber); reserve first with the device's request code",
        )
    return found


async def update(
    store: Store,
    va: VirtualAccount,
    items: Sequence[tuple[str, str, Sequence[Wanted]]],
    *,
    now: datetime,
    lab_pki: LabPki,
) -> list[Outcome]:
    """Replace what each device (udi_pid, serial) holds; refused until the last code was confirmed."""
    outcomes: list[Outcome] = []
    for udi_pid, serial, wanted in items:

        def body(
            uow: UnitOfWork, udi_pid: str = udi_pid, serial: str = serial, wanted: Sequence[Wanted] = wanted
        ) -> Reservation:
            old = _find(uow, va, udi_pid, serial)
            if old.universal:
                raise Conflict(
                    f"{udi_pid}:{serial} holds a Universal reservation: it covers every license",
                    code="reservation_universal",
                    fix="return it (remove with its return code) and reserve SPECIFIC licenses instead",
                )
            replaced = transition(old.status, ReservationAction.UPDATE, f"{udi_pid}:{serial}")
            _release(uow, va.id, old.licenses)
            held = _take(uow, va, wanted)
            request = slr.parse_request_code(old.request_code)
            previous = slr.read_authorization(old.authorization_code).timestamp_ms
            uow.reservations.set_status(old.id, replaced, epoch(now))
            return _issue(
                uow,
                va,
                request,
                held,
                now,
                lab_pki,
                kind="reservation_updated",
                what=f"reservation of {udi_pid}:{serial} updated",
                after_ms=previous,
            )

        try:
            outcomes.append(Outcome(await store.write(body)))
        except SmartLicensingError as err:
            outcomes.append(Outcome(error=err))
    return outcomes


async def confirm(
    store: Store, va: VirtualAccount | None, udi_pid: str, serial: str, code: str, *, now: datetime
) -> Reservation:
    """Accept the confirmation code a device printed after installing its authorization code."""

    def body(uow: UnitOfWork) -> Reservation:
        found = _find(uow, va, udi_pid, serial)
        if found.universal:
            return found  # a Universal reservation has no confirmation code: it is in force once issued
        if not hmac.compare_digest(found.confirmation_code.encode(), code.strip().lower().encode()):
            raise BadRequest(
                f"confirmation code {code!r} does not match the authorization code issued to {udi_pid}:{serial}",
                code="confirmation_code_invalid",
                fix="send the code the device printed after installing its latest authorization code",
            )
        after = transition(found.status, ReservationAction.CONFIRM, f"{udi_pid}:{serial}")
        if after is found.status:
            return found
        uow.events.add(
            at=epoch(now),
            kind="reservation_confirmed",
            va_id=found.virtual_account_id,
            message=f"reservation of {udi_pid}:{serial} confirmed",
        )
        return uow.reservations.set_status(found.id, after, epoch(now))

    return await store.write(body)


def _matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.strip().encode())


def _end(
    uow: UnitOfWork, found: Reservation, now: datetime, action: ReservationAction, kind: str, how: str
) -> Reservation:
    """The reservation ends: its licenses go back to the pool, with an event saying how."""
    after = transition(found.status, action, f"{found.udi_pid}:{found.serial_number}")
    _release(uow, found.virtual_account_id, found.licenses)
    held = ", ".join(f"{x.count} {x.name}" for x in found.licenses)
    uow.events.add(
        at=epoch(now),
        kind=kind,
        va_id=found.virtual_account_id,
        message=f"reservation of {found.udi_pid}:{found.serial_number} {how}: {held} back in the pool",
    )
    # Licenses back in the pool count for usage at once, as a purchase does (shared.rejudge).
    va_id, t = found.virtual_account_id, epoch(now)
    books.write_rejudgement(uow, rejudge.rejudge(books.load_account(uow, va_id), t), va_id=va_id, at=t)
    return uow.reservations.set_status(found.id, after, epoch(now))


async def release(store: Store, udi_pid: str, serial: str, *, now: datetime, by: str) -> Reservation:
    """The administrator's way out when a device can no longer give its return code (it never
    installed the code, or it was lost): release the reservation without one."""

    def body(uow: UnitOfWork) -> Reservation:
        found = _find(uow, None, udi_pid, serial)
        how = f"released by {by} without a return code"
        return _end(uow, found, now, ReservationAction.RELEASE, "reservation_released", how)

    return await store.write(body)


async def give_back(
    store: Store, va: VirtualAccount | None, udi_pid: str, serial: str, code: str, *, now: datetime
) -> Reservation:
    """Release a device's reservation with the return code it printed."""

    def body(uow: UnitOfWork) -> Reservation:
        found = _find(uow, va, udi_pid, serial)
        if not code.strip():
            raise BadRequest(
                f"device {udi_pid}:{serial} holds reserved licenses: its return code is required",
                code="return_code_required",
                fix="return the reservation on the device ('smart-agent reservation return'); send the code it prints",
            )
        # Until the device confirms an update it may still hold the code the update replaced.
        replaced = (
            uow.reservations.replaced_since(udi_pid, serial, since=found.created_at)
            if found.status is not ReservationStatus.CONFIRMED
            else []
        )
        if not _matches(found.return_code, code) and not any(_matches(r.return_code, code) for r in replaced):
            raise BadRequest(
                f"return code {code!r} does not match the reservation of {udi_pid}:{serial}",
                code="return_code_invalid",
                fix="send the code the device printed when its reservation was returned",
            )
        return _end(uow, found, now, ReservationAction.RETURN, "reservation_returned", "returned")

    return await store.write(body)
