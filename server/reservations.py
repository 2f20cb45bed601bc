"""Specific License Reservation on the SSM: reserve, update, confirm, return.

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

from server.pki_files import LabPki
from server.queries import License, Reservation, ReservedLicense, SyncQueries, VirtualAccount
from server.store import Store
from shared import slr
from shared.errors import BadRequest, Conflict, NotFound, SmartLicensingError
from shared.states import LicenseType


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
    """Cisco's licenseType for a pool: Flex is a subscription (TERM), Perpetual is PERPETUAL."""
    return "TERM" if pool.license_type is LicenseType.FLEX else "PERPETUAL"


def display_name(pool: License) -> str:
    """A license's display name, unique in a virtual account (the same name exists per type/mode)."""
    return f"{pool.name} ({pool.license_type}, {pool.usage_mode})"


def available(pool: License) -> int:
    return pool.quantity - pool.pool.in_use - pool.reserved


def _take(tx: SyncQueries, va: VirtualAccount, wanted: Sequence[Wanted]) -> list[ReservedLicense]:
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
            raise BadRequest(f"quantity {w.quantity} of {w.tag} is not positive", code="invalid_quantity")
        pool = tx.license_by_tag(va.id, w.tag)
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
        tx.add_reserved(pool.id, w.quantity)
        held.append(ReservedLicense(pool.tag, display_name(pool), w.quantity, cisco_license_type(pool)))
    return held


def _release(tx: SyncQueries, va_id: int, held: Sequence[ReservedLicense]) -> None:
    for lic in held:
        pool = tx.license_by_tag(va_id, lic.tag)
        if pool is not None:
            tx.add_reserved(pool.id, -min(lic.count, pool.reserved))


def _sign(
    request: slr.RequestCode, held: Sequence[ReservedLicense], now: datetime, lab_pki: LabPki, *, after_ms: int = 0
) -> slr.Authorization:
    ents = [slr.Entitlement(x.tag, x.name, x.count, x.license_type) for x in held]
    chain = [lab_pki.signing.cert, *lab_pki.signing.chain]
    return slr.authorize(request, ents, now=now, key=lab_pki.signing.key, chain=chain, after_ms=after_ms)


