"""One product instance inside the agent: its state, usage, ID key, timers and actions.

The licensing rules are in ``shared.lifecycle`` and ``shared.usage``; this shell builds messages,
sends them through the transport, applies the replies and persists the result (with the
transitions it caused) before answering. Requests of one instance are serialized by a lock.
``run`` is the instance's timer loop: sleep until the next wakeup (or until an action pokes it),
then ``step``: tick, close usage intervals, send what is due.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import msgspec

from agent.smartlog import SmartLog
from agent.store import AgentStore
from agent.transport import Transport
from shared import envelope, lifecycle, outcomes, permits, pki, slr, slrlifecycle, statusview, tokens, usage
from shared.banner import NO_SERIAL, NOT_ENABLED
from shared.catalog import OFFERED, LicenseKey, license_by_tag
from shared.clock import AnyClock, epoch, real_now, utc
from shared.consumption import ConsumptionLine, consumption
from shared.errors import Conflict, RemoteError, SmartLicensingError
from shared.lifecycle import Due, InstanceState
from shared.logging import get_logger
from shared.messages import (
    Authorization,
    Authorize,
    Deregister,
    EntitlementGrant,
    EntitlementRequest,
    Register,
    Registered,
    RegistrationRenewed,
    RenewRegistration,
    ReportUsage,
    UsageAccepted,
)
from shared.permits import PersonAction
from shared.policy import Policy
from shared.states import EntitlementStatus, LicenseType, RegistrationStatus, UsageMode
from shared.statusview import StatusView
from shared.usage import Profile, UsageState

log = get_logger("agent.instance")

#: With nothing scheduled, the timer loop still looks again after this much domain time.
IDLE = timedelta(days=365)

Action = Literal["renew_authorization", "renew_registration", "report_usage"]


@dataclass(frozen=True, slots=True)
class DeregisterResult:
    status: StatusView
    removed_on_ssm: bool
    message: str


class InstanceRunner:
    def __init__(
        self,
        *,
        state: InstanceState,
        usage_state: UsageState,
        key: pki.PrivateKey | None,
        transport: Transport,
        store: AgentStore,
        clock: AnyClock,
        policy: Policy,
        profile: Profile | None = None,
        smartlog: SmartLog | None = None,
    ) -> None:
        self.state = state
        self.usage = usage_state
        self.key = key
        self.transport = transport
        self.store = store
        self.clock = clock
        self.policy = policy
        self.profile = profile
        self.smartlog = smartlog
        self.lock = asyncio.Lock()
        self.in_flight = False
        self.initialized = False
        #: Figures for /metrics: requests by kind and outcome, reports sent.
        self.counters: collections.Counter[tuple[str, str]] = collections.Counter()
        self._poke = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.state.name

    def status(self) -> StatusView:
        return statusview.status_view(self.state, self.clock.now(), self.policy)

    def consumption(self) -> list[ConsumptionLine]:
        return consumption(self.state, self.usage, waiting=self.in_flight)

    # -- persistence -----------------------------------------------------------------------------
    async def _commit(
        self,
        state: InstanceState,
        *events: tuple[str, str],
        key: bytes | None = None,
        cert: str | None = None,
        clear_credentials: bool = False,
        usage_state: UsageState | None = None,
    ) -> None:
        """Apply the time rules to ``state`` and persist it (and usage) with its events, atomically."""
        now = self.clock.now()
        state, timed = lifecycle.tick(state, now, self.policy)
        t = epoch(now)
        rows = [(t, kind, msg) for kind, msg in events] + timed
        await self.store.save(
            state, now, key_pem=key, cert_pem=cert, clear_credentials=clear_credentials, usage=usage_state, events=rows
        )
        for at, kind, msg in timed:
            log.info("transition", instance=self.name, kind=kind, at=at, detail=msg)
        if self.smartlog and self.state.last_failure and state.last_failure is None and events:
            self.smartlog.info(now, self.name, events[0][0], "communication with the SSM restored")
        self.state = state
        if usage_state is not None:
            self.usage = usage_state
        if asyncio.current_task() is not self._loop_task:
            self.clock.poke(self._poke)  # an action changed the schedule: the timer loop recomputes

    async def _fail(self, err: SmartLicensingError, action: str) -> None:
        now = self.clock.now()
        await self._commit(
            outcomes.on_failure(self.state, err, now, action=action),
            (f"{action}_failed", f"{err.code}: {err.message}"),
        )
        if self.smartlog:
            self.smartlog.failure(now, self.name, action, err)
        log.warning(f"{action}_failed", instance=self.name, code=err.code, error=err.message)

    async def _removed_by_ssm(self, err: RemoteError) -> None:
        """The SSM no longer knows this instance: unregister, entitlements Disabled."""
        now = self.clock.now()
        state = outcomes.on_deregistered(self.state, now, entitlement_status=EntitlementStatus.DISABLED)
        state = outcomes.on_failure(state, err, now, action="ssm")
        self.key = None
        await self._commit(
            state,
            ("removed_by_ssm", f"{err.code}: {err.message}"),
            clear_credentials=True,
            usage_state=usage.forget_queue(self.usage),
        )

    # -- the timer loop --------------------------------------------------------------------------
    async def run(self, first_wake: datetime) -> None:
        """Sleep until each wakeup, then step, forever (cancel to stop)."""
        self._loop_task = asyncio.current_task()
        wake = first_wake
        while True:
            await self.clock.sleep_until(wake, interrupt=self._poke)
            wake = await self.step()

    async def step(self) -> datetime:
        """Record the transitions due by now, close usage intervals, send what is due; return the
        next wakeup. The agent runs one step before it starts, so a restart catches up at once."""
        self._poke.clear()
        async with self.lock:
            now = self.clock.now()
            u = self._apply_profile(self.usage, now)
            u, _closed = usage.close_due(u, self.state, now, self.policy)
            ticked, transitions = lifecycle.tick(self.state, now, self.policy)
            dues = lifecycle.due(ticked, now, self.policy)
            at = usage.report_due_at(u, ticked)
            sending = at is not None and at <= epoch(now)
            if transitions or dues or not sending or u.profile_applied_at != self.usage.profile_applied_at:
                await self._commit(self.state, usage_state=u)
            else:
                # Only closed intervals, about to be sent: the send's commit persists them. A crash
                # before it closes the same intervals again at restart (same report ids: the SSM
                # counts each once).
                self.usage = u
            for due in dues:
                await self._perform(due)
            if sending:
                await self._perform("report_usage")
            self.initialized = True
            return self._next_wakeup()

    def _next_wakeup(self) -> datetime:
        now = self.clock.now()
        candidates = [lifecycle.next_wakeup(self.state, now, self.policy)]
        profile_next = self.profile.next_change(self.state.first_started_at, epoch(now)) if self.profile else None
        u_next = usage.next_wakeup(self.usage, self.state, now, profile_next)
        if u_next is not None:
            candidates.append(utc(u_next))
        present = [c for c in candidates if c is not None]
        return min(present) if present else now + IDLE

    def _apply_profile(self, u: UsageState, now: datetime) -> UsageState:
        """Apply the usage profile's step in effect, once per step (a manual set lasts until the next)."""
        if self.profile is None:
            return u
        t = epoch(now)
        base = self.state.first_started_at
        values = self.profile.at(base, t)
        if values is None:
            return u
        step_start = self._profile_step_start(base, t)
        if u.profile_applied_at == step_start:
            return u
        u = usage.set_current(u, values, now, self.policy)
        return msgspec.structs.replace(u, profile_applied_at=step_start)

    def _profile_step_start(self, base: int, t: int) -> int:
        assert self.profile is not None
        off = t - base
        if self.profile.repeat and off >= 0:
            cycle = off // self.profile.repeat
            off %= self.profile.repeat
        else:
            cycle = 0
        start = max((o for o, _ in self.profile.steps if o <= off), default=0)
        return base + cycle * (self.profile.repeat or 0) + start

    async def _perform(self, due: Due | Action) -> None:
        try:
            if due == Due.RENEW_AUTHORIZATION:
                await self._authorize_locked()
            elif due == Due.RENEW_REGISTRATION:
                await self._renew_registration_locked()
            else:
                await self._report_locked()
        except RemoteError as err:
            if err.code == "instance_removed":
                await self._removed_by_ssm(err)
                return
            await self._due_failed(due, err)
        except SmartLicensingError as err:
            await self._due_failed(due, err)

    async def _due_failed(self, due: Due | Action, err: SmartLicensingError) -> None:
        now = self.clock.now()
        if due == "report_usage":
            u = usage.on_report_failed(self.usage, now, self.policy)
            state = outcomes.on_failure(self.state, err, now, action=str(due))
            retry = u.retry
            await self._commit(state, (f"{due}_failed", f"{err.code}: {err.message}"), usage_state=u)
        else:
            state = outcomes.on_due_failed(self.state, Due(due), err, now, self.policy)
            retry = state.auth_retry if due is Due.RENEW_AUTHORIZATION else state.reg_retry
            await self._commit(state, (f"{due}_failed", f"{err.code}: {err.message}"))
        assert retry is not None
        if self.smartlog:
            self.smartlog.failure(now, self.name, str(due), err)
        log.warning(
            f"{due}_failed",
            instance=self.name,
            code=err.code,
            attempts=retry.attempts,
            next_in_minutes=retry.delay // 60,
        )

    # -- requests (lock held) -------------------------------------------------------------------
    def _entitlement_requests(self) -> list[EntitlementRequest]:
        ltype, mode = self.state.effective_license_type, self.state.usage_mode
        return [
            EntitlementRequest(tag=LicenseKey(n, ltype, mode).tag, count=self.usage.current.get(n, 0))
            for n in OFFERED.get((ltype, mode), ())
        ]

    async def _send(self, msg: Authorize | RenewRegistration | ReportUsage | Deregister) -> object:
        assert self.key is not None
        self.in_flight = True
        kind = type(msg).__name__
        try:
            reply = await self.transport.send(msg, self.key)
        except SmartLicensingError as err:
            self.counters[(kind, err.code)] += 1
            raise
        finally:
            self.in_flight = False
        self.counters[(kind, "ok")] += 1
        if isinstance(msg, ReportUsage):
            self.counters[("reports", "sent")] += len(msg.reports)
        return reply

    async def _authorize_locked(self) -> None:
        assert self.state.piid is not None
        msg = Authorize(
            sent_at=epoch(self.clock.now()),
            nonce=envelope.new_nonce(),
            piid=self.state.piid,
            entitlements=self._entitlement_requests(),
        )
        reply = await self._send(msg)
        assert isinstance(reply, Authorization)
        first = self.state.authorized_at is None
        state = outcomes.on_authorized(self.state, reply, self.clock.now())
        await self._commit(
            state,
            (
                "authorized" if first else "authorization_renewed",
                f"authorization {'granted' if first else 'renewed'} until {utc(reply.expires_at).isoformat()}",
            ),
        )

    async def _renew_registration_locked(self) -> None:
        assert self.state.piid is not None
        key = pki.new_key()
        csr = pki.make_csr(key, common_name=self.state.name, serial_number=self.state.serial_number)
        msg = RenewRegistration(
            sent_at=epoch(self.clock.now()), nonce=envelope.new_nonce(), piid=self.state.piid, csr=csr.decode()
        )
        reply = await self._send(msg)
        assert isinstance(reply, RegistrationRenewed)
        state = outcomes.on_registration_renewed(self.state, reply, self.clock.now())
        self.key = key
        await self._commit(
            state,
            ("registration_renewed", f"ID certificate renewed until {utc(reply.cert_expires_at).isoformat()}"),
            key=pki.key_pem(key),
            cert=reply.id_cert,
        )

    async def _report_locked(self) -> None:
        """Drain the report queue, oldest first, a batch per request."""
        assert self.state.piid is not None
        while self.usage.queue and self.state.piid is not None:
            batch = self.usage.queue[: self.policy.report_batch_max]
            msg = ReportUsage(
                sent_at=epoch(self.clock.now()), nonce=envelope.new_nonce(), piid=self.state.piid, reports=batch
            )
            reply = await self._send(msg)
            assert isinstance(reply, UsageAccepted)
            done = [*reply.accepted, *reply.duplicates]
            state = outcomes.on_usage_accepted(self.state, reply, self.clock.now())
            first, last = utc(batch[0].interval_end).isoformat(), utc(batch[-1].interval_end).isoformat()
            note = f" ({len(reply.duplicates)} already stored)" if reply.duplicates else ""
            await self._commit(
                state,
                ("usage_reported", f"{len(batch)} report(s) {first}..{last} accepted{note}"),
                usage_state=usage.acknowledge(self.usage, done),
            )

    # -- actions (the seed's "Action" menu) -----------------------------------------------------
    async def register(self, token: str, *, force: bool = False) -> StatusView:
        """Register with a token; ``force`` reregisters (possibly into another virtual account)."""
        async with self.lock:
            action = "reregister" if force else "register"
            try:
                permits.require_enabled(self.state)
                permits.permit(self.state, PersonAction(action))
                if not self.state.serial_number:
                    raise Conflict(
                        f"{self.name} has no serial number",
                        code="serial_not_generated",
                        fix=f"generate it first: 'smart-agent serial generate --instance {self.name}'",
                    )
                tokens.parse(token)  # a mistyped token is told here, before any network
            except SmartLicensingError as err:
                await self._fail(err, action)
                raise
            key = pki.new_key()
            csr = pki.make_csr(key, common_name=self.state.name, serial_number=self.state.serial_number)
            msg = Register(
                sent_at=epoch(self.clock.now()),
                nonce=envelope.new_nonce(),
                token=token,
                identity=self.state.identity(),
                csr=csr.decode(),
                force=force,
            )
            try:
                self.in_flight = True
                reply = await self.transport.register(msg)
            except SmartLicensingError as err:
                await self._fail(err, action)
                raise
            finally:
                self.in_flight = False
            assert isinstance(reply, Registered)
            previous = self.state.virtual_account
            state = outcomes.on_registered(self.state, reply, self.clock.now())
            self.key = key
            moved = f" (moved from {previous})" if force and previous and previous != reply.virtual_account else ""
            await self._commit(
                state,
                (
                    "registered" if not force else "reregistered",
                    f"registered to {reply.smart_account} / {reply.virtual_account}{moved} as {reply.piid}",
                ),
                key=pki.key_pem(key),
                cert=reply.id_cert,
                usage_state=usage.forget_queue(self.usage),
            )
            log.info(action + "ed", instance=self.name, piid=reply.piid, va=reply.virtual_account)
            await self._perform(Due.RENEW_AUTHORIZATION)
        return self.status()

    async def renew_authorization(self) -> StatusView:
        """Action > Renew Authorization."""
        return await self._manual(Due.RENEW_AUTHORIZATION, "renew the authorization")

    async def renew_registration(self) -> StatusView:
        """Action > Renew Registration (a new ID certificate)."""
        return await self._manual(Due.RENEW_REGISTRATION, "renew the registration")

    async def _manual(self, due: Due, what: str) -> StatusView:
        async with self.lock:
            try:
                permits.require_enabled(self.state)
                permits.permit(self.state, PersonAction(due.value))
            except SmartLicensingError as err:
                await self._fail(err, str(due))
                raise
            try:
                if due is Due.RENEW_AUTHORIZATION:
                    await self._authorize_locked()
                else:
                    await self._renew_registration_locked()
            except RemoteError as err:
                if err.code == "instance_removed":
                    await self._removed_by_ssm(err)
                else:
                    await self._fail(err, str(due))
                raise
            except SmartLicensingError as err:
                await self._fail(err, str(due))
                raise
        return self.status()

    async def deregister(self) -> DeregisterResult:
        """Action > Deregister: release every license; locally too when the SSM is unreachable."""
        async with self.lock:
            permits.permit(self.state, PersonAction.DEREGISTER)
            assert self.state.piid is not None
            piid = self.state.piid
            removed_on_ssm = True
            message = "deregistered; all its licenses were released to the virtual account"
            if self.key is not None:
                try:
                    await self._send(Deregister(sent_at=epoch(self.clock.now()), nonce=envelope.new_nonce(), piid=piid))
                except RemoteError as err:
                    if err.code != "instance_removed":
                        removed_on_ssm = False
                        message = f"deregistered locally; the SSM refused ({err.code}: {err.message})"
                except SmartLicensingError as err:
                    removed_on_ssm = False
                    message = f"deregistered locally; the SSM could not be reached ({err.code})"
            if not removed_on_ssm:
                message += (
                    f". Remove product instance {piid} from the SSM by hand to free its licenses "
                    f"('ssm-server instance remove {piid}')"
                )
            state = outcomes.on_deregistered(self.state, self.clock.now())
            self.key = None
            await self._commit(
                state, ("deregistered", message), clear_credentials=True, usage_state=usage.forget_queue(self.usage)
            )
        return DeregisterResult(self.status(), removed_on_ssm, message)

    async def set_license_type(self, license_type: LicenseType, usage_mode: UsageMode) -> StatusView:
        """License Type: chosen before registering; refused while registered."""
        async with self.lock:
            state = permits.set_license_type(self.state, license_type, usage_mode)
            note = ""
            if state.effective_license_type is not license_type:
                note = f" (a {state.deployment_type} deployment uses {state.effective_license_type})"
            await self._commit(state, ("license_type_changed", f"license type {license_type} {usage_mode}{note}"))
        return self.status()

    async def add_agents(self, count: int) -> StatusView:
        """Add agents to the deployment (blocked in Enforcement)."""
        async with self.lock:
            await self._commit(self.state)  # the verdict of now, not of the last tick
            state = permits.add_agents(self.state, count)
            await self._commit(state, ("agents_added", f"{count} agent(s) added; {state.agents} configured"))
        return self.status()

    async def set_usage(self, values: dict[str, int]) -> list[ConsumptionLine]:
        """The current in-use count of some licenses (the interval's peak keeps the highest)."""
        values = usage.check_usage(values)
        async with self.lock:
            now = self.clock.now()
            u, _ = usage.close_due(self.usage, self.state, now, self.policy)
            u = usage.set_current(u, values, now, self.policy)
            text = ", ".join(f"{k}={v}" for k, v in values.items())
            await self._commit(self.state, ("usage_set", text), usage_state=u)
        return self.consumption()

    async def set_enabled(self, enabled: bool) -> StatusView:
        """Enable or disable the Smart Agent for this instance (disabled: no requests at all)."""
        async with self.lock:
            if self.state.enabled == enabled:
                return self.status()
            state = msgspec.structs.replace(self.state, enabled=enabled)
            await self._commit(
                state,
                ("alert_cleared" if enabled else "alert_raised", NOT_ENABLED + (" (cleared)" if enabled else "")),
            )
        return self.status()

    # -- Specific License Reservation -----------------------------------------------------------
    async def reservation_request(self) -> StatusView:
        """Print a request code for the SSM's reserve operation ("Reservation In Progress").
        Asked again while in progress, the same code is shown."""
        async with self.lock:
            if self.state.registration is RegistrationStatus.RESERVATION_IN_PROGRESS:
                return self.status()
            request = slr.new_request_code(self.state.udi_pid, self.state.serial_number or "")
            state = slrlifecycle.request_reservation(self.state, request.text, self.clock.now())
            await self._commit(
                state,
                (
                    "reservation_requested",
                    f"reservation request code {request.text}: reserve licenses with it on the SSM",
                ),
            )
        return self.status()

    async def reservation_install(self, code: str) -> StatusView:
        """Verify an authorization code (trusted signer, untampered, for this request) and install it."""
        async with self.lock:
            pending = slrlifecycle.requested_reservation(self.state)
            try:
                auth = slr.open_authorization(
                    code, roots=self.transport.truststore.roots(), at=real_now(), expected_request=pending.request_code
                )
            except SmartLicensingError as err:
                await self._fail(err, "reservation_install")
                raise
            grants = [
                EntitlementGrant(
                    tag=e.tag,
                    name=_license_name(e.tag, e.name),
                    status=EntitlementStatus.RESERVED_IN_COMPLIANCE,
                    requested=e.count,
                    reported=e.count,
                )
                for e in auth.entitlements
            ]
            state = slrlifecycle.install_reservation(
                self.state,
                grants,
                confirmation=auth.confirmation_code,
                return_code=auth.return_code,
                now=self.clock.now(),
                code_timestamp=auth.timestamp_ms,
            )
            held = ", ".join(f"{g.reported} {g.name}" for g in grants)
            await self._commit(
                state,
                (
                    "reservation_installed",
                    f"authorization code installed ({held}); confirmation code {auth.confirmation_code}",
                ),
                usage_state=usage.forget_queue(self.usage),
            )
        return self.status()

    async def reservation_return(self) -> tuple[StatusView, str]:
        """Release the reservation; the return code must be given to the SSM to free the licenses."""
        async with self.lock:
            state, code = slrlifecycle.return_reservation(self.state)
            await self._commit(
                state,
                ("reservation_returned", f"reservation returned; give the SSM the return code {code}"),
                usage_state=usage.forget_queue(self.usage),
            )
        return self.status(), code

    async def reservation_cancel(self) -> StatusView:
        async with self.lock:
            state = slrlifecycle.cancel_reservation(self.state)
            await self._commit(state, ("reservation_cancelled", "reservation request cancelled"))
        return self.status()

    async def generate_serial(self, serial: str) -> StatusView:
        async with self.lock:
            if self.state.serial_number:
                raise Conflict(
                    f"{self.name} already has serial number {self.state.serial_number}", code="serial_exists"
                )
            state = msgspec.structs.replace(self.state, serial_number=serial)
            await self._commit(state, ("alert_cleared", f"{NO_SERIAL} (cleared): {serial}"))
        return self.status()


def _license_name(tag: str, display: str) -> str:
    """The catalog name of an entitlement tag (the code's display name adds type and mode)."""
    key = license_by_tag(tag)
    return key.name if key is not None else display
