"""One product instance's orchestration, sans-IO: events in, commands out.

``InstanceMachine.handle(event)`` returns what the shell must do, in order (``shared.agent.
commands``): send a request, commit state, log, wake at an instant, answer the person. It
decides what to send when, what a reply or a failure changes, what to persist and what to log;
the licensing rules themselves are in ``shared.lifecycle``, ``shared.outcomes``,
``shared.permits``, ``shared.slrlifecycle`` and ``shared.usage``.

Layers: ``engine`` runs work (generators paused at each ``Send``) and holds the helpers;
``automatic`` is what the instance does by itself (the timer, renewals, reports); this module
is what a person asks (the seed's "Action" menu, License Type, usage, Smart Agent enable,
serial number, Specific License Reservation) and which work each event starts.

Randomness (nonces, ID keys and CSRs, request codes) comes from an injected ``Entropy``.

Pure: no IO, no clock.
"""

from __future__ import annotations

import msgspec

from shared import outcomes, permits, slr, slrlifecycle, tokens, usage
from shared.agent.automatic import Automatic
from shared.agent.commands import Answer, DeregisterResult, Log, ReservationReturned
from shared.agent.engine import Flow, ProtocolViolation, expect, removed
from shared.agent.events import (
    AddAgentsRequested,
    DeregisterRequested,
    EnabledSet,
    Event,
    LicenseTypeRequested,
    RegisterRequested,
    RenewRequested,
    RequestFailed,
    ReservationCancelRequested,
    ReservationInstallRequested,
    ReservationRequested,
    ReservationReturnRequested,
    SerialGenerated,
    UsageSet,
    Woke,
)
from shared.banner import NO_SERIAL, NOT_ENABLED
from shared.clock import epoch
from shared.codes import ErrorCode
from shared.consumption import consumption
from shared.errors import Conflict, RemoteError, SmartLicensingError
from shared.lifecycle import Due
from shared.messages import Deregister, Register, Registered
from shared.permits import PersonAction
from shared.states import RegistrationStatus

__all__ = ["InstanceMachine", "ProtocolViolation"]


