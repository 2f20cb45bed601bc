"""What the admin API shows, read from the store once and shaped per API family.

Both families (legacy Smart Accounts & Licensing, Software APIs) list the same things with other
field names; the rows here are family-neutral and each handler module shapes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from aiohttp import web

from server import keys, subscriptions
from server.accounts import resolve_account, resolve_va
from server.reservations import available, cisco_license_type, display_name
from server.store import Store, UnitOfWork
from server.store.rows import Account, BehindOnPrem, Instance, License, LicenseTerm, Reservation, VirtualAccount
from shared.clock import utc
from shared.errors import BadRequest, NotFound
from shared.reservation import device_status
from shared.states import LicenseType
from shared.terms import end_date

S = TypeVar("S")
R = TypeVar("R")


def iso(ts: int | None) -> str | None:
    """Cisco's timestamps: ISO 8601 with milliseconds and Z."""
    if ts is None:
        return None
    return utc(ts).strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def account_of(request: web.Request) -> Account:
    return await resolve_account(request.app[keys.STORE], request.match_info["domain"])


async def va_named(request: web.Request, account: Account, name: str | None) -> VirtualAccount:
    if not name:
        raise BadRequest(
            "the operation needs a virtual account name",
            code="virtual_account_required",
            fix="pass virtualAccountName (a path segment or a query parameter)",
        )
    return await resolve_va(request.app[keys.STORE], account, name)


async def vas_named(store: Store, account: Account, names: Sequence[str]) -> list[VirtualAccount]:
    """The virtual accounts named (all of them for an empty list)."""
    every = await store.read(lambda uow: uow.accounts.virtual_accounts(account.id))
    if not names:
        return every
    by_name = {v.name: v for v in every}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise NotFound(
            f"no virtual account {', '.join(map(repr, missing))} in Smart Account {account.domain}",
            code="virtual_account_not_found",
            fix=f"use one of: {', '.join(by_name)} (or an empty list for all)",
        )
    return [by_name[n] for n in names]


def page(rows: Sequence[R], limit: int | None, offset: int | None) -> list[R]:
    start = max(0, offset or 0)
    if limit is None or limit <= 0:
        return list(rows[start:])
    return list(rows[start : start + limit])


#: Cisco's get-summary dates ("2018-Aug-08"), month names independent of the locale.
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: The end date shown for a perpetual license (ssmlab's: Cisco's public material names none).
PERPETUAL_END = date(2099, 12, 31)
#: A Flex license's subscription term: the shortest the seed names ("1, 3, or 5 years").
FLEX_TERM_YEARS = 1


def iso_date(d: date) -> str:
    """A day as the legacy API writes dates (midnight UTC)."""
    return f"{d.isoformat()}T00:00:00.000Z"


def cisco_date(d: date) -> str:
    return f"{d.year:04d}-{_MONTHS[d.month - 1]}-{d.day:02d}"


@dataclass(frozen=True, slots=True)
class Term:
    """One license detail of a pool: a Flex subscription term, or the licenses bought without one."""

    quantity: int
    start: date
    #: the last valid day; None for licenses bought without a term (``LicenseRow.end`` shows theirs)
    end: date | None
    subscription_id: str
    #: bought with a term (it leaves the pool after ``end``)
    termed: bool = False


@dataclass(frozen=True, slots=True)
class LicenseRow:
    va: VirtualAccount
    pool: License
    #: the domain instant (epoch s) the pool's licenses were first purchased (else its account's creation)
    since: int = 0
    #: the pool's active terms (``server.subscriptions.details``)
    lots: tuple[subscriptions.Detail, ...] = ()

    @property
    def details(self) -> list[Term]:
        """Each active term, and what was bought without one (shown as before terms existed)."""
        out = []
        for d in self.lots or (subscriptions.Detail(self.pool.quantity, self.since, None, self.subscription_id),):
            if d.ends_at is None:
                out.append(Term(d.quantity, self.start, self.end, d.subscription_id))
            else:
                out.append(Term(d.quantity, utc(d.starts_at).date(), end_date(d.ends_at), d.subscription_id, True))
        return out

    @property
    def start(self) -> date:
        return utc(self.since).date()

    @property
    def end(self) -> date:
        """Perpetual: ``PERPETUAL_END``; Flex: the day before the term's anniversary."""
        if self.pool.license_type == LicenseType.PERPETUAL:
            return PERPETUAL_END
        start = self.start
        day = min(start.day, 28) if start.month == 2 else start.day
        return start.replace(year=start.year + FLEX_TERM_YEARS, day=day) - timedelta(days=1)

    @property
    def subscription_id(self) -> str:
        """Stable per pool (Cisco's example: ``Sub123456``)."""
        return f"Sub{self.pool.id:06d}"

    @property
    def name(self) -> str:
        return display_name(self.pool)

    @property
    def in_compliance(self) -> bool:
        return self.pool.pool.ooc_since is None

    @property
    def status(self) -> str:
        return "In Compliance" if self.in_compliance else "Out of Compliance"

    @property
    def available(self) -> int:
        return available(self.pool)

    @property
    def license_type(self) -> str:
        return cisco_license_type(self.pool)


