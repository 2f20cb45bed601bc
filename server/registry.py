"""The SSM side of the device plane: registration, signed requests and their replies.

``Registry.register`` turns a token, an identity and a CSR into a product instance with an ID
certificate. ``Registry.handle_signed`` verifies a signed request (known signer, valid
signature, fresh timestamp, unseen nonce) and dispatches it: authorize, renew registration,
deregister. Every change is committed before the reply is signed and returned. Replies are
compact JWS signed with the SSM's response-signing key (ES256), carrying the chain in ``x5c``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from collections import OrderedDict
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from server.pki_files import LabPki
from server.queries import Instance, Latest, License, Queries
from server.store import Store
from shared import compliance, envelope, pki, tokens, watch
from shared.catalog import license_by_tag
from shared.clock import AnyClock, epoch, utc
from shared.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
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
    UsageAccepted,
    UsageReport,
    decode_signed_request,
    encode,
)
from shared.policy import Policy
from shared.states import AuthorizationStatus, EntitlementStatus, ExportControl

log = get_logger("ssm.registry")

INSUFFICIENT_LICENSES = "Insufficient Licenses"
ENFORCEMENT = "Licenses in Enforcement"

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
        #: Set whenever an instance's next watch instant may have moved earlier.
        self.watch_changed = asyncio.Event()

    # -- replies ---------------------------------------------------------------------------------
    def sign(self, reply: Reply) -> str:
        return envelope.sign_reply(encode(reply), self.pki.signing.key, self._sign_chain)

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
                        f"instance on the SSM first ('ssm-server instance remove {existing.piid}')",
                    )
                await tx.mark_removed(existing.piid, now, "reregistered")
                moved = existing.virtual_account_id != va.id
                carried = await _release(tx, existing.piid)
                await tx.add_event(
                    at=now,
                    kind="instance_reregistered",
                    va_id=existing.virtual_account_id,
                    piid=existing.piid,
                    message=f"{existing.name} reregistered as {piid}"
                    + (f" and moved to virtual account {va.name}" if moved else ""),
                )
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
                await _carry_usage(tx, carried, piid=piid, va_id=va.id)
            await tx.use_token(record.token_id)
            await tx.add_event(
                at=now,
                kind="instance_registered",
                va_id=va.id,
                piid=piid,
                message=f"{ident.instance_name} ({ident.product}, SN {ident.serial_number}) "
                f"registered to {account.name} / {va.name} with token {record.token_id}",
            )
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

    async def authenticate(self, body: str) -> tuple[Instance, SignedRequest, bool]:
        """Verify a signed request: known signer, valid signature, fresh, ID cert valid.

        Returns the instance, the message, and whether it was signed with the previous key
        (a renewal whose reply the agent never received).

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
                fix="register the product instance ('smart-agent register TOKEN'); if it was registered with "
                "another SSM, point the agent's transport URL there",
            )
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
        envelope.check_fresh(msg.sent_at, now, self.policy.skew_window(self.clock.rate))
        if instance.removed_at is not None:
            how = "deregistered" if instance.removed_reason == "deregistered" else "removed from the SSM"
            raise Forbidden(
                f"product instance {piid} was {how} at {utc(instance.removed_at).isoformat()}",
                code="instance_removed",
                fix="register it again with a new token ('smart-agent register TOKEN')",
            )
        cert_expiry = instance.cert_expires_at
        if used_previous:
            cert_expiry = epoch(x509.load_pem_x509_certificate(instance.cert_pem.encode()).not_valid_after_utc)
        if epoch(now) >= cert_expiry:
            raise Unauthorized(
                f"the ID certificate of {piid} expired at {utc(cert_expiry).isoformat()}",
                code="registration_expired",
                fix="reregister the product instance with a new token ('smart-agent reregister TOKEN')",
            )
        return instance, msg, used_previous

    async def _remember(self, tx: Queries, instance: Instance, msg: SignedRequest, used_previous: bool) -> None:
        if not await tx.remember_nonce(instance.piid, msg.nonce, msg.sent_at):
            raise Unauthorized(
                f"request nonce {msg.nonce} from {instance.piid} was already used (a replay)",
                code="request_replayed",
                fix="send each request once with a fresh nonce",
            )
        if instance.prev_public_key is not None and not used_previous:
            await tx.forget_previous_key(instance.piid)

    async def handle_signed(self, body: str) -> Reply:
        instance, msg, used_previous = await self.authenticate(body)
        match msg:
            case Authorize():
                return await self.authorize(instance, msg, used_previous)
            case RenewRegistration():
                return await self.renew_registration(instance, msg, used_previous)
            case Deregister():
                return await self.deregister(instance, msg, used_previous)
            case ReportUsage():
                return await self.report_usage(instance, msg, used_previous)

    # -- authorization ---------------------------------------------------------------------------
    def _compliance(self, instance: Instance, pools: list[License]) -> str:
        """Why the instance is Out of Compliance, or '' when it is not (license type rule)."""
        held = [
            p
            for p in pools
            if p.license_type is instance.license_type and p.usage_mode is instance.usage_mode and p.quantity > 0
        ]
        if not held:
            return (
                f"the virtual account holds no {instance.license_type} {instance.usage_mode} licenses; "
                "select the license type you purchased (deregister, change it, register) or buy licenses"
            )
        return ""

    async def _verdict(
        self, instance: Instance, pools: dict[str, License], latest: dict[str, Latest], t: int
    ) -> tuple[int | None, str]:
        """When the instance went Out of Compliance (or None) and why: a license type its virtual
        account holds none of, or a pool it draws from that is Out of Compliance."""
        since: list[int] = []
        reasons: list[str] = []
        type_reason = self._compliance(instance, list(pools.values()))
        if type_reason:
            since.append(instance.ooc_since or t)
            reasons.append(type_reason)
        for tag, row in latest.items():
            pool = pools.get(tag)
            if pool is not None and pool.pool.ooc_since is not None and row.reported > 0:
                since.append(pool.pool.ooc_since)
                reasons.append(
                    f"{pool.name}: {pool.pool.in_use} in use in the virtual account, {pool.quantity} purchased "
                    f"({compliance.balance(pool.quantity, pool.pool.in_use)})"
                )
        return (min(since) if since else None), "; ".join(reasons)

    def _grants(
        self, requests: list[tuple[str, str, int]], pools: dict[str, License], latest: dict[str, Latest]
    ) -> list[EntitlementGrant]:
        """Table 5 status of each (tag, name, actual count) for this instance."""
        grants = []
        for tag, name, actual in requests:
            known = license_by_tag(tag)
            row = latest.get(tag)
            counted = row.reported if row else actual
            pool = pools.get(tag)
            if known is None:
                status = EntitlementStatus.INVALID_TAG
            elif actual == 0 and counted == 0:
                status = EntitlementStatus.NO_LICENSE_IN_USE
            elif pool is None or pool.quantity == 0 or pool.pool.ooc_since is not None:
                status = EntitlementStatus.OUT_OF_COMPLIANCE
            else:
                status = EntitlementStatus.IN_COMPLIANCE
            grants.append(
                EntitlementGrant(
                    tag=tag, name=known.name if known else name, status=status, requested=actual, reported=counted
                )
            )
        return grants

    async def _set_verdict(
        self, tx: Queries, instance: Instance, since: int | None, reason: str, now: datetime
    ) -> None:
        status = AuthorizationStatus.OUT_OF_COMPLIANCE if since is not None else AuthorizationStatus.AUTHORIZED
        await tx.set_instance_compliance(instance.piid, status=status, ooc_since=since)
        if since is not None and instance.ooc_since is None:
            await tx.add_event(
                at=now,
                kind="instance_out_of_compliance",
                va_id=instance.virtual_account_id,
                piid=instance.piid,
                message=f"{instance.name} is Out of Compliance: {reason}",
            )
        if since is None and instance.ooc_since is not None:
            await tx.add_event(
                at=now,
                kind="instance_in_compliance",
                va_id=instance.virtual_account_id,
                piid=instance.piid,
                message=f"{instance.name} is back In Compliance",
            )

    async def authorize(self, instance: Instance, msg: Authorize, used_previous: bool = False) -> Authorization:
        now = self.clock.now()
        t = epoch(now)
        async with self.store.transaction() as tx:
            await self._remember(tx, instance, msg, used_previous)
            pools = {p.tag: p for p in await tx.licenses(instance.virtual_account_id)}
            latest = {r.tag: r for r in await tx.latest_usage(instance.piid)}
            grants = self._grants([(e.tag, "", e.count) for e in msg.entitlements], pools, latest)
            since, reason = await self._verdict(instance, pools, latest, t)
            await tx.set_authorized(
                instance.piid,
                now,
                status=AuthorizationStatus.AUTHORIZED,
                ooc_since=instance.ooc_since,
                next_check_at=self._next_check(registered_at=instance.registered_at, authorized_at=t, contact=t),
            )
            await self._set_verdict(tx, instance, since, reason, now)
            await tx.add_event(
                at=now,
                kind="instance_authorized",
                va_id=instance.virtual_account_id,
                piid=instance.piid,
                message=f"{instance.name} authorized until {(now + self.policy.auth_expiry).isoformat()}",
            )
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
    def _check_report(self, report: UsageReport, now: datetime) -> None:
        window = self.policy.skew_window(self.clock.rate)
        problem = None
        if report.interval_end <= report.interval_start:
            problem = "its interval ends before it starts"
        elif report.interval_end - report.interval_start > 86400:
            problem = "its interval is longer than a day"
        elif report.interval_end > epoch(now + window):
            problem = f"its interval ends in the future ({utc(report.interval_end).isoformat()})"
        elif len({u.tag for u in report.usage}) != len(report.usage):
            problem = "it names a license twice"
        if problem:
            raise BadRequest(
                f"usage report {report.report_id} is invalid: {problem}",
                code="invalid_report",
                fix="report each closed interval once, with each license once, oldest first",
            )

    async def report_usage(self, instance: Instance, msg: ReportUsage, used_previous: bool = False) -> UsageAccepted:
        """Store closed intervals (idempotently, by report id) and judge each pool they touch."""
        now = self.clock.now()
        t = epoch(now)
        for report in msg.reports:
            self._check_report(report, now)
        va_id = instance.virtual_account_id
        accepted: list[str] = []
        duplicates: list[str] = []
        async with self.store.transaction() as tx:
            await self._remember(tx, instance, msg, used_previous)
            pools = {p.tag: p for p in await tx.licenses(va_id)}
            latest = {r.tag: r for r in await tx.latest_usage(instance.piid)}
            changed: set[str] = set()
            last_lines: list[tuple[str, str, int]] = []
            for report in msg.reports:
                if await tx.report_seen(report.report_id):
                    duplicates.append(report.report_id)
                    continue
                lines = []
                for u in report.usage:
                    key = license_by_tag(u.tag)
                    lines.append({"tag": u.tag, "name": key.name if key else u.name, "peak": u.peak})
                    if key is None:
                        continue  # an Invalid Tag: answered, never counted
                    pool = pools.get(u.tag) or await tx.ensure_pool(
                        va_id=va_id, name=key.name, license_type=key.license_type, usage_mode=key.usage_mode, tag=u.tag
                    )
                    state = pool.pool
                    prev = latest.get(u.tag)
                    if prev is None or report.interval_end >= prev.interval_end:
                        locked = None
                        if state.ooc_since is not None:
                            locked = max(prev.locked or 0, u.peak) if prev else u.peak
                        row = Latest(instance.piid, u.tag, va_id, report.interval_end, u.peak, locked)
                        delta = row.reported - (prev.reported if prev else 0)
                        state = dataclasses.replace(state, in_use=state.in_use + delta)
                        latest[u.tag] = row
                        await tx.save_latest(row)
                    state, change = compliance.judge(state, report.interval_end, pool.quantity, self.policy)
                    if change.entered:
                        await tx.lock_pool(va_id, u.tag)
                        await self._pool_alert(tx, pool, state, now, entered=True)
                    if change.left:
                        state = dataclasses.replace(state, in_use=await tx.unlock_pool(va_id, u.tag))
                        await self._pool_alert(tx, pool, state, now, entered=False)
                    if change.entered or change.left:
                        latest = {r.tag: r for r in await tx.latest_usage(instance.piid)}
                    pools[u.tag] = dataclasses.replace(pool, pool=state)
                    changed.add(u.tag)
                await tx.insert_report(
                    report_id=report.report_id,
                    piid=instance.piid,
                    interval_start=report.interval_start,
                    interval_end=report.interval_end,
                    received_at=t,
                    lines=json.dumps(lines),
                )
                accepted.append(report.report_id)
                last_lines = [(u.tag, u.name, u.peak) for u in report.usage]
            for tag in changed:
                await tx.save_pool(pools[tag].id, pools[tag].pool)
            await tx.touch(instance.piid, now, next_check_at=instance.next_check_at)
            since, reason = await self._verdict(instance, pools, latest, t)
            await self._set_verdict(tx, instance, since, reason, now)
            if not last_lines:
                last_lines = [(r.tag, "", r.peak) for r in latest.values()]
            grants = self._grants(last_lines, pools, latest)
        self.clock.poke(self.watch_changed)
        return UsageAccepted(
            in_reply_to=msg.nonce,
            issued_at=t,
            accepted=accepted,
            duplicates=duplicates,
            entitlements=grants,
            out_of_compliance_since=since,
            compliance_reason=reason,
        )

    async def _pool_alert(
        self, tx: Queries, pool: License, state: compliance.PoolState, now: datetime, *, entered: bool
    ) -> None:
        va = await tx.virtual_account(pool.virtual_account_id)
        where = f"{pool.license_type} {pool.usage_mode} {pool.name} in virtual account {va.name if va else '?'}"
        if entered:
            body = (
                f"{where}: {state.in_use} in use, {pool.quantity} purchased, for "
                f"{self.policy.ooc_consecutive_intervals} consecutive reporting intervals. Every product instance "
                "consuming it is Out of Compliance; usage is locked at its highest until licenses are purchased; "
                f"in {self.policy.ooc_grace.days} days it enters Enforcement."
            )
            await tx.notify(
                at=now,
                kind=INSUFFICIENT_LICENSES,
                severity="critical",
                va_id=pool.virtual_account_id,
                subject=f"{INSUFFICIENT_LICENSES}: {pool.name}",
                body=body,
            )
            message = f"{where} is Out of Compliance ({state.in_use} in use, {pool.quantity} purchased)"
            await tx.add_event(at=now, kind="pool_out_of_compliance", va_id=pool.virtual_account_id, message=message)
        else:
            message = f"{where} is back In Compliance ({state.in_use} in use, {pool.quantity} purchased)"
            await tx.add_event(at=now, kind="pool_in_compliance", va_id=pool.virtual_account_id, message=message)

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
        async with self.store.transaction() as tx:
            await self._remember(tx, instance, msg, used_previous)
            await tx.renew_certificate(
                instance.piid,
                public_key=_spki(public),
                cert_pem=pki.cert_pem(cert).decode(),
                cert_serial=format(cert.serial_number, "x"),
                issued_at=t,
                expires_at=epoch(cert.not_valid_after_utc),
            )
            await tx.touch(instance.piid, now, next_check_at=instance.next_check_at)
            await tx.add_event(
                at=now,
                kind="registration_renewed",
                va_id=instance.virtual_account_id,
                piid=instance.piid,
                message=f"{instance.name}: ID certificate renewed until {cert.not_valid_after_utc.isoformat()}",
            )
        self._keys.pop(instance.piid, None)
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
        async with self.store.transaction() as tx:
            await self._remember(tx, instance, msg, used_previous)
            await tx.mark_removed(instance.piid, now, "deregistered")
            released = await _release(tx, instance.piid)
            await tx.add_event(
                at=now,
                kind="instance_deregistered",
                va_id=instance.virtual_account_id,
                piid=instance.piid,
                message=f"{instance.name} deregistered; its licenses returned to the virtual account",
            )
        self._keys.pop(instance.piid, None)
        return Deregistered(in_reply_to=msg.nonce, issued_at=epoch(now), released=[r.tag for r in released])

    async def remove_instance(self, piid: str, *, by: str = "ssm-server") -> Instance:
        instance = await remove_instance(self.store, piid, self.clock.now(), by=by)
        self._keys.pop(piid, None)
        return instance

    # -- the watch (alerts for silent instances) -------------------------------------------------
    async def next_watch(self) -> int | None:
        """The next instant the watch has something to do (instances and pools)."""
        grace = int(self.policy.ooc_grace.total_seconds())
        times = [await self.store.read.next_watch(), await self.store.read.next_pool_enforcement(grace)]
        present = [x for x in times if x is not None]
        return min(present) if present else None

    async def run_watch(self, now: datetime) -> int:
        """Raise the alerts due at ``now`` and reschedule each watched instance. Returns alerts raised."""
        t = epoch(now)
        raised = await self._watch_pools(now)
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
                    f"({pool.pool.in_use} in use, {pool.quantity} purchased). The product instances consuming it "
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


