"""A product instance's registration on the SSM: register (or reregister), renew the ID
certificate, deregister, and the administrator's "remove product instance".

Each is one transaction, committed before it is answered. Usage follows the instance: released
to its pools when it leaves, carried to its (possibly new) virtual account when it reregisters
(``server.books``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from server import books
from server.context import Context
from server.identity import Authenticated, spki
from server.store import Store, UnitOfWork
from server.store.rows import Account, Instance, VirtualAccount
from shared import envelope, ledger, pki, tokens
from shared.clock import epoch
from shared.errors import Conflict, NotFound, Unauthorized
from shared.logging import get_logger
from shared.messages import Deregister, Deregistered, Register, Registered, RegistrationRenewed, RenewRegistration
from shared.states import ExportControl
from shared.tokens import TokenRecord

log = get_logger("ssm.registration")


def _issue(
    ctx: Context, csr: x509.CertificateSigningRequest, piid: str, serial: str, now: datetime
) -> x509.Certificate:
    return pki.issue_id_certificate(
        ctx.pki.issuer, csr, piid=piid, serial_number=serial, not_before=now, validity=ctx.policy.id_cert_validity
    )


def _public(csr: x509.CertificateSigningRequest) -> bytes:
    public = csr.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    return spki(public)


async def register(ctx: Context, msg: Register) -> Registered:
    """Register (or, with ``force``, reregister) a product instance with a token.

    Raises:
        TokenRefused: the token's refusals (``shared.tokens.check_usable``).
        Conflict: ``already_registered`` without ``force``.
    """
    now = ctx.clock.now()
    envelope.check_fresh(msg.sent_at, now, ctx.policy.skew_window(ctx.clock.rate))
    parsed = tokens.parse(msg.token)
    csr = pki.load_csr(msg.csr)
    ident = msg.identity
    piid = str(uuid.uuid4())
    cert = _issue(ctx, csr, piid, ident.serial_number, now)
    cert_pem = pki.cert_pem(cert).decode()
    t = epoch(now)

    def body(uow: UnitOfWork) -> tuple[TokenRecord, VirtualAccount, Account, Instance]:
        # A register request is replay-protected like a signed one: its nonce is remembered (per
        # token) with the registration, so a captured request sent again is refused.
        if not uow.instances.remember_nonce(f"register:{parsed.token_id}", msg.nonce, msg.sent_at):
            raise Unauthorized(
                f"register request nonce {msg.nonce} was already used (a replay)",
                code="request_replayed",
                fix="send each request once with a fresh nonce",
            )
        record = tokens.check_usable(uow.tokens.get(parsed.token_id), parsed, now)
        va = uow.accounts.virtual_account(record.virtual_account_id)
        account = uow.accounts.get(va.account_id) if va else None
        assert va is not None and account is not None
        existing = uow.instances.active_by_sudi(ident.udi_pid, ident.serial_number)
        carried: list[ledger.Line] = []
        if existing is not None:
            if not msg.force:
                raise Conflict(
                    f"a product instance with PID {ident.udi_pid} and serial number "
                    f"{ident.serial_number} is already registered (piid {existing.piid})",
                    code="already_registered",
                    fix="reregister ('smart-agent reregister TOKEN' sends force), or remove the "
                    f"instance on the SSM first ('ssm-server instance remove {existing.piid}')",
                )
            uow.instances.mark_removed(existing.piid, t, "reregistered")
            carried = books.release(uow, existing, t)
            moved = f" and moved to virtual account {va.name}" if existing.virtual_account_id != va.id else ""
            uow.events.add(
                at=t,
                kind="instance_reregistered",
                va_id=existing.virtual_account_id,
                piid=existing.piid,
                message=f"{existing.name} reregistered as {piid}{moved}",
            )
        instance = Instance(
            piid=piid,
            virtual_account_id=va.id,
            name=ident.instance_name,
            product=ident.product,
            udi_pid=ident.udi_pid,
            serial_number=ident.serial_number,
            hostname=ident.hostname,
            deployment_type=ident.deployment_type,
            license_type=ident.license_type,
            usage_mode=ident.usage_mode,
            software_version=ident.software_version,
            export_controlled=record.export_controlled,
            token_id=record.token_id,
            public_key=_public(csr),
            cert_pem=cert_pem,
            cert_serial=format(cert.serial_number, "x"),
            registered_at=t,
            cert_issued_at=t,
            cert_expires_at=epoch(cert.not_valid_after_utc),
            authorized_at=None,
            last_contact_at=t,
            removed_at=None,
            next_check_at=ctx.next_check(registered_at=t, authorized_at=None, contact=t),
        )
        uow.instances.add(instance)
        if carried:
            books.carry(uow, carried, instance, t)
        uow.tokens.use(record.token_id)
        uow.events.add(
            at=t,
            kind="instance_registered",
            va_id=va.id,
            piid=piid,
            message=f"{ident.instance_name} ({ident.product}, SN {ident.serial_number}) "
            f"registered to {account.name} / {va.name} with token {record.token_id}",
        )
        return record, va, account, instance

    record, va, account, instance = await ctx.store.write(body)
    ctx.identity.prime(instance)
    ctx.clock.poke(ctx.watch_changed)
    log.info("instance_registered", piid=piid, instance=ident.instance_name, va=va.name, token_id=record.token_id)
    return Registered(
        in_reply_to=msg.nonce,
        issued_at=t,
        piid=piid,
        id_cert=cert_pem,
        chain=ctx.issuer_chain(),
        smart_account=account.name,
        smart_account_domain=account.domain,
        virtual_account=va.name,
        export_controlled=ExportControl.ALLOWED if record.export_controlled else ExportControl.NOT_ALLOWED,
        registered_at=t,
        cert_expires_at=epoch(cert.not_valid_after_utc),
    )


async def renew_registration(ctx: Context, auth: Authenticated) -> RegistrationRenewed:
    """Issue a new ID certificate for a new key; the old key stays valid until the new one is used."""
    msg = auth.msg
    assert isinstance(msg, RenewRegistration)
    now = ctx.clock.now()
    csr = pki.load_csr(msg.csr)
    cert = _issue(ctx, csr, auth.instance.piid, auth.instance.serial_number, now)
    cert_pem = pki.cert_pem(cert).decode()
    t = epoch(now)

    def body(uow: UnitOfWork) -> None:
        inst = ctx.identity.remember(uow, auth)
        uow.instances.renew_certificate(
            inst.piid,
            public_key=_public(csr),
            cert_pem=cert_pem,
            cert_serial=format(cert.serial_number, "x"),
            issued_at=t,
            expires_at=epoch(cert.not_valid_after_utc),
        )
        uow.instances.touch(inst.piid, t, next_check_at=inst.next_check_at)
        uow.events.add(
            at=t,
            kind="registration_renewed",
            va_id=inst.virtual_account_id,
            piid=inst.piid,
            message=f"{inst.name}: ID certificate renewed until {cert.not_valid_after_utc.isoformat()}",
        )

    await ctx.store.write(body)
    ctx.identity.forget(auth.instance.piid)
    return RegistrationRenewed(
        in_reply_to=msg.nonce,
        issued_at=t,
        id_cert=cert_pem,
        chain=ctx.issuer_chain(),
        cert_expires_at=epoch(cert.not_valid_after_utc),
    )


async def deregister(ctx: Context, auth: Authenticated) -> Deregistered:
    """Release all the instance's entitlements at once and forget it."""
    msg = auth.msg
    assert isinstance(msg, Deregister)
    t = epoch(ctx.clock.now())

    def body(uow: UnitOfWork) -> list[str]:
        inst = ctx.identity.remember(uow, auth)
        uow.instances.mark_removed(inst.piid, t, "deregistered")
        released = books.release(uow, inst, t)
        uow.events.add(
            at=t,
            kind="instance_deregistered",
            va_id=inst.virtual_account_id,
            piid=inst.piid,
            message=f"{inst.name} deregistered; its licenses returned to the virtual account",
        )
        return [line.tag for line in released]

    released = await ctx.store.write(body)
    ctx.identity.forget(auth.instance.piid)
    return Deregistered(in_reply_to=msg.nonce, issued_at=t, released=released)


