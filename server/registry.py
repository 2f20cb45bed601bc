"""The SSM side of the device plane: registration, signed requests and their replies.

``Registry.register`` turns a token, an identity and a CSR into a product instance with an ID
certificate. ``Registry.handle_signed`` verifies a signed request (known signer, valid
signature, fresh timestamp, unseen nonce) and dispatches it: authorize, renew registration,
deregister. Every change is committed before the reply is signed and returned. Replies are
compact JWS signed with the SSM's response-signing key (ES256), carrying the chain in ``x5c``.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from server import ledger, satellite
from server.pki_files import LabPki
from server.queries import Account, Instance, Latest, SyncQueries, VirtualAccount
from server.store import Store
from shared import envelope, pki, sync, tokens, watch
from shared.clock import AnyClock, epoch, utc
from shared.errors import BadRequest, Conflict, Forbidden, Unauthorized
from shared.logging import get_logger
from shared.messages import (
    Authorization,
    Authorize,
    Deregister,
    Deregistered,
    EntitlementGrant,
    Register,
    Registered,
    RegistrationRenewed,
    RenewRegistration,
    Reply,
    ReportUsage,
    SignedRequest,
    SyncRequest,
    UsageAccepted,
    decode_signed_request,
    encode,
)
from shared.policy import Policy
from shared.states import AuthorizationStatus, ExportControl
from shared.tokens import TokenRecord

log = get_logger("ssm.registry")

ENFORCEMENT = ledger.ENFORCEMENT

_KEY_CACHE_SIZE = 200_000


def _spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def _load_key(der: bytes) -> ec.EllipticCurvePublicKey:
    key = serialization.load_der_public_key(der)
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


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
        # piid -> the instance row as last read, for its keys; writes re-read it (see _live).
        self._instances: OrderedDict[str, Instance] = OrderedDict()
        #: Set whenever an instance's next watch instant may have moved earlier.
        self.watch_changed = asyncio.Event()

    # -- replies ---------------------------------------------------------------------------------
    def sign(self, reply: Reply, *, include_chain: bool = True) -> str:
        """The signed reply; its certificate chain travels when the client asked for it."""
        return envelope.sign_reply(encode(reply), self.pki.signing.key, self._sign_chain, include_chain=include_chain)

    def _issue(self, csr: x509.CertificateSigningRequest, piid: str, serial: str, now: datetime) -> x509.Certificate:
        return pki.issue_id_certificate(
            self.pki.issuer, csr, piid=piid, serial_number=serial, not_before=now, validity=self.policy.id_cert_validity
        )

    def _next_check(self, *, registered_at: int, authorized_at: int | None, contact: int) -> int | None:
        return watch.next_check(
            watch.Watched(registered_at, authorized_at, contact, AuthorizationStatus.AUTHORIZED, None), self.policy
        )

    # -- register --------------------------------------------------------------------------------
    async def register(self, msg: Register) -> Registered:
        """Register (or, with ``force``, reregister) a product instance with a token."""
        now = self.clock.now()
        envelope.check_fresh(msg.sent_at, now, self.policy.skew_window(self.clock.rate))
        parsed = tokens.parse(msg.token)
        csr = pki.load_csr(msg.csr)
        ident = msg.identity
        piid = str(uuid.uuid4())
        cert = self._issue(csr, piid, ident.serial_number, now)
        public = csr.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        t = epoch(now)

        def body(tx: SyncQueries) -> tuple[TokenRecord, VirtualAccount, Account]:
            record = tokens.check_usable(tx.token(parsed.token_id), parsed, now)
            va = tx.virtual_account(record.virtual_account_id)
            account = tx.account(va.account_id) if va else None
            assert va is not None and account is not None
            existing = tx.active_instance_by_sudi(ident.udi_pid, ident.serial_number)
            if existing is not None:
                if not msg.force:
                    raise Conflict(
                        f"a product instance with PID {ident.udi_pid} and serial number "
                        f"{ident.serial_number} is already registered (piid {existing.piid})",
                        code="already_registered",
                        fix="reregister ('smart-agent reregister TOKEN' sends force), or remove the "
                        f"instance on the SSM first ('ssm-server instance remove {existing.piid}')",
                    )
                tx.mark_removed(existing.piid, now, "reregistered")
                moved = existing.virtual_account_id != va.id
                carried = ledger.release(tx, existing.piid)
                tx.add_event(
                    at=now,
                    kind="instance_reregistered",
                    va_id=existing.virtual_account_id,
                    piid=existing.piid,
                    message=f"{existing.name} reregistered as {piid}"
                    + (f" and moved to virtual account {va.name}" if moved else ""),
                )
            tx.insert_instance(
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
                    public_key=_spki(public),
                    cert_pem=pki.cert_pem(cert).decode(),
                    cert_serial=format(cert.serial_number, "x"),
                    registered_at=t,
                    cert_issued_at=t,
                    cert_expires_at=epoch(cert.not_valid_after_utc),
                    authorized_at=None,
                    last_contact_at=t,
                    removed_at=None,
                    next_check_at=self._next_check(registered_at=t, authorized_at=None, contact=t),
                )
            )
            if existing is not None:
                ledger.carry(tx, carried, piid=piid, va_id=va.id)
            tx.use_token(record.token_id)
            tx.add_event(
                at=now,
                kind="instance_registered",
                va_id=va.id,
                piid=piid,
                message=f"{ident.instance_name} ({ident.product}, SN {ident.serial_number}) "
                f"registered to {account.name} / {va.name} with token {record.token_id}",
            )
            return record, va, account

        record, va, account = await self.store.run(body)
        self.clock.poke(self.watch_changed)
        log.info("instance_registered", piid=piid, instance=ident.instance_name, va=va.name, token_id=record.token_id)
        return Registered(
            in_reply_to=msg.nonce,
            issued_at=t,
            piid=piid,
            id_cert=pki.cert_pem(cert).decode(),
            chain=[pki.cert_pem(self.pki.issuer.cert).decode()],
            smart_account=account.name,
            smart_account_domain=account.domain,
            virtual_account=va.name,
            export_controlled=ExportControl.ALLOWED if record.export_controlled else ExportControl.NOT_ALLOWED,
            registered_at=t,
            cert_expires_at=epoch(cert.not_valid_after_utc),
        )

    # -- signed requests -------------------------------------------------------------------------
    def _public_key(self, instance: Instance) -> ec.EllipticCurvePublicKey:
        cached = self._keys.get(instance.piid)
        if cached and cached[0] == instance.cert_serial:
            self._keys.move_to_end(instance.piid)
            return cached[1]
        key = _load_key(instance.public_key)
        self._keys[instance.piid] = (instance.cert_serial, key)
        if len(self._keys) > _KEY_CACHE_SIZE:
            self._keys.popitem(last=False)
        return key

    async def _snapshot(self, piid: str) -> Instance | None:
        """The instance as last read (for its keys); the write transaction re-reads it."""
        cached = self._instances.get(piid)
        if cached is not None:
            self._instances.move_to_end(piid)
            return cached
        instance = await self.store.read.instance(piid)
        if instance is not None and instance.removed_at is None:
            self._instances[piid] = instance
            if len(self._instances) > _KEY_CACHE_SIZE:
                self._instances.popitem(last=False)
        return instance

    def forget_all(self) -> None:
        """After the store was reset or restored: nothing cached stands."""
        self._instances.clear()
        self._keys.clear()

    def _forget(self, piid: str) -> None:
        """Call after changing an instance's keys or removing it."""
        self._instances.pop(piid, None)
        self._keys.pop(piid, None)

    async def authenticate(self, body: str, *, fresh: bool = True) -> Authenticated:
        """Verify a signed request: known signer, valid signature, fresh, ID cert valid.

        Returns the instance (as last read: the write transaction checks it again, see
        ``_live``), the message, and whether it was signed with the previous key (a renewal whose
        reply the agent never received).

        Raises:
            Unauthorized: ``signer_unknown``, ``signature_invalid``, ``signer_mismatch``,
                ``request_stale``, ``registration_expired``.
            Forbidden: ``instance_removed``.
        """
        piid, want_chain = envelope.request_header(body)
        instance = await self._snapshot(piid)
        if instance is None:
            raise _unknown(piid)
        used_previous = False
        try:
            payload = envelope.verify(body, self._public_key(instance))
        except Unauthorized:
            if instance.prev_public_key is None:
                raise
            payload = envelope.verify(body, _load_key(instance.prev_public_key))
            used_previous = True
        msg = decode_signed_request(payload)
        if msg.piid != piid:
            raise Unauthorized(
                f"the request is signed by {piid} but speaks for {msg.piid}",
                code="signer_mismatch",
                fix="each product instance signs only its own requests",
            )
        now = self.clock.now()
        if fresh:  # a file carried by hand is days old by design; its sequence guards replays
            envelope.check_fresh(msg.sent_at, now, self.policy.skew_window(self.clock.rate))
        _check_live(instance, now)
        return Authenticated(instance, msg, used_previous, want_chain)

    def _live(self, tx: SyncQueries, piid: str) -> Instance:
        """The instance as it stands in the transaction: still registered, ID certificate valid."""
        instance = tx.instance(piid)
        if instance is None:
            raise _unknown(piid)
        _check_live(instance, self.clock.now())
        return instance

    def _remember(self, tx: SyncQueries, snapshot: Instance, msg: SignedRequest, used_previous: bool) -> Instance:
        """Check the instance again inside the transaction and record the request's nonce;
        return the instance as it stands."""
        instance = self._live(tx, snapshot.piid)
        if not tx.remember_nonce(instance.piid, msg.nonce, msg.sent_at):
            raise Unauthorized(
                f"request nonce {msg.nonce} from {instance.piid} was already used (a replay)",
                code="request_replayed",
                fix="send each request once with a fresh nonce",
            )
        if instance.prev_public_key is not None and not used_previous:
            tx.forget_previous_key(instance.piid)
            self._instances.pop(instance.piid, None)
        return instance

    async def handle_signed(self, body: str) -> tuple[Reply, bool]:
        """Verify and apply a signed request; the reply, and whether its chain was asked for."""
        auth = await self.authenticate(body)
        return await self._dispatch(auth.instance, auth.msg, auth.used_previous), auth.want_chain

    async def _dispatch(self, instance: Instance, msg: SignedRequest, used_previous: bool) -> Reply:
        match msg:
            case Authorize():
                return await self.authorize(instance, msg, used_previous)
            case RenewRegistration():
                return await self.renew_registration(instance, msg, used_previous)
            case Deregister():
                return await self.deregister(instance, msg, used_previous)
            case ReportUsage():
                return await self.report_usage(instance, msg, used_previous)
            case SyncRequest():

                def remember(tx: SyncQueries) -> Instance:
                    return self._remember(tx, instance, msg, used_previous)

                return await satellite.handle_sync(self.store, instance, msg, self.clock.now(), self.policy, remember)

    # -- authorization ---------------------------------------------------------------------------
    async def authorize(self, instance: Instance, msg: Authorize, used_previous: bool = False) -> Authorization:
        now = self.clock.now()
        t = epoch(now)

        def body(tx: SyncQueries) -> tuple[list[EntitlementGrant], int | None, str]:
            inst = self._remember(tx, instance, msg, used_previous)
            books = ledger.Books.open(tx, inst, [e.tag for e in msg.entitlements])
            grants = ledger.grants(books, [(e.tag, "", e.count) for e in msg.entitlements])
            since, reason = ledger.verdict(books, t)
            tx.set_authorized(
                inst.piid,
                now,
                status=AuthorizationStatus.AUTHORIZED,
                ooc_since=inst.ooc_since,
                next_check_at=self._next_check(registered_at=inst.registered_at, authorized_at=t, contact=t),
            )
            ledger.set_verdict(tx, inst, since, reason, now)
            tx.add_event(
                at=now,
                kind="instance_authorized",
                va_id=inst.virtual_account_id,
                piid=inst.piid,
                message=f"{inst.name} authorized until {(now + self.policy.auth_expiry).isoformat()}",
            )
            return grants, since, reason

        grants, since, reason = await self.store.run(body)
        self.clock.poke(self.watch_changed)
        return Authorization(
            in_reply_to=msg.nonce,
            issued_at=t,
            authorized_at=t,
            expires_at=epoch(now + self.policy.auth_expiry),
            entitlements=grants,
            out_of_compliance_since=since,
            compliance_reason=reason,
        )

    # -- usage reports ---------------------------------------------------------------------------
    async def report_usage(self, instance: Instance, msg: ReportUsage, used_previous: bool = False) -> UsageAccepted:
        """Store closed intervals (idempotently, by report id) and judge each pool they touch."""
        now = self.clock.now()
        t = epoch(now)
        window = self.policy.skew_window(self.clock.rate)
        for report in msg.reports:
            ledger.check_report(report, now, window)
        accepted: list[str] = []
        duplicates: list[str] = []

        def body(tx: SyncQueries) -> tuple[list[EntitlementGrant], int | None, str]:
            inst = self._remember(tx, instance, msg, used_previous)
            books = ledger.Books.open(tx, inst, [u.tag for r in msg.reports for u in r.usage])
            last_lines: list[tuple[str, str, int]] = []
            for report in msg.reports:
                if not ledger.apply_report(tx, books, report, now, self.policy):
                    duplicates.append(report.report_id)
                    continue
                accepted.append(report.report_id)
                last_lines = [(u.tag, u.name, u.peak) for u in report.usage]
            books.close(tx)
            since, reason = ledger.verdict(books, t)
            ledger.set_verdict(tx, inst, since, reason, now, contact=True)
            if not last_lines:
                last_lines = [(r.tag, "", r.peak) for r in books.latest.values()]
            grants = ledger.grants(books, last_lines)
            return grants, since, reason

        grants, since, reason = await self.store.run(body)
        return UsageAccepted(
            in_reply_to=msg.nonce,
            issued_at=t,
            accepted=accepted,
            duplicates=duplicates,
            entitlements=grants,
            out_of_compliance_since=since,
            compliance_reason=reason,
        )

    # -- registration renewal ----------------------------------------------------------------------
    async def renew_registration(
        self, instance: Instance, msg: RenewRegistration, used_previous: bool = False
    ) -> RegistrationRenewed:
        """Issue a new ID certificate for a new key; the old key stays valid until the new one is used."""
        now = self.clock.now()
        csr = pki.load_csr(msg.csr)
        cert = self._issue(csr, instance.piid, instance.serial_number, now)
        public = csr.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        t = epoch(now)

        def body(tx: SyncQueries) -> None:
            inst = self._remember(tx, instance, msg, used_previous)
            tx.renew_certificate(
                inst.piid,
                public_key=_spki(public),
                cert_pem=pki.cert_pem(cert).decode(),
                cert_serial=format(cert.serial_number, "x"),
                issued_at=t,
                expires_at=epoch(cert.not_valid_after_utc),
            )
            tx.touch(inst.piid, now, next_check_at=inst.next_check_at)
            tx.add_event(
                at=now,
                kind="registration_renewed",
                va_id=inst.virtual_account_id,
                piid=inst.piid,
                message=f"{inst.name}: ID certificate renewed until {cert.not_valid_after_utc.isoformat()}",
            )

        await self.store.run(body)
        self._forget(instance.piid)
        return RegistrationRenewed(
            in_reply_to=msg.nonce,
            issued_at=t,
            id_cert=pki.cert_pem(cert).decode(),
            chain=[pki.cert_pem(self.pki.issuer.cert).decode()],
            cert_expires_at=epoch(cert.not_valid_after_utc),
        )

    # -- deregistration and removal ------------------------------------------------------------
    async def deregister(self, instance: Instance, msg: Deregister, used_previous: bool = False) -> Deregistered:
        """Release all the instance's entitlements at once and forget it."""
        now = self.clock.now()

        def body(tx: SyncQueries) -> list[Latest]:
            inst = self._remember(tx, instance, msg, used_previous)
            tx.mark_removed(inst.piid, now, "deregistered")
            released = ledger.release(tx, inst.piid)
            tx.add_event(
                at=now,
                kind="instance_deregistered",
                va_id=inst.virtual_account_id,
                piid=inst.piid,
                message=f"{inst.name} deregistered; its licenses returned to the virtual account",
            )
            return released

        released = await self.store.run(body)
        self._forget(instance.piid)
        return Deregistered(in_reply_to=msg.nonce, issued_at=epoch(now), released=[r.tag for r in released])

    async def remove_instance(self, piid: str, *, by: str = "ssm-server") -> Instance:
        instance = await ledger.remove_instance(self.store, piid, self.clock.now(), by=by)
        self._forget(piid)
        return instance

    # -- the watch (alerts for silent instances) -------------------------------------------------
    async def import_sync_file(self, data: bytes) -> bytes:
        """Disconnected mode, on the cloud: a request file in, a signed response file out."""
        f = sync.read_file(data, expect="request")
        auth = await self.authenticate(f.jws, fresh=False)
        instance, msg = auth.instance, auth.msg
        if not isinstance(msg, SyncRequest) or msg.sequence != f.sequence or msg.piid != f.onprem:
            raise BadRequest(
                "the file's envelope does not match its signed content",
                code="sync_file_tampered",
                fix="carry the file exactly as 'ssm-server sync export' wrote it",
            )
        piid = instance.piid
        reply = await satellite.handle_sync(
            self.store, instance, msg, self.clock.now(), self.policy, lambda tx: self._live(tx, piid)
        )
        return sync.write_file(
            direction="response",
            account_domain=reply.account_domain,
            onprem=reply.piid,
            sequence=reply.sequence,
            jws=self.sign(reply),
        )

    async def next_watch(self) -> int | None:
        """The next instant the watch has something to do (instances, pools, On-Prem deadlines)."""
        grace = int(self.policy.ooc_grace.total_seconds())
        times = [
            await self.store.read.next_watch(),
            await self.store.read.next_pool_enforcement(grace),
            await satellite.next_deadline(self.store),
        ]
        present = [x for x in times if x is not None]
        return min(present) if present else None

    async def run_watch(self, now: datetime) -> int:
        """Raise the alerts due at ``now`` and reschedule each watched instance. Returns alerts raised."""
        t = epoch(now)
        raised = await self._watch_pools(now)
        raised += await satellite.run_deadlines(self.store, now, self.policy)
        while True:
            due = await self.store.read.watch_due(t)
            if not due:
                return raised
            async with self.store.transaction() as tx:
                for inst in due:
                    verdict = watch.check(
                        watch.Watched(
                            inst.registered_at,
                            inst.authorized_at,
                            inst.last_contact_at,
                            inst.status,
                            inst.renew_alerted_at,
                        ),
                        t,
                        self.policy,
                    )
                    for alert in verdict.alerts:
                        raised += 1
                        await tx.notify(
                            at=now,
                            kind=alert.kind,
                            severity=alert.severity,
                            va_id=inst.virtual_account_id,
                            piid=inst.piid,
                            subject=f"{alert.kind}: {inst.name}",
                            body=f"{inst.name} ({inst.product}, SN {inst.serial_number}, piid "
                            f"{inst.piid}): {alert.message}.",
                        )
                        await tx.add_event(
                            at=now,
                            kind="alert",
                            va_id=inst.virtual_account_id,
                            piid=inst.piid,
                            message=f"{alert.kind}: {inst.name}",
                        )
                    await tx.set_watch(
                        inst.piid,
                        status=verdict.status,
                        renew_alerted_at=verdict.renew_alerted_at,
                        next_check_at=verdict.next_check_at,
                    )

    async def _watch_pools(self, now: datetime) -> int:
        """Pools Out of Compliance for the grace period: Enforcement for every instance consuming them."""
        grace = int(self.policy.ooc_grace.total_seconds())
        due = await self.store.read.pools_entering_enforcement(epoch(now), grace)
        if not due:
            return 0
        async with self.store.transaction() as tx:
            for pool in due:
                va = await tx.virtual_account(pool.virtual_account_id)
                where = f"{pool.license_type} {pool.usage_mode} {pool.name} in virtual account {va.name if va else '?'}"
                await tx.notify(
                    at=now,
                    kind=ENFORCEMENT,
                    severity="critical",
                    va_id=pool.virtual_account_id,
                    subject=f"{ENFORCEMENT}: {pool.name}",
                    body=f"{where} has been Out of Compliance for {self.policy.ooc_grace.days} days "
                    f"({pool.pool.in_use} in use, {ledger.purchased(pool)}). The product instances consuming it "
                    "are in Enforcement: adding agents is blocked until licenses are purchased.",
                )
                await tx.add_event(
                    at=now,
                    kind="pool_enforcement",
                    va_id=pool.virtual_account_id,
                    message=f"{where}: Enforcement (Out-of-Compliance expiry)",
                )
                await tx.set_enforcement_notified(pool.id)
        return len(due)

    async def prune_nonces(self, now: datetime) -> int:
        cutoff = epoch(now - self.policy.skew_window(self.clock.rate)) - 1
        async with self.store.transaction() as tx:
            return await tx.forget_nonces_before(cutoff)