class InstanceMachine(Automatic):
    """The orchestration of one product instance (see the module docstring)."""

    def _start(self, event: Event) -> Flow:
        match event:
            case Woke():
                return self._woke(catching_up=event.catching_up)
            case RegisterRequested():
                return self._register(event)
            case RenewRequested():
                return self._renew(event.due)
            case DeregisterRequested():
                return self._deregister()
            case LicenseTypeRequested():
                return self._license_type(event)
            case AddAgentsRequested():
                return self._add_agents(event.count)
            case UsageSet():
                return self._usage_set(event)
            case EnabledSet():
                return self._enabled(event.enabled)
            case SerialGenerated():
                return self._serial(event.serial)
            case ReservationRequested():
                return self._reservation_request()
            case ReservationInstallRequested():
                return self._reservation_install(event)
            case ReservationReturnRequested():
                return self._reservation_return()
            case ReservationCancelRequested():
                return self._reservation_cancel()
        raise ProtocolViolation(f"{type(event).__name__} starts no work")

    # -- the person's actions (the seed's "Action" menu) ---------------------------------------------
    def _register(self, event: RegisterRequested) -> Flow:
        action = PersonAction.REREGISTER if event.force else PersonAction.REGISTER
        try:
            permits.require_enabled(self.state)
            permits.permit(self.state, action)
            if not self.state.serial_number:
                raise Conflict(
                    f"{self.name} has no serial number",
                    code=ErrorCode.SERIAL_NOT_GENERATED,
                    fix=f"generate it first: 'smart-agent serial generate --instance {self.name}'",
                )
            tokens.parse(event.token)  # a mistyped token is told here, before any network
        except SmartLicensingError as err:
            yield from self._failed(err, action)
            return
        key, csr = self.entropy.identity(common_name=self.state.name, serial_number=self.state.serial_number)
        outcome = yield from self._request(
            Register(
                sent_at=epoch(self._now),
                nonce=self.entropy.nonce(),
                token=event.token,
                identity=self.state.identity(),
                csr=csr,
                force=event.force,
            )
        )
        if isinstance(outcome, RequestFailed):
            yield from self._failed(outcome.error, action)
            return
        reply = expect(outcome, Registered)
        previous = self.state.virtual_account
        state = outcomes.on_registered(self.state, reply, self._now)
        self.key = key
        moved = f" (moved from {previous})" if event.force and previous and previous != reply.virtual_account else ""
        yield from self._commit(
            state,
            (f"{action}ed", f"registered to {reply.smart_account} / {reply.virtual_account}{moved} as {reply.piid}"),
            key=key,
            cert=reply.id_cert + "".join(reply.chain),  # presented whole in mutual TLS
            usage_state=usage.forget_queue(self.usage),
        )
        yield Log(
            level="info",
            event=f"{action}ed",
            fields={"instance": self.name, "piid": reply.piid, "va": reply.virtual_account},
        )
        yield from self._perform(Due.RENEW_AUTHORIZATION)
        yield Answer(self._status())

    def _renew(self, due: Due) -> Flow:
        """Renew Authorization or Renew Registration on demand: a failure is answered, no backoff."""
        try:
            permits.require_enabled(self.state)
            permits.permit(self.state, PersonAction(due.value))
        except SmartLicensingError as err:
            yield from self._failed(err, due)
            return
        failure = yield from self._exchange(due)
        if failure is None:
            yield Answer(self._status())
        elif removed(failure):
            yield from self._removed_by_ssm(failure)
            yield Answer(error=failure)
        else:
            yield from self._failed(failure, due)

    def _deregister(self) -> Flow:
        """Release every license; locally too when the SSM is unreachable (the message says so)."""
        permits.permit(self.state, PersonAction.DEREGISTER)
        piid = self.state.piid
        assert piid is not None
        removed_on_ssm = True
        message = "deregistered; all its licenses were released to the virtual account"
        if self.key is not None:
            outcome = yield from self._request(
                Deregister(sent_at=epoch(self._now), nonce=self.entropy.nonce(), piid=piid)
            )
            if isinstance(outcome, RequestFailed) and not removed(outcome.error):
                err = outcome.error
                removed_on_ssm = False
                if isinstance(err, RemoteError):
                    message = f"deregistered locally; the SSM refused ({err.code}: {err.message})"
                else:
                    message = f"deregistered locally; the SSM could not be reached ({err.code})"
        if not removed_on_ssm:
            message += (
                f". Remove product instance {piid} from the SSM by hand to free its licenses "
                f"('ssm-server instance remove {piid}')"
            )
        state = outcomes.on_deregistered(self.state, self._now)
        self.key = None
        yield from self._commit(
            state, ("deregistered", message), clear_credentials=True, usage_state=usage.forget_queue(self.usage)
        )
        yield Answer(DeregisterResult(self._status(), removed_on_ssm, message))

    def _license_type(self, event: LicenseTypeRequested) -> Flow:
        state = permits.set_license_type(self.state, event.license_type, event.usage_mode)
        note = ""
        if state.effective_license_type is not event.license_type:
            note = f" (a {state.deployment_type} deployment uses {state.effective_license_type})"
        yield from self._commit(
            state, ("license_type_changed", f"license type {event.license_type} {event.usage_mode}{note}")
        )
        yield Answer(self._status())

    def _add_agents(self, count: int) -> Flow:
        yield from self._commit(self.state)  # the verdict of now, not of the last tick
        try:
            state = permits.add_agents(self.state, count)
        except Conflict as err:
            yield Answer(error=err)
            return
        yield from self._commit(state, ("agents_added", f"{count} agent(s) added; {state.agents} configured"))
        yield Answer(self._status())

    def _usage_set(self, event: UsageSet) -> Flow:
        """New in-use counts (the interval's peak keeps the highest)."""
        u, _ = usage.close_due(self.usage, self.state, self._now, self.policy)
        u = usage.set_current(u, event.values, self._now, self.policy)
        text = ", ".join(f"{k}={v}" for k, v in event.values.items())
        yield from self._commit(self.state, ("usage_set", text), usage_state=u)
        yield Answer(consumption(self.state, self.usage))

    def _enabled(self, enabled: bool) -> Flow:
        if self.state.enabled != enabled:
            yield from self._commit(
                msgspec.structs.replace(self.state, enabled=enabled),
                ("alert_cleared" if enabled else "alert_raised", NOT_ENABLED + (" (cleared)" if enabled else "")),
            )
        yield Answer(self._status())

    def _serial(self, serial: str) -> Flow:
        if self.state.serial_number:
            raise Conflict(
                f"{self.name} already has serial number {self.state.serial_number}",
                code=ErrorCode.SERIAL_EXISTS,
                fix="nothing to do: a serial number is generated once",
            )
        state = msgspec.structs.replace(self.state, serial_number=serial)
        yield from self._commit(state, ("alert_cleared", f"{NO_SERIAL} (cleared): {serial}"))
        yield Answer(self._status())

    # -- Specific License Reservation --------------------------------------------------------------
    def _reservation_request(self) -> Flow:
        """A request code for the SSM's reserve operation; asked again while in progress, the same."""
        if self.state.registration is not RegistrationStatus.RESERVATION_IN_PROGRESS:
            request = self.entropy.request_code(self.state.udi_pid, self.state.serial_number or "")
            state = slrlifecycle.request_reservation(self.state, request.text, self._now)
            yield from self._commit(
                state,
                (
                    "reservation_requested",
                    f"reservation request code {request.text}: reserve licenses with it on the SSM",
                ),
            )
        yield Answer(self._status())

    def _reservation_install(self, event: ReservationInstallRequested) -> Flow:
        """Verify an authorization code (trusted signer, untampered, for this request), install it."""
        pending = slrlifecycle.requested_reservation(self.state)
        try:
            auth = slr.open_authorization(
                event.code, roots=event.roots, at=event.verified_at, expected_request=pending.request_code
            )
        except SmartLicensingError as err:
            yield from self._failed(err, PersonAction.INSTALL_RESERVATION)
            return
        grants = slrlifecycle.reserved_grants(auth)
        state = slrlifecycle.install_reservation(
            self.state,
            grants,
            confirmation=auth.confirmation_code,
            return_code=auth.return_code,
            now=self._now,
            code_timestamp=auth.timestamp_ms,
        )
        held = ", ".join(f"{g.reported} {g.name}" for g in grants)
        yield from self._commit(
            state,
            (
                "reservation_installed",
                f"authorization code installed ({held}); confirmation code {auth.confirmation_code}",
            ),
            usage_state=usage.forget_queue(self.usage),
        )
        yield Answer(self._status())

    def _reservation_return(self) -> Flow:
        state, code = slrlifecycle.return_reservation(self.state)
        yield from self._commit(
            state,
            ("reservation_returned", f"reservation returned; give the SSM the return code {code}"),
            usage_state=usage.forget_queue(self.usage),
        )
        yield Answer(ReservationReturned(self._status(), code))

    def _reservation_cancel(self) -> Flow:
        state = slrlifecycle.cancel_reservation(self.state)
        yield from self._commit(state, ("reservation_cancelled", "reservation request cancelled"))
        yield Answer(self._status())