async def remove_instance(store: Store, piid: str, now: datetime, *, by: str) -> Instance:
    """The admin's "remove product instance": its licenses are released; it must register again.

    Raises:
        NotFound: ``instance_not_found``.
        Conflict: ``instance_already_removed``.
    """
    t = epoch(now)

    def body(uow: UnitOfWork) -> Instance:
        instance = uow.instances.get(piid)
        if instance is None:
            raise NotFound(
                f"no product instance {piid!r}",
                code="instance_not_found",
                fix="list instances with 'ssm-server instance list'",
            )
        if instance.removed_at is not None:
            raise Conflict(
                f"product instance {piid} was already removed",
                code="instance_already_removed",
                fix="nothing to do; list instances with 'ssm-server instance list'",
            )
        uow.instances.mark_removed(piid, t, "removed")
        books.release(uow, instance, t)
        uow.events.add(
            at=t,
            kind="instance_removed",
            va_id=instance.virtual_account_id,
            piid=piid,
            message=f"{instance.name} removed by {by}; its licenses returned to the virtual account",
        )
        return instance

    return await store.write(body)


def transfer(uow: UnitOfWork, instance: Instance, target: VirtualAccount, at: int) -> None:
    """Move a registered instance to another virtual account of its Smart Account, its usage with it."""
    lines = books.release(uow, instance, at)
    uow.instances.move(instance.piid, target.id)
    moved = uow.instances.get(instance.piid)
    assert moved is not None
    books.carry(uow, lines, moved, at)
    uow.events.add(
        at=at,
        kind="instance_transferred",
        va_id=target.id,
        piid=instance.piid,
        message=f"{instance.name} transferred to virtual account {target.name}",
    )
