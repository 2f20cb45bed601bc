"""The SSM side of the device plane: registration, signed requests and their replies.

``Registry.register`` turns a token, an identity and a CSR into a product instance with an ID
certificate. ``Registry.handle_signed`` verifies a signed request (known signer, valid
signature, fresh timestamp, unseen nonce) and dispatches it. Every change is committed before
the reply is signed and returned. Replies are compact JWS signed with the SSM's
response-signing key (ES256), carrying the signing chain in ``x5c``.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from datetime import datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from server.pki_files import LabPki
from server.queries import Instance, Queries
from server.store import Store
from shared import envelope, pki, tokens
from shared.catalog import license_by_tag
from shared.clock import AnyClock, epoch, utc
from shared.errors import Conflict, Forbidden, Unauthorized
from shared.logging import get_logger
from shared.messages import (
    Authorization,
    Authorize,
    Deregister,
    EntitlementGrant,
    Register,
    Registered,
    RenewRegistration,
    Reply,
    ReportUsage,
    SignedRequest,
    decode_signed_request,
    encode,
)
from shared.policy import Policy
from shared.states import EntitlementStatus, ExportControl

log = get_logger("ssm.registry")

_KEY_CACHE_SIZE = 200_000


class Registry:
    """Device-plane operations of one SSM."""

    def __init__(self, *, store: Store, clock: AnyClock, policy: Policy, lab_pki: LabPki) -> None:
        self.store = store
        self.clock = clock
        self.policy = policy
        self.pki = lab_pki
        self._sign_chain = (lab_pki.signing.cert, *lab_pki.signing.chain)
        # piid -> (cert serial, public key): loading a key costs more than verifying with it.
        self._keys: OrderedDict[str, tuple[str, ec.EllipticCurvePublicKey]] = OrderedDict()

    # -- replies ---------------------------------------------------------------------------------
    def sign(self, reply: Reply) -> str:
        return envelope.sign_reply(encode(reply), self.pki.signing.key, self._sign_chain)

    # -- register --------------------------------------------------------------------------------
    async def register(self, msg: Register) -> Registered:
        """Register (or, with ``force``, reregister) a product instance with a token."""
        now = self.clock.now()
        envelope.check_fresh(msg.sent_at, now, self.policy.skew_window(self.clock.rate))
        parsed = tokens.parse(msg.token)
        csr = pki.load_csr(msg.csr)
        ident = msg.identity
        piid = str(uuid.uuid4())
        cert = pki.issue_id_certificate(
            self.pki.issuer,
            csr,
            piid=piid,
            serial_number=ident.serial_number,
            not_before=now,
            validity=self.policy.id_cert_validity,
        )
        public = csr.public_key()
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        async with self.store.transaction() as tx:
            record = tokens.check_usable(await tx.token(parsed.token_id), parsed, now)
            va = await tx.virtual_account(record.virtual_account_id)
            account = await tx.account(va.account_id) if va else None
            assert va is not None and account is not None
            existing = await tx.active_instance_by_sudi(ident.udi_pid, ident.serial_number)
            if existing is not None:
                if not msg.force:
                    raise Conflict(
                        f"a product instance with PID {ident.udi_pid} and serial number "
                        f"{ident.serial_number} is already registered (piid {existing.piid})",
                        code="already_registered",
                        fix="reregister ('smart-agent reregister TOKEN' sends force), or remove the "
                        "instance on the SSM first ('ssm-server instance remove PIID')",
                    )
                await tx.mark_removed(existing.piid, now)
                moved = existing.virtual_account_id != va.id
                await tx.add_event(
                    at=now,
                    kind="instance_reregistered",
                    va_id=existing.virtual_account_id,
                    piid=existing.piid,
                    message=f"{existing.name} reregistered as {piid}"
                    + (f" and moved to virtual account {va.name}" if moved else ""),
                )
            t = epoch(now)
            await tx.insert_instance(
                Instance(
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
                    public_key=der,
                    cert_pem=pki.cert_pem(cert).decode(),
                    cert_serial=format(cert.serial_number, "x"),
                    registered_at=t,
                    cert_issued_at=t,
                    cert_expires_at=epoch(cert.not_valid_after_utc),
                    authorized_at=None,
                    last_contact_at=t,
                    removed_at=None,
                )
            )
            await tx.use_token(record.token_id)
            await tx.add_event(
                at=now,
                kind="instance_registered",
                va_id=va.id,
                piid=piid,
                message=f"{ident.instance_name} ({ident.product}, SN {ident.serial_number}) "
                f"registered to {account.name} / {va.name} with token {record.token_id}",
            )
        log.info("instance_registered", piid=piid, instance=ident.instance_name, va=va.name, token_id=record.token_id)
        return Registered(
            in_reply_to=msg.nonce,
            issued_at=epoch(now),
            piid=piid,
            id_cert=pki.cert_pem(cert).decode(),
            chain=[pki.cert_pem(self.pki.issuer.cert).decode()],
            smart_account=account.name,
            smart_account_domain=account.domain,
            virtual_account=va.name,
            export_controlled=ExportControl.ALLOWED if record.export_controlled else ExportControl.NOT_ALLOWED,
            registered_at=epoch(now),
            cert_expires_at=epoch(cert.not_valid_after_utc),
        )

    # -- signed requests -------------------------------------------------------------------------
    async def _public_key(self, instance: Instance) -> ec.EllipticCurvePublicKey:
        cached = self._keys.get(instance.piid)
        if cached and cached[0] == instance.cert_serial:
            self._keys.move_to_end(instance.piid)
            return cached[1]
        key = serialization.load_der_public_key(instance.public_key)
        assert isinstance(key, ec.EllipticCurvePublicKey)
        self._keys[instance.piid] = (instance.cert_serial, key)
        if len(self._keys) > _KEY_CACHE_SIZE:
            self._keys.popitem(last=False)
        return key

    async def authenticate(self, body: str) -> tuple[Instance, SignedRequest]:
        """Verify a signed request: known signer, valid signature, fresh, ID cert valid.

        Raises:
            Unauthorized: ``signer_unknown``, ``signature_invalid``, ``signer_mismatch``,
                ``request_stale``, ``registration_expired``.
            Forbidden: ``instance_removed``.
        """
        piid = envelope.request_signer(body)
        instance = await self.store.read.instance(piid)
        if instance is None:
            raise Unauthorized(
                f"no product instance {piid!r} is registered with this SSM",
                code="signer_unknown",
                fix="register the product instance ('smart-agent register TOKEN'); if it was "
                "registered with another SSM, point the agent's transport URL there",
            )
        payload = envelope.verify(body, await self._public_key(instance))
        msg = decode_signed_request(payload)
        if msg.piid != piid:
            raise Unauthorized(
                f"the request is signed by {piid} but speaks for {msg.piid}",
                code="signer_mismatch",
                fix="each product instance signs only its own requests",
            )
        now = self.clock.now()
        envelope.check_fresh(msg.sent_at, now, self.policy.skew_window(self.clock.rate))
        if instance.removed_at is not None:
            raise Forbidden(
                f"product instance {piid} was removed from the SSM at {utc(instance.removed_at).isoformat()}",
                code="instance_removed",
                fix="register it again with a new token ('smart-agent register TOKEN')",
            )
        if epoch(now) >= instance.cert_expires_at:
            raise Unauthorized(
                f"the ID certificate of {piid} expired at {utc(instance.cert_expires_at).isoformat()}",
                code="registration_expired",
                fix="reregister the product instance with a new token ('smart-agent reregister TOKEN')",
            )
        return instance, msg

    async def _remember(self, tx: Queries, instance: Instance, msg: SignedRequest) -> None:
        if not await tx.remember_nonce(instance.piid, msg.nonce, msg.sent_at):
            raise Unauthorized(
                f"request nonce {msg.nonce} from {instance.piid} was already used (a replay)",
                code="request_replayed",
                fix="send each request once with a fresh nonce",
            )

    async def handle_signed(self, body: str) -> Reply:
        instance, msg = await self.authenticate(body)
        match msg:
            case Authorize():
                return await self.authorize(instance, msg)
            case RenewRegistration() | ReportUsage() | Deregister():
                raise Conflict(
                    f"{msg.__class__.__name__} is not supported by this SSM yet",
                    code="not_supported",
                )

    # -- authorization ---------------------------------------------------------------------------
    async def authorize(self, instance: Instance, msg: Authorize) -> Authorization:
        now = self.clock.now()
        async with self.store.transaction() as tx:
            await self._remember(tx, instance, msg)
            pools = {lic.tag: lic for lic in await tx.licenses(instance.virtual_account_id)}
            grants = []
            for req in msg.entitlements:
                known = license_by_tag(req.tag)
                if known is None:
                    grants.append(
                        EntitlementGrant(
                            tag=req.tag, name="", status=EntitlementStatus.INVALID_TAG, requested=req.count
                        )
                    )
                    continue
                if req.count == 0:
                    status = EntitlementStatus.NO_LICENSE_IN_USE
                elif req.tag in pools:
                    status = EntitlementStatus.IN_COMPLIANCE
                else:
                    status = EntitlementStatus.OUT_OF_COMPLIANCE
                grants.append(EntitlementGrant(tag=req.tag, name=known.name, status=status, requested=req.count))
            await tx.set_authorized(instance.piid, now)
            await tx.add_event(
                at=now,
                kind="instance_authorized",
                va_id=instance.virtual_account_id,
                piid=instance.piid,
                message=f"{instance.name} authorized until {(now + self.policy.auth_expiry).isoformat()}",
            )
        return Authorization(
            in_reply_to=msg.nonce,
            issued_at=epoch(now),
            authorized_at=epoch(now),
            expires_at=epoch(now + self.policy.auth_expiry),
            entitlements=grants,
        )

    async def prune_nonces(self, now: datetime) -> int:
        cutoff = epoch(now - self.policy.skew_window(self.clock.rate)) - 1
        async with self.store.transaction() as tx:
            return await tx.forget_nonces_before(cutoff)