async def license_rows(store: Store, vas: Sequence[VirtualAccount], now: datetime) -> list[LicenseRow]:
    """Every pool that holds, uses or reserves licenses, in the virtual accounts given, with its
    active subscription terms at ``now``."""
    t = int(now.timestamp())

    def body(uow: UnitOfWork) -> list[LicenseRow]:
        created = {a.id: int(a.created_at.timestamp()) for a in uow.accounts.all()}
        rows = []
        for va in vas:
            lots: dict[int, list[LicenseTerm]] = {}
            for lot in uow.terms.in_account(va.id):
                lots.setdefault(lot.license_id, []).append(lot)
            for pool in uow.pools.of(va.id):
                if not (pool.quantity or pool.pool.in_use or pool.reserved):
                    continue
                since = pool.purchased_at if pool.purchased_at is not None else created.get(va.account_id, 0)
                detail = subscriptions.details(pool, lots.get(pool.id, []), since, t) if pool.id in lots else []
                rows.append(LicenseRow(va, pool, since, tuple(detail)))
        return rows

    return await store.read(body)


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """A product instance: registered (``instance``), holding a reservation (``reservation``), or
    registered to an SSM On-Prem that synchronizes here (``behind``)."""

    va: VirtualAccount
    instance: Instance | None
    reservation: Reservation | None
    usage: list[tuple[str, int]]
    behind: BehindOnPrem | None = None

    @property
    def udi_pid(self) -> str:
        if self.behind is not None:
            return self.behind.instance.udi_pid
        return self.instance.udi_pid if self.instance else self.reservation.udi_pid  # type: ignore[union-attr]

    @property
    def serial(self) -> str:
        if self.behind is not None:
            return self.behind.instance.serial_number
        return self.instance.serial_number if self.instance else self.reservation.serial_number  # type: ignore[union-attr]

    @property
    def hostname(self) -> str:
        return self.instance.hostname if self.instance else ""

    @property
    def name(self) -> str:
        if self.behind is not None:
            return self.behind.instance.name
        return self.instance.name if self.instance else f"{self.udi_pid}:{self.serial}"

    @property
    def product(self) -> str:
        if self.behind is not None:
            return self.behind.instance.product
        return self.instance.product if self.instance else self.udi_pid

    @property
    def product_tag(self) -> str:
        return f"regid.2019-03.com.cisco.{self.udi_pid},1.0"

    @property
    def display_name(self) -> str:
        return f"UDI_PID:{self.udi_pid}; UDI_SN:{self.serial}; "

    @property
    def status(self) -> str:
        if self.behind is not None:
            return self.behind.instance.status
        if self.reservation is not None:
            return device_status(self.reservation.status)
        assert self.instance is not None
        return str(self.instance.status)

    @property
    def registered(self) -> int | None:
        if self.instance is not None:
            return self.instance.registered_at
        return self.reservation.created_at if self.reservation else None

    @property
    def last_contact(self) -> int | None:
        if self.behind is not None:
            return self.behind.instance.last_contact_at
        if self.instance is not None:
            return self.instance.last_contact_at
        return self.reservation.confirmed_at or self.reservation.created_at if self.reservation else None

    @property
    def onprem(self) -> str | None:
        """The name of the SSM On-Prem the instance is registered to (None: registered here)."""
        return self.behind.onprem_name if self.behind is not None else None

    def sudi(self) -> dict[str, object]:
        return {"udiPid": self.udi_pid, "udiSerialNumber": self.serial}


def _squeeze(text: str) -> str:
    """A display name as typed: spaces and the trailing ';' do not matter."""
    return text.replace(" ", "").rstrip(";").lower()


def matches(row: DeviceRow, text: str) -> bool:
    """Cisco's ``instanceName`` search: the instance name, its host name, its display name
    (``UDI_PID:..; UDI_SN:..;``) or its serial number."""
    if text in (row.name, row.hostname, row.serial, f"{row.udi_pid}:{row.serial}"):
        return True
    return _squeeze(text) == _squeeze(row.display_name)


async def device_rows(store: Store, vas: Sequence[VirtualAccount], instance_name: str | None = None) -> list[DeviceRow]:

    def body(uow: UnitOfWork) -> list[DeviceRow]:
        rows: list[DeviceRow] = []
        for va in vas:
            names = {p.tag: display_name(p) for p in uow.pools.of(va.id)}
            for inst in uow.instances.page(va.id):
                usage = [(names.get(x.tag, x.tag), x.reported) for x in uow.usage.latest(inst.piid)]
                rows.append(DeviceRow(va, inst, None, usage))
            for res in uow.reservations.of(va.id):
                rows.append(DeviceRow(va, None, res, [(x.name, x.count) for x in res.licenses]))
            for b in uow.satellites.behind(va_id=va.id):
                rows.append(DeviceRow(va, None, None, [], b))
        return rows

    rows = await store.read(body)
    return [r for r in rows if matches(r, instance_name)] if instance_name else rows


def now_of(request: web.Request) -> datetime:
    return request.app[keys.CLOCK].now()
