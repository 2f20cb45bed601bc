"""One product instance inside the agent: the IO shell of its sans-IO machine.

``shared.agent.machine.InstanceMachine`` decides everything (what to send when, what a reply
or a failure changes, what to persist and log); this shell feeds it events and runs its
commands: ``Send`` through the transport, ``Persist`` through the store (committed before the
next command, so before the action is answered), ``Log`` through the agent's logger (the
structured log, and SmartAgent.log for failures), ``WakeAt`` for the timer loop, ``Answer`` back
to the caller. Events of one instance are serialized by a lock.

``run`` is the instance's timer loop: sleep until the machine's next ``WakeAt`` (or until an
action pokes it), then ``step``: feed ``Woke``.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from datetime import datetime
from functools import partial

import structlog

from agent.store import AgentStore
from agent.transport import Transport
from shared import clientcert, pki
from shared.agent import events as ev
from shared.agent.commands import (
    Answer,
    DeregisterResult,
    Log,
    Persist,
    ReservationReturned,
    Result,
    Send,
    WakeAt,
)
from shared.agent.entropy import Entropy
from shared.agent.machine import InstanceMachine
from shared.clock import AnyClock, epoch, real_now
from shared.consumption import ConsumptionLine, consumption
from shared.errors import BadRequest, SmartLicensingError
from shared.lifecycle import Due, InstanceState
from shared.logging import get_logger
from shared.messages import Register, ReportUsage
from shared.policy import Policy
from shared.states import LicenseType, UsageMode
from shared.statusview import StatusView
from shared.usage import Profile, UsageState

#: The agent's logger (``agent.smartlog.agent_logger``), or a plain structured one.
Logger = structlog.BoundLogger | structlog.typing.FilteringBoundLogger

__all__ = ["DeregisterResult", "InstanceRunner"]


class InstanceRunner:
    def __init__(
        self,
        *,
        state: InstanceState,
        usage_state: UsageState,
        key: pki.PrivateKey | None,
        transport: Transport,
        cert_pem: str | None = None,
        store: AgentStore,
        clock: AnyClock,
        policy: Policy,
        profile: Profile | None = None,
        log: Logger | None = None,
        entropy: Entropy | None = None,
        reports_alone: Callable[[], bool] = lambda: True,
    ) -> None:
        #: Whether this instance is the only one of its agent that reports: only then may a clock
        #: jump batch its reports (several instances sharing pools report interval by interval,
        #: because the SSM counts over-usage interval by interval across them).
        self.reports_alone = reports_alone
        self.machine = InstanceMachine(
            state=state, usage_state=usage_state, key=key, policy=policy, profile=profile, entropy=entropy
        )
        self.transport = transport
        #: The ID certificate the SSM issued (PEM), presented when the SSM demands mutual TLS.
        self.cert_pem = cert_pem
        self.store = store
        self.clock = clock
        self.policy = policy
        self.profile = profile
        #: The agent's logger (``agent.smartlog.agent_logger``): structured log and SmartAgent.log.
        self.log: Logger = log or get_logger("agent.instance")
        self.lock = asyncio.Lock()
        self.in_flight = False
        #: Figures for /metrics: requests by kind and outcome, reports sent.
        self.counters: collections.Counter[tuple[str, str]] = collections.Counter()
        #: What the store holds: the machine goes back to it if a command cannot run.
        self._committed = (state, usage_state, key)
        self._poke = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self.machine.name

    @property
    def state(self) -> InstanceState:
        return self.machine.state

    @property
    def usage(self) -> UsageState:
        return self.machine.usage

    @property
    def key(self) -> pki.PrivateKey | None:
        return self.machine.key

    @property
    def initialized(self) -> bool:
        return self.machine.initialized

    def status(self) -> StatusView:
        return self.machine.status(self.clock.now())

    def consumption(self) -> list[ConsumptionLine]:
        return consumption(self.state, self.usage, waiting=self.in_flight)

    # -- running the machine ---------------------------------------------------------------------
    async def _feed(self, event: ev.Event) -> Answer | WakeAt | None:
        """Feed ``event`` (lock held) and run the commands, with the outcome of each ``Send``
        fed back, until the machine is done; the last ``Answer`` or ``WakeAt``."""
        commands = collections.deque(self.machine.handle(event))
        last: Answer | WakeAt | None = None
        try:
            while commands:
                command = commands.popleft()
                if isinstance(command, Send):
                    commands.extend(self.machine.handle(await self._send(command)))
                elif isinstance(command, Persist):
                    await self._persist(command)
                elif isinstance(command, Log):
                    fields = {**command.fields, **({"smartlog": True} if command.smartlog else {})}
                    getattr(self.log, command.level)(command.event, **fields)
                else:
                    last = command
        except BaseException:
            state, usage_state, key = self._committed
            self.machine.abort(state=state, usage_state=usage_state, key=key)
            raise
        return last

    async def _send(self, command: Send) -> ev.ReplyReceived | ev.RequestFailed:
        msg = command.request
        kind = type(msg).__name__
        self.in_flight = True
        try:
            if isinstance(msg, Register):
                reply = await self.transport.register(msg)
            else:
                assert command.signer is not None
                reply = await self.transport.send(msg, command.signer, cert_pem=self.cert_pem)
        except SmartLicensingError as err:
            if not isinstance(msg, Register):
                self.counters[(kind, err.code)] += 1
            return ev.RequestFailed(now=self.clock.now(), request_id=command.request_id, error=err)
        finally:
            self.in_flight = False
        if not isinstance(msg, Register):
            self.counters[(kind, "ok")] += 1
        if isinstance(msg, ReportUsage):
            self.counters[("reports", "sent")] += len(msg.reports)
        return ev.ReplyReceived(now=self.clock.now(), request_id=command.request_id, reply=reply)

    async def _persist(self, command: Persist) -> None:
        await self.store.save(
            command.state,
            command.at,
            key_pem=command.key_pem,
            cert_pem=command.cert_pem,
            clear_credentials=command.clear_credentials,
            usage=command.usage,
            events=command.records,
        )
        _, usage_state, key = self._committed
        if command.clear_credentials:
            key, self.cert_pem = None, None
        else:
            if command.key_pem is not None:
                key = self.machine.key  # a new key is committed with the change that brought it
            if command.cert_pem is not None:
                self.cert_pem = command.cert_pem  # and its ID certificate
        self._committed = (command.state, command.usage or usage_state, key)
        if asyncio.current_task() is not self._loop_task:
            self.clock.poke(self._poke)  # an action changed the schedule: the timer loop recomputes

    async def _act(self, make: Callable[..., ev.Event]) -> Result:
        """Run a person's action: the event built at the current time, once the lock is held."""
        async with self.lock:
            answer = await self._feed(make(now=self.clock.now()))
        assert isinstance(answer, Answer), "an action ends with its answer"
        if answer.error is not None:
            raise answer.error
        assert answer.result is not None
        return answer.result

    async def _status_of(self, make: Callable[..., ev.Event]) -> StatusView:
        result = await self._act(make)
        assert isinstance(result, StatusView)
        return result

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
            catching_up = self.clock.catching_up and self.reports_alone()
            wake = await self._feed(ev.Woke(now=self.clock.now(), catching_up=catching_up))
        if self.machine.deferring:  # reports wait for a batch: send the rest when the jump ends
            self.clock.after_catch_up(self._poke)
        assert isinstance(wake, WakeAt), "the timer's work ends with the next wakeup"
        return wake.when

    # -- actions (the seed's "Action" menu) -----------------------------------------------------
    async def register(self, token: str, *, force: bool = False) -> StatusView:
        """Register with a token; ``force`` reregisters (possibly into another virtual account)."""
        return await self._status_of(partial(ev.RegisterRequested, token=token, force=force))

    async def renew_authorization(self) -> StatusView:
        """Action > Renew Authorization."""
        return await self._status_of(partial(ev.RenewRequested, due=Due.RENEW_AUTHORIZATION))

    async def renew_registration(self) -> StatusView:
        """Action > Renew Registration (a new ID certificate)."""
        return await self._status_of(partial(ev.RenewRequested, due=Due.RENEW_REGISTRATION))

    async def deregister(self) -> DeregisterResult:
        """Action > Deregister: release every license; locally too when the SSM is unreachable."""
        result = await self._act(ev.DeregisterRequested)
        assert isinstance(result, DeregisterResult)
        return result

    async def set_license_type(self, license_type: LicenseType, usage_mode: UsageMode) -> StatusView:
        """License Type: chosen before registering; refused while registered."""
        return await self._status_of(partial(ev.LicenseTypeRequested, license_type=license_type, usage_mode=usage_mode))

    async def add_agents(self, count: int) -> StatusView:
        """Add agents to the deployment (blocked in Enforcement)."""
        return await self._status_of(partial(ev.AddAgentsRequested, count=count))

    async def set_usage(self, values: dict[str, int]) -> list[ConsumptionLine]:
        """The current in-use count of some licenses (the interval's peak keeps the highest)."""
        result = await self._act(partial(ev.UsageSet, values=values))
        assert isinstance(result, list)
        return result

    async def set_enabled(self, enabled: bool) -> StatusView:
        """Enable or disable the Smart Agent for this instance (disabled: no requests at all)."""
        return await self._status_of(partial(ev.EnabledSet, enabled=enabled))

    async def generate_serial(self, serial: str) -> StatusView:
        return await self._status_of(partial(ev.SerialGenerated, serial=serial))

    async def install_id_cert(self, pem: str) -> str:
        """Present another ID certificate for this instance's key from now on (the lab's ID-certificate
        drills); what the event log says of it.

        Raises:
            BadRequest: ``not_registered``, ``id_cert_invalid`` (not PEM, or not for this instance's key).
        """
        async with self.lock:
            key = self.key
            if key is None:
                raise BadRequest(
                    f"instance {self.name} has no ID key: it is not registered",
                    code="not_registered",
                    fix="register it first ('smart-agent register TOKEN')",
                )
            try:
                cert = pki.load_cert(pem.encode())
            except ValueError:
                raise BadRequest(
                    "the ID certificate is not a PEM certificate",
                    code="id_cert_invalid",
                    fix="send one PEM certificate",
                ) from None
            if not clientcert.same_public_key(cert.public_key(), key.public_key()):
                raise BadRequest(
                    f"the certificate is not for the ID key of {self.name}",
                    code="id_cert_invalid",
                    fix="issue it for this instance's key (POST /_lab/instances/{piid}/id-cert on the SSM does)",
                )
            now = self.clock.now()
            issuer = cert.issuer.rfc4514_string()
            what = f"ID certificate replaced by the lab: serial {cert.serial_number:x}, issued by {issuer}"
            await self.store.save(self.state, now, cert_pem=pem, events=[(epoch(now), "id_cert_replaced", what)])
            self.cert_pem = pem
            return what

    # -- Specific License Reservation -----------------------------------------------------------
    async def reservation_request(self) -> StatusView:
        """Print a request code for the SSM's reserve operation ("Reservation In Progress").
        Asked again while in progress, the same code is shown."""
        return await self._status_of(ev.ReservationRequested)

    async def reservation_install(self, code: str) -> StatusView:
        """Verify an authorization code (trusted signer, untampered, for this request) and install it."""

        def make(now: datetime) -> ev.Event:
            # The truststore as it is now; real time: the SSM's signing certificate is infrastructure.
            roots = tuple(self.transport.truststore.roots())
            return ev.ReservationInstallRequested(now=now, code=code, roots=roots, verified_at=real_now())

        return await self._status_of(make)

    async def reservation_return(self) -> tuple[StatusView, str]:
        """Release the reservation; the return code must be given to the SSM to free the licenses."""
        result = await self._act(ev.ReservationReturnRequested)
        assert isinstance(result, ReservationReturned)
        return result.status, result.return_code

    async def reservation_cancel(self) -> StatusView:
        return await self._status_of(ev.ReservationCancelRequested)