@dataclass(frozen=True, slots=True)
class Authenticated:
    """A signed request whose signature checked out."""

    instance: Instance  # as last read; the write transaction checks it again
    msg: SignedRequest
    used_previous: bool  # signed with the key of the previous ID certificate
    want_chain: bool  # the client asks for the SSM's signing chain in the reply


def _unknown(piid: str) -> Unauthorized:
    return Unauthorized(
        f"no product instance {piid!r} is registered with this SSM",
        code="signer_unknown",
        fix="register the product instance ('smart-agent register TOKEN'); if it was registered with "
        "another SSM, point the agent's transport URL there",
    )


def _check_live(instance: Instance, now: datetime) -> None:
    """Refuse an instance that was removed or whose ID certificate expired (domain time)."""
    if instance.removed_at is not None:
        how = "deregistered" if instance.removed_reason == "deregistered" else "removed from the SSM"
        raise Forbidden(
            f"product instance {instance.piid} was {how} at {utc(instance.removed_at).isoformat()}",
            code="instance_removed",
            fix="register it again with a new token ('smart-agent register TOKEN')",
        )
    if epoch(now) >= instance.cert_expires_at:
        raise Unauthorized(
            f"the ID certificate of {instance.piid} expired at {utc(instance.cert_expires_at).isoformat()}",
            code="registration_expired",
            fix="reregister the product instance with a new token ('smart-agent reregister TOKEN')",
        )