def _issue(
    tx: SyncQueries,
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
    rid = tx.insert_reservation(
        va_id=va.id,
        request_code=request.text,
        udi_pid=request.udi_pid,
        serial_number=request.serial_number,
        licenses=held,
        authorization_code=auth.text,
        confirmation_code=auth.confirmation_code,
        return_code=auth.return_code,
        now=now,
    )
    tx.add_event(
        at=now,
        kind=kind,
        va_id=va.id,
        message=f"{what}: " + ", ".join(f"{x.count} {x.name}" for x in held),
    )
    found = tx.reservation(rid)
    assert found is not None
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
            if kind.upper() != "SPECIFIC":
                raise BadRequest(
                    f"reservationType {kind!r} is not offered: Unified CCE supports Specific License Reservation",
                    code="reservation_type_unsupported",
                    fix='send "reservationType": "SPECIFIC" with the licenses to reserve',
                )
            request = slr.parse_request_code(code_text)

            def body(
                tx: SyncQueries, request: slr.RequestCode = request, wanted: Sequence[Wanted] = wanted
            ) -> Reservation:
                if tx.active_instance_by_sudi(request.udi_pid, request.serial_number) is not None:
                    raise Conflict(
                        f"device {request.udi_pid}:{request.serial_number} is registered with Smart Licensing",
                        code="registered_device",
                        fix="deregister it first: a product instance uses Smart Licensing or a reservation, not both",
                    )
                if tx.active_reservation(request.udi_pid, request.serial_number) is not None:
                    raise Conflict(
                        f"device {request.udi_pid}:{request.serial_number} already has a reservation",
                        code="already_reserved",
                        fix="update it (POST .../update-licenses) or return it first (remove with its return code)",
                    )
                held = _take(tx, va, wanted)
                return _issue(
                    tx,
                    va,
                    request,
                    held,
                    now,
                    lab_pki,
                    kind="licenses_reserved",
                    what=f"Specific License Reservation for {request.udi_pid}:{request.serial_number}",
                )

            outcomes.append(Outcome(await store.run(body), request_code=code_text))
        except SmartLicensingError as err:
            outcomes.append(Outcome(error=err, request_code=code_text))
    return outcomes


def _find(tx: SyncQueries, va: VirtualAccount | None, udi_pid: str, serial: str) -> Reservation:
    found = tx.active_reservation(udi_pid, serial)
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
            tx: SyncQueries, udi_pid: str = udi_pid, serial: str = serial, wanted: Sequence[Wanted] = wanted
        ) -> Reservation:
            old = _find(tx, va, udi_pid, serial)
            if old.status != "Confirmed":
                raise Conflict(
                    f"the last authorization code of {udi_pid}:{serial} was not confirmed",
                    code="reservation_not_confirmed",
                    fix="install it on the device and send its confirmation code (POST .../confirm-licenses) first",
                )
            _release(tx, va.id, old.licenses)
            held = _take(tx, va, wanted)
            request = slr.parse_request_code(old.request_code)
            previous = slr.read_authorization(old.authorization_code).timestamp_ms
            tx.replace_reservation(old.id, now)
            return _issue(
                tx,
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
            outcomes.append(Outcome(await store.run(body)))
        except SmartLicensingError as err:
            outcomes.append(Outcome(error=err))
    return outcomes


async def confirm(
    store: Store, va: VirtualAccount | None, udi_pid: str, serial: str, code: str, *, now: datetime
) -> Reservation:
    """Accept the confirmation code a device printed after installing its authorization code."""

    def body(tx: SyncQueries) -> Reservation:
        found = _find(tx, va, udi_pid, serial)
        if not hmac.compare_digest(found.confirmation_code.encode(), code.strip().lower().encode()):
            raise BadRequest(
                f"confirmation code {code!r} does not match the authorization code issued to {udi_pid}:{serial}",
                code="confirmation_code_invalid",
                fix="send the code the device printed after installing its latest authorization code",
            )
        if found.status != "Confirmed":
            tx.confirm_reservation(found.id, now)
            tx.add_event(
                at=now,
                kind="reservation_confirmed",
                va_id=found.virtual_account_id,
                message=f"reservation of {udi_pid}:{serial} confirmed",
            )
        again = tx.reservation(found.id)
        assert again is not None
        return again

    return await store.run(body)


def _matches(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.strip().encode())


def _end(tx: SyncQueries, found: Reservation, now: datetime, kind: str, how: str) -> Reservation:
    """The reservation ends: its licenses go back to the pool, with an event saying how."""
    _release(tx, found.virtual_account_id, found.licenses)
    tx.return_reservation(found.id, now)
    held = ", ".join(f"{x.count} {x.name}" for x in found.licenses)
    tx.add_event(
        at=now,
        kind=kind,
        va_id=found.virtual_account_id,
        message=f"reservation of {found.udi_pid}:{found.serial_number} {how}: {held} back in the pool",
    )
    again = tx.reservation(found.id)
    assert again is not None
    return again


async def release(store: Store, udi_pid: str, serial: str, *, now: datetime, by: str) -> Reservation:
    """The administrator's way out when a device can no longer give its return code (it never
    installed the code, or it was lost): release the reservation without one."""

    def body(tx: SyncQueries) -> Reservation:
        found = _find(tx, None, udi_pid, serial)
        return _end(tx, found, now, "reservation_released", f"released by {by} without a return code")

    return await store.run(body)


async def give_back(
    store: Store, va: VirtualAccount | None, udi_pid: str, serial: str, code: str, *, now: datetime
) -> Reservation:
    """Release a device's reservation with the return code it printed."""

    def body(tx: SyncQueries) -> Reservation:
        found = _find(tx, va, udi_pid, serial)
        if not code.strip():
            raise BadRequest(
                f"device {udi_pid}:{serial} holds reserved licenses: its return code is required",
                code="return_code_required",
                fix="return the reservation on the device ('smart-agent reservation return'); send the code it prints",
            )
        # Until the device confirms an update it may still hold the code the update replaced.
        replaced = (
            tx.replaced_reservations(udi_pid, serial, since=found.created_at) if found.status != "Confirmed" else []
        )
        if not _matches(found.return_code, code) and not any(_matches(r.return_code, code) for r in replaced):
            raise BadRequest(
                f"return code {code!r} does not match the reservation of {udi_pid}:{serial}",
                code="return_code_invalid",
                fix="send the code the device printed when its reservation was returned",
            )
        return _end(tx, found, now, "reservation_returned", "returned")

    return await store.run(body)
