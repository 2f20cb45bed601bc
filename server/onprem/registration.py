"""An SSM On-Prem registers to a cloud Smart Account with a token of the cloud (as a Satellite
does), under a name of its own and an ID key of its own; a stale registration is replaced."""

from __future__ import annotations

import secrets
import socket
import string
from datetime import datetime
from pathlib import Path

from server import deployment
from server.deployment import Kind
from server.onprem import cloud
from server.onprem.link import Link, load_link, save, stale
from server.store import Store, UnitOfWork
from shared import envelope, pki, sync
from shared.clock import epoch, utc
from shared.errors import Conflict
from shared.messages import Identity, Register, Registered, encode
from shared.states import LicenseType, UsageMode


def _serial() -> str:
    alnum = string.ascii_uppercase + string.digits
    return "OPM" + "".join(secrets.choice(alnum) for _ in range(8))


def default_name(hostname: str, serial: str) -> str:
    """The name an On-Prem registers under when none is given: its host's and its serial number
    (several On-Prems of one lab machine stay apart)."""
    host = hostname.split(".")[0] or "ssm"
    return f"{host}-onprem-{serial[-5:].lower()}"


async def register(
    store: Store,
    now: datetime,
    *,
    token: str,
    cloud_url: str,
    truststore: Path,
    resolve: dict[str, str],
    name: str | None = None,
    force: bool = False,
    hostname: str | None = None,
) -> Link:
    """Bind this On-Prem to the cloud account of ``token`` under ``name``.

    A registered On-Prem registers again when its link went stale (``stale``), or with ``force``:
    under the same serial number, so the cloud replaces a registration it still holds (carrying
    its usage) and registers anew one it removed; the new link replaces the old with an event.

    Raises:
        Conflict: ``onprem_already_registered`` (a link that still stands), ``cloud_database``.
    """
    await deployment.claim(
        store,
        Kind.ONPREM,
        now,
        doing="'onprem register'",
        fix="an On-Prem has a database of its own: --db var/onprem/ssm.db (new, or made by "
        "'ssm-server run --mode onprem')",
    )
    old = await load_link(store)
    why = stale(old, epoch(now)) if old is not None else ""
    if old is not None and not why and not force:
        synced = f"last synchronized {utc(old.last_sync).isoformat()}" if old.last_sync else "never synchronized"
        raise Conflict(
            f"this SSM On-Prem is already registered to cloud account {old.account_domain} / "
            f"{old.virtual_account} as {old.name} ({old.piid}; {synced})",
            code="onprem_already_registered",
            fix="synchronize it ('ssm-server sync now'; Disconnected: sync export / import); to bind it anew "
            "(another account or cloud), add --force; another On-Prem needs its own --db",
        )
    host = hostname or socket.gethostname()
    serial = old.serial_number if old is not None else _serial()
    label = name or (old.name if old is not None and old.name != "ssm-onprem" else default_name(host, serial))
    key = pki.new_key()
    csr = pki.make_csr(key, common_name=label, serial_number=serial)
    msg = Register(
        sent_at=epoch(now),
        nonce=envelope.new_nonce(),
        token=token,
        csr=csr.decode(),
        identity=Identity(
            instance_name=label,
            product=sync.ONPREM_PRODUCT,
            udi_pid=sync.ONPREM_PID,
            serial_number=serial,
            hostname=host,
            deployment_type=sync.ONPREM_PRODUCT,
            license_type=LicenseType.PERPETUAL,
            usage_mode=UsageMode.PRODUCTION,
        ),
        force=old is not None,
    )
    reply = await cloud.post(cloud_url, resolve, truststore, encode(msg), "application/json", msg.nonce)
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
        name=label,
    )
    where = f"cloud account {link.account_domain} / {link.virtual_account} as {link.name} ({link.piid})"

    def body(uow: UnitOfWork) -> None:
        save(uow, link)
        if old is None:
            uow.events.add(at=epoch(now), kind="onprem_registered", message=f"registered to {where}")
        else:
            uow.events.add(
                at=epoch(now),
                kind="onprem_reregistered",
                message=f"registered again to {where}, replacing {old.piid} "
                f"({why or 'forced'}); synchronizations start over",
            )

    await store.write(body)
    return link
