"""An SSM On-Prem's link to the cloud SSM: its registration there and the state of its
synchronizations, kept in the store's settings (the database file is 0600, the ID key in it).

A link goes stale when the cloud no longer holds the registration (``stale``): the On-Prem then
registers again (``server.onprem.registration``).
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from server import deployment
from server.deployment import Kind
from server.store import Store, UnitOfWork
from shared import pki
from shared.clock import epoch, utc
from shared.errors import NotFound

_KEY = "onprem.link"


class Link(msgspec.Struct, kw_only=True):
    """This On-Prem's registration at the cloud and the state of its synchronizations."""

    cloud_url: str
    resolve: dict[str, str] = {}
    piid: str
    key_pem: str
    cert_pem: str
    account_domain: str
    virtual_account: str
    serial_number: str
    sequence: int = 0  # the last request built
    applied: int = 0  # the last response applied
    last_sync: int | None = None
    deadline: int | None = None
    last_error: str = ""
    last_error_code: str = ""
    last_error_at: int | None = None
    #: The name it registered under at the cloud (links written before it had one: "ssm-onprem").
    name: str = "ssm-onprem"


async def load_link(store: Store) -> Link | None:
    raw = await store.read(lambda uow: uow.settings.get(_KEY))
    return msgspec.json.decode(raw, type=Link) if raw else None


def save(uow: UnitOfWork, link: Link) -> None:
    uow.settings.set(_KEY, msgspec.json.encode(link).decode())


#: The fix of a verb of the On-Prem run on a cloud database.
ON_THE_CLOUD = (
    "give the On-Prem's database (--db); on the cloud, 'ssm-server sync status' lists the On-Prems registered "
    "to it and 'ssm-server sync import REQUEST --out RESPONSE' answers a Disconnected one's file"
)


async def require_link(store: Store, *, doing: str = "'sync status'") -> Link:
    """This On-Prem's link to the cloud.

    Raises:
        Conflict: ``cloud_database`` (``doing`` on a cloud SSM's database).
        NotFound: ``onprem_not_registered``.
    """
    await deployment.require(store, Kind.ONPREM, doing=doing, fix=ON_THE_CLOUD)
    link = await load_link(store)
    if link is None:
        raise NotFound(
            "this SSM On-Prem is not registered to a cloud SSM",
            code="onprem_not_registered",
            fix="register it with a token of the cloud's virtual account: "
            "'ssm-server onprem register TOKEN --cloud URL'",
        )
    return link


async def seed_onprem(store: Store, now: datetime) -> None:
    """The On-Prem's own local account (``server.deployment``: the store becomes an On-Prem's)."""
    await deployment.claim(store, Kind.ONPREM, now)


#: The cloud's refusals that mean this On-Prem's registration there is gone: it registers again.
GONE = frozenset({"instance_removed", "signer_unknown", "registration_expired"})


def stale(link: Link, t: int) -> str:
    """Why the link no longer stands at the cloud ('' while it may): the cloud refused the last
    synchronization as removed or unknown, the synchronization deadline passed (the cloud removes
    an On-Prem 90 days after its last synchronization), or the ID certificate expired."""
    if link.last_error_code in GONE:
        return f"the cloud refused its last synchronization ({link.last_error_code})"
    if link.deadline is not None and t >= link.deadline:
        return f"its synchronization deadline passed at {utc(link.deadline).isoformat()}"
    expires = pki.load_cert(link.cert_pem.encode()).not_valid_after_utc
    if t >= epoch(expires):
        return f"its ID certificate expired at {expires.isoformat()}"
    return ""


def again(cloud_url: str) -> str:
    """The fix that registers this On-Prem again."""
    return (
        "register this On-Prem again with a new token of the cloud's virtual account: "
        f"'ssm-server onprem register TOKEN --cloud {cloud_url}'"
    )
