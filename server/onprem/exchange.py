"""One synchronization of an SSM On-Prem with the cloud: the request (its product instances and
the total in-use count of each license, a sequence one higher than the last), carried over the
network (Connected: ``sync_now``) or in a file a person carries (Disconnected: ``export_request``,
``import_response``), and the answer applied (``server.onprem.pools``)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import msgspec

from plumbing.clients.device import ReplyVerifier
from server import deployment
from server.deployment import Kind, SyncMode
from server.onprem import cloud, pools
from server.onprem.link import GONE, ON_THE_CLOUD, Link, again, require_link, save
from server.store import Store, UnitOfWork
from shared import envelope, pki, sync
from shared.catalog import license_by_tag
from shared.clock import epoch, utc
from shared.errors import Conflict, RemoteError, SmartLicensingError
from shared.messages import SatelliteInstance, SyncRequest, SyncResponse, Usage, encode


async def build_request(store: Store, now: datetime) -> tuple[Link, SyncRequest]:
    """The next request (its sequence is persisted first, so no two requests share one)."""
    link = await require_link(store, doing="a synchronization")

    def inventory(uow: UnitOfWork) -> tuple[list[SatelliteInstance], dict[str, int]]:
        vas = uow.accounts.all_virtual_accounts()
        instances = []
        totals: dict[str, int] = {}
        for inst in uow.instances.page():
            va = vas.get(inst.virtual_account_id)
            instances.append(
                SatelliteInstance(
                    piid=inst.piid,
                    name=inst.name,
                    product=inst.product,
                    udi_pid=inst.udi_pid,
                    serial_number=inst.serial_number,
                    virtual_account=va.name if va else "?",
                    status=str(inst.status),
                    last_contact_at=inst.last_contact_at,
                )
            )
            for row in uow.usage.latest(inst.piid):
                totals[row.tag] = totals.get(row.tag, 0) + row.reported
        return instances, totals

    instances, totals = await store.read(inventory)
    link = msgspec.structs.replace(link, sequence=link.sequence + 1)
    await store.write(functools.partial(save, link=link))
    request = SyncRequest(
        sent_at=epoch(now),
        nonce=envelope.new_nonce(),
        piid=link.piid,
        sequence=link.sequence,
        account_domain=link.account_domain,
        instances=instances,
        usage=[Usage(tag=tag, peak=count, name=_name(tag)) for tag, count in sorted(totals.items())],
    )
    return link, request


def _name(tag: str) -> str:
    key = license_by_tag(tag)
    return key.name if key else ""


def _sign(link: Link, request: SyncRequest) -> str:
    return envelope.sign_request(encode(request), pki.load_key(link.key_pem.encode()), piid=link.piid, want_chain=True)


async def apply_response(store: Store, reply: SyncResponse, now: datetime) -> Link:
    """The cloud's pools become this On-Prem's (purchased, in use, Out of Compliance) and its
    instances are judged again against them (``server.onprem.pools``).

    Raises:
        Conflict: ``sync_wrong_account``, ``sync_replayed`` (not newer than the last applied, or
            not the answer to the latest request).
    """
    link = await require_link(store)
    sync.check_account(reply.account_domain, link.account_domain)
    if reply.piid != link.piid:
        raise Conflict(
            f"the response is for On-Prem {reply.piid}, this is {link.piid}",
            code="sync_wrong_onprem",
            fix="import it on the On-Prem that exported the request",
        )
    sync.check_sequence(reply.sequence, link.applied)
    if reply.sequence != link.sequence:
        raise Conflict(
            f"the response answers request {reply.sequence}, but the latest request exported is {link.sequence}",
            code="sync_replayed",
            fix="carry the response to the latest request (or export a new one and start the round again)",
        )
    link = msgspec.structs.replace(
        link,
        applied=reply.sequence,
        last_sync=epoch(now),
        deadline=reply.deadline,
        last_error="",
        last_error_code="",
    )

    def body(uow: UnitOfWork) -> None:
        t = epoch(now)
        changed = pools.apply(uow, reply.entitlements, t)
        save(uow, link)
        uow.events.add(
            at=t,
            kind="onprem_synchronized",
            message=f"synchronized with the cloud (sequence {reply.sequence}): "
            f"{len(reply.entitlements)} entitlement(s) applied, {changed} product instance verdict(s) changed; "
            f"next deadline {utc(reply.deadline).isoformat()}",
        )

    await store.write(body)
    return link


@dataclass(frozen=True)
class SyncResult:
    sequence: int
    entitlements: int
    deadline: str


async def sync_now(store: Store, now: datetime, *, truststore: Path) -> SyncResult:
    """Connected mode: one synchronization over the network.

    Raises:
        Conflict: ``sync_disconnected`` (a Disconnected On-Prem carries files instead),
            ``cloud_database``; and the refusals of the exchange.
    """
    found = await deployment.require(store, Kind.ONPREM, doing="a synchronization over the network", fix=ON_THE_CLOUD)
    if found.sync is SyncMode.DISCONNECTED:
        raise Conflict(
            "this SSM On-Prem is in Disconnected mode: it never synchronizes over the network",
            code="sync_disconnected",
            fix="carry files: 'ssm-server sync export --out request.json' here, 'ssm-server sync import request.json "
            "--out response.json' on the cloud, then 'ssm-server sync import response.json' here; or run it with "
            "--sync connected",
        )
    link, request = await build_request(store, now)
    try:
        reply = await cloud.post(
            link.cloud_url,
            link.resolve,
            truststore,
            _sign(link, request).encode(),
            envelope.CONTENT_TYPE,
            request.nonce,
        )
        assert isinstance(reply, SyncResponse)
        await apply_response(store, reply, now)
    except SmartLicensingError as err:
        await store.write(functools.partial(_failed, link=link, err=err, t=epoch(now)))
        if err.code in GONE:  # the cloud's fix speaks to a product instance; this is an On-Prem
            raise RemoteError(
                err.message, code=err.code, fix=again(link.cloud_url), remote_status=getattr(err, "remote_status", 0)
            ) from err
        raise
    return SyncResult(reply.sequence, len(reply.entitlements), utc(reply.deadline).isoformat())


def _failed(uow: UnitOfWork, *, link: Link, err: SmartLicensingError, t: int) -> None:
    """A synchronization that failed: kept on the link (``sync status``) and in the event log."""
    save(
        uow,
        msgspec.structs.replace(
            link, last_error=f"{err.code}: {err.message}", last_error_code=err.code, last_error_at=t
        ),
    )
    uow.events.add(
        at=t,
        kind="onprem_sync_failed",
        message=f"synchronization {link.sequence} with the cloud failed: {err.code}: {err.message}",
    )


async def export_request(store: Store, now: datetime) -> bytes:
    """Disconnected mode: the request file a person carries to the cloud."""
    link, request = await build_request(store, now)
    return sync.write_file(
        direction="request",
        account_domain=link.account_domain,
        onprem=link.piid,
        sequence=request.sequence,
        jws=_sign(link, request),
    )


async def import_response(store: Store, now: datetime, data: bytes, *, truststore: Path) -> Link:
    """Disconnected mode: apply the response file the cloud wrote (signature checked first)."""
    f = sync.read_file(data, expect="response")
    link = await require_link(store, doing="importing a sync response")
    sync.check_account(f.account_domain, link.account_domain)
    reply = ReplyVerifier.from_file(truststore).verify(f.jws, None)
    if not isinstance(reply, SyncResponse) or reply.sequence != f.sequence:
        raise Conflict(
            "the file's envelope does not match its signed content",
            code="sync_file_tampered",
            fix="carry the file exactly as the cloud wrote it",
        )
    return await apply_response(store, reply, now)
