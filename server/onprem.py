"""SSM On-Prem's side of synchronization with the cloud SSM.

The On-Prem registers to a cloud Smart Account with a cloud token (as a Satellite does), keeping
an ID key of its own. A synchronization builds a ``SyncRequest`` (its product instances and the
total in-use count of each license, a sequence one higher than the last), sends it — over the
network in Connected mode, in a file a person carries in Disconnected mode — and applies the
``SyncResponse``: the cloud virtual account's entitlements become the purchased quantities of
the On-Prem's own pools.

The link (cloud URL, ID key, sequence numbers, last synchronization) is kept in the store's
settings (the database file is 0600).
"""

from __future__ import annotations

import functools
import secrets
import string
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import aiohttp
import msgspec

from plumbing.clients.device import OverrideResolver, ReplyVerifier, client_context
from server.store import Store, UnitOfWork
from shared import envelope, pki, sync
from shared.catalog import license_by_tag
from shared.clock import epoch, utc
from shared.errors import Conflict, NotFound, RemoteError, SmartLicensingError, Unavailable
from shared.messages import Identity, Register, Registered, SatelliteInstance, SyncRequest, SyncResponse, Usage, encode
from shared.states import LicenseType, UsageMode

_KEY = "onprem.link"
ONPREM_DOMAIN = "onprem.ssmlab.example"
ONPREM_ACCOUNT = "SSM On-Prem Account"


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


async def load_link(store: Store) -> Link | None:
    raw = await store.read(lambda uow: uow.settings.get(_KEY))
    return msgspec.json.decode(raw, type=Link) if raw else None


def _save(uow: UnitOfWork, link: Link) -> None:
    uow.settings.set(_KEY, msgspec.json.encode(link).decode())


async def require_link(store: Store) -> Link:
    link = await load_link(store)
    if link is None:
        raise NotFound(
            "this SSM On-Prem is not registered to a cloud SSM",
            code="onprem_not_registered",
            fix="register it with a token of the cloud's virtual account: "
            "'ssm-server onprem register TOKEN --cloud URL'",
        )
    return link


async def seed_onprem(store: Store, now: datetime) -> bool:
    """The On-Prem's own local account, with a DEFAULT virtual account and no licenses until the
    first synchronization brings the cloud's entitlements."""

    def body(uow: UnitOfWork) -> bool:
        if uow.accounts.all():
            return False
        account_id = uow.accounts.add(domain=ONPREM_DOMAIN, name=ONPREM_ACCOUNT, export_control_allowed=True, now=now)
        uow.accounts.add_virtual_account(
            account_id=account_id, name="DEFAULT", description="Local virtual account", is_default=True, now=now
        )
        uow.events.add(at=epoch(now), kind="account_created", message=f"{ONPREM_ACCOUNT} ({ONPREM_DOMAIN}) seeded")
        return True

    return await store.write(body)


# -- the network ---------------------------------------------------------------------------------


async def _post(
    link_url: str, resolve: dict[str, str], truststore: Path, body: bytes, ctype: str, nonce: str
) -> object:
    connector = aiohttp.TCPConnector(ssl=client_context(truststore), resolver=OverrideResolver(resolve))
    try:
        async with (
            aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session,
            session.post(link_url, data=body, headers={"Content-Type": ctype}) as resp,
        ):
            text = await resp.text()
            if resp.status == 200 and resp.content_type == envelope.CONTENT_TYPE:
                return ReplyVerifier.from_file(truststore).verify(text.strip(), nonce)
            try:
                err = msgspec.json.decode(text)
            except msgspec.DecodeError:
                err = {}
            raise RemoteError(
                err.get("message", f"the cloud SSM answered HTTP {resp.status}") if isinstance(err, dict) else text,
                code=err.get("error", f"http_{resp.status}") if isinstance(err, dict) else f"http_{resp.status}",
                fix=err.get("fix", "") if isinstance(err, dict) else "",
                remote_status=resp.status,
            )
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise Unavailable(
            f"cannot reach the cloud SSM at {link_url}: {exc}",
            code="cloud_unreachable",
            fix="check --cloud, the resolve mapping and that the cloud SSM runs; or use "
            "Disconnected mode (sync export / import)",
        ) from exc


def _serial() -> str:
    alnum = string.ascii_uppercase + string.digits
    return "OPM" + "".join(secrets.choice(alnum) for _ in range(8))


