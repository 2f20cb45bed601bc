"""What kind of SSM a database belongs to: a cloud SSM, or an SSM On-Prem and how it synchronizes.

The kind is a property of the STORE, not of each command: it is written when the database is
first used (``ssm-server run --mode``, ``onprem register``, the first verb that seeds an account)
and read by every command after. A verb that needs the other kind refuses with
``cloud_database`` or ``onprem_database`` (and a fix) instead of, say, seeding the cloud's lab
account into an On-Prem. An On-Prem's synchronization mode (Connected: over the network;
Disconnected: files carried by hand) is kept beside it, set by ``ssm-server run --sync``, so the
command line knows it too.

Each kind starts with its own account (``seed``): the cloud the lab Smart Account with licenses,
an On-Prem its local account, empty until the first synchronization. Databases written before
the kind was stored are recognised by that account.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import msgspec

from server.accounts import LAB_DOMAIN, seed_lab
from server.store import Store, UnitOfWork
from shared.clock import epoch
from shared.errors import Conflict

_KEY = "deployment"
ONPREM_DOMAIN = "onprem.ssmlab.example"
ONPREM_ACCOUNT = "SSM On-Prem Account"


class Kind(StrEnum):
    CLOUD = "cloud"
    ONPREM = "onprem"


class SyncMode(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


class Deployment(msgspec.Struct, frozen=True):
    kind: Kind
    #: An On-Prem's synchronization (a cloud SSM keeps the default and never reads it).
    sync: SyncMode = SyncMode.CONNECTED

    def describe(self) -> str:
        if self.kind is Kind.CLOUD:
            return "a cloud SSM's"
        return f"an SSM On-Prem's ({self.sync.title()} mode)"


def read(uow: UnitOfWork) -> Deployment | None:
    """The store's kind; None for a database no command has used yet."""
    raw = uow.settings.get(_KEY)
    if raw:
        return msgspec.json.decode(raw, type=Deployment)
    # Written before the kind was stored: the account each kind seeds says which it is.
    if uow.accounts.by_domain(ONPREM_DOMAIN) is not None:
        return Deployment(Kind.ONPREM)
    if uow.accounts.by_domain(LAB_DOMAIN) is not None:
        return Deployment(Kind.CLOUD)
    return None


async def load(store: Store) -> Deployment | None:
    return await store.read(read)


def mismatch(found: Deployment, wanted: Kind, doing: str, fix: str) -> Conflict:
    """The refusal of ``doing`` (a verb, quoted) on a database of the other kind."""
    needs = "a cloud SSM" if wanted is Kind.CLOUD else "an SSM On-Prem"
    return Conflict(
        f"this database is {found.describe()}; {doing} is for {needs}",
        code="cloud_database" if found.kind is Kind.CLOUD else "onprem_database",
        fix=fix,
    )


async def require(store: Store, wanted: Kind, *, doing: str, fix: str) -> Deployment:
    """The store's deployment, which must be ``wanted`` (a new database is taken as one).

    Raises:
        Conflict: ``cloud_database`` / ``onprem_database``.
    """
    found = await load(store)
    if found is not None and found.kind is not wanted:
        raise mismatch(found, wanted, doing, fix)
    return found or Deployment(wanted)


async def claim(
    store: Store, kind: Kind, now: datetime, *, sync: SyncMode | None = None, doing: str = "", fix: str = ""
) -> Deployment:
    """Make the store a ``kind`` SSM (written on first use; ``sync``, when given, replaces an
    On-Prem's mode) and seed its account. ``doing`` and ``fix`` word the refusal.

    Raises:
        Conflict: ``cloud_database`` / ``onprem_database`` when it is the other kind.
    """

    def body(uow: UnitOfWork) -> Deployment:
        found = read(uow)
        if found is not None and found.kind is not kind:
            raise mismatch(
                found,
                kind,
                doing or f"'ssm-server run --mode {kind}'",
                fix
                or f"run it as it is (--mode {found.kind}, or leave --mode out), or give the {kind} SSM "
                "a --db of its own",
            )
        chosen = Deployment(kind, sync or (found.sync if found else SyncMode.CONNECTED))
        if chosen != found or uow.settings.get(_KEY) is None:
            uow.settings.set(_KEY, msgspec.json.encode(chosen).decode())
        if kind is Kind.ONPREM:
            _seed_onprem(uow, now)
        return chosen

    chosen = await store.write(body)
    if kind is Kind.CLOUD:
        await seed_lab(store, now)
    return chosen


def _seed_onprem(uow: UnitOfWork, now: datetime) -> None:
    """The On-Prem's own local account, with a DEFAULT virtual account and no licenses until the
    first synchronization brings the cloud's entitlements."""
    if uow.accounts.all():
        return
    account_id = uow.accounts.add(domain=ONPREM_DOMAIN, name=ONPREM_ACCOUNT, export_control_allowed=True, now=now)
    uow.accounts.add_virtual_account(
        account_id=account_id, name="DEFAULT", description="Local virtual account", is_default=True, now=now
    )
    uow.events.add(at=epoch(now), kind="account_created", message=f"{ONPREM_ACCOUNT} ({ONPREM_DOMAIN}) seeded")


async def seed(store: Store, now: datetime) -> Deployment:
    """Seed the account of the store's kind (a new database becomes a cloud SSM, as it always did)."""
    found = await load(store)
    return await claim(store, found.kind if found else Kind.CLOUD, now)