async def remove_instance(store: Store, piid: str, now: datetime, *, by: str) -> Instance:
    """The admin's "remove product instance": its licenses are released; it must register again.

    Raises:
        NotFound: ``instance_not_found``.
        Conflict: ``instance_already_removed``.
    """
    async with store.transaction() as tx:
        instance = await tx.instance(piid)
        if instance is None:
            raise NotFound(
                f"no product instance {piid!r}",
                code="instance_not_found",
                fix="list instances with 'ssm-server instance list'",
            )
        if instance.removed_at is not None:
            raise Conflict(f"product instance {piid} was already removed", code="instance_already_removed")
        await tx.mark_removed(piid, now, "removed")
        await _release(tx, piid)
        await tx.add_event(
            at=now,
            kind="instance_removed",
            va_id=instance.virtual_account_id,
            piid=piid,
            message=f"{instance.name} removed by {by}; its licenses returned to the virtual account",
        )
    return instance


async def _release(tx: Queries, piid: str) -> list[Latest]:
    """Return an instance's usage to its pools (deregistered, removed, moved); the rows released."""
    rows = await tx.latest_usage(piid)
    for row in rows:
        pool = await tx.license_by_tag(row.virtual_account_id, row.tag)
        if pool is not None:
            await tx.save_pool(pool.id, dataclasses.replace(pool.pool, in_use=max(0, pool.pool.in_use - row.reported)))
    await tx.delete_latest(piid)
    return rows


async def _carry_usage(tx: Queries, rows: list[Latest], *, piid: str, va_id: int) -> None:
    """A reregistered instance brings its latest usage to its (possibly new) virtual account."""
    for row in rows:
        key = license_by_tag(row.tag)
        if key is None:
            continue
        pool = await tx.ensure_pool(
            va_id=va_id, name=key.name, license_type=key.license_type, usage_mode=key.usage_mode, tag=row.tag
        )
        await tx.save_pool(pool.id, dataclasses.replace(pool.pool, in_use=pool.pool.in_use + row.peak))
        await tx.save_latest(Latest(piid, row.tag, va_id, row.interval_end, row.peak, None))