async def register(
    store: Store,
    now: datetime,
    *,
    token: str,
    cloud_url: str,
    truststore: Path,
    resolve: dict[str, str],
    hostname: str = "ssm-onprem.lab.local",
) -> Link:
    """Bind this On-Prem to the cloud account of ``token``."""
    if await load_link(store) is not None:
        raise Conflict(
            "this SSM On-Prem is already registered to a cloud SSM",
            code="onprem_already_registered",
            fix="use another --db for another On-Prem",
        )
    key = pki.new_key()
    serial = _serial()
    csr = pki.make_csr(key, common_name="ssm-onprem", serial_number=serial)
    msg = Register(
        sent_at=epoch(now),
        nonce=envelope.new_nonce(),
        token=token,
        csr=csr.decode(),
        identity=Identity(
            instance_name="ssm-onprem",
            product=sync.ONPREM_PRODUCT,
            udi_pid=sync.ONPREM_PID,
            serial_number=serial,
            hostname=hostname,
            deployment_type=sync.ONPREM_PRODUCT,
            license_type=LicenseType.PERPETUAL,
            usage_mode=UsageMode.PRODUCTION,
        ),
    )
    reply = await _post(cloud_url, resolve, truststore, encode(msg), "application/json", msg.nonce)
    assert isinstance(reply, Registered)
    link = Link(
        cloud_url=cloud_url,
        resolve=resolve,
        piid=reply.piid,
        key_pem=pki.key_pem(key).decode(),
        cert_pem=reply.id_cert,
        account_domain=reply.smart_account_domain,
        virtual_account=reply.virtual_account,
        serial_number=serial,
    )

    def body(uow: UnitOfWork) -> None:
        _save(uow, link)
        uow.events.add(
            at=epoch(now),
            kind="onprem_registered",
            message=f"registered to cloud account {link.account_domain} / {link.virtual_account} as {link.piid}",
        )

    await store.write(body)
    return link


# -- one synchronization ---------------------------------------------------------------------------


async def build_request(store: Store, now: datetime) -> tuple[Link, SyncRequest]:
    """The next request (its sequence is persisted first, so no two requests share one)."""
    link = await require_link(store)

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
    await store.write(functools.partial(_save, link=link))
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
    """The cloud's entitlements become this On-Prem's purchased quantities.

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
        link, applied=reply.sequence, last_sync=epoch(now), deadline=reply.deadline, last_error=""
    )

    def body(uow: UnitOfWork) -> None:
        account = uow.accounts.by_domain(ONPREM_DOMAIN) or uow.accounts.all()[0]
        va = uow.accounts.virtual_account_named(account.id, "DEFAULT")
        assert va is not None
        for e in reply.entitlements:
            uow.pools.set_quantity(
                va_id=va.id,
                name=e.name,
                license_type=e.license_type,
                usage_mode=e.usage_mode,
                tag=e.tag,
                quantity=e.purchased,
            )
        _save(uow, link)
        uow.events.add(
            at=epoch(now),
            kind="onprem_synchronized",
            message=f"synchronized with the cloud (sequence {reply.sequence}): "
            f"{len(reply.entitlements)} entitlement(s) applied; next deadline "
            f"{utc(reply.deadline).isoformat()}",
        )

    await store.write(body)
    return link


@dataclass(frozen=True)
class SyncResult:
    sequence: int
    entitlements: int
    deadline: str


async def sync_now(store: Store, now: datetime, *, truststore: Path) -> SyncResult:
    """Connected mode: one synchronization over the network."""
    link, request = await build_request(store, now)
    try:
        reply = await _post(
            link.cloud_url,
            link.resolve,
            truststore,
            _sign(link, request).encode(),
            envelope.CONTENT_TYPE,
            request.nonce,
        )
    except SmartLicensingError as err:
        failed = msgspec.structs.replace(link, last_error=f"{err.code}: {err.message}")
        await store.write(functools.partial(_save, link=failed))
        raise
    assert isinstance(reply, SyncResponse)
    link = await apply_response(store, reply, now)
    return SyncResult(reply.sequence, len(reply.entitlements), utc(reply.deadline).isoformat())


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
    link = await require_link(store)
    sync.check_account(f.account_domain, link.account_domain)
    reply = ReplyVerifier.from_file(truststore).verify(f.jws, None)
    if not isinstance(reply, SyncResponse):
        raise Conflict(
            "the file's envelope does not match its signed content",
            code="sync_file_tampered",
            fix="carry the file exactly as the cloud wrote it",
        )
    sync.check_envelope(f, account_domain=reply.account_domain, onprem=reply.piid, sequence=reply.sequence)
    return await apply_response(store, reply, now)
