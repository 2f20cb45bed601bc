"""The engine of the product-instance machine: events in, commands out, one piece of work at a time.

``handle(event)`` starts the work an event calls for (``InstanceMachine._start``) or resumes
the work waiting for that outcome. Work is a generator (mitmproxy's proxy layers): it yields
commands, and a ``Send`` pauses it until the shell feeds the outcome (``ReplyReceived`` /
``RequestFailed`` with the same request id). The helpers every piece of work uses live here:
sending a request, committing a state (time rules applied, transitions logged), recording a
failure through its one log event.

- A person's action refused with nothing changed raises from ``handle`` (a ``Conflict`` with
  its code and fix, as h11 raises on an illegal transition); a failure that is recorded (the
  status reason, SmartAgent.log) ends with ``Answer(error=...)`` after its ``Persist``.
- ``ProtocolViolation`` is the shell's bug (an outcome of no request in flight, an event while
  one is) or the SSM's (a reply of the wrong kind).

Pure: no IO, no clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Generator
from datetime import datetime
from typing import TypeVar

from shared import lifecycle, outcomes, pki
from shared.agent.commands import Answer, Command, Log, Persist, Send
from shared.agent.entropy import Entropy, SystemEntropy
from shared.agent.events import Event, Outcome, ReplyReceived, RequestFailed
from shared.clock import epoch, utc
from shared.codes import ErrorCode
from shared.errors import RemoteError, SmartLicensingError
from shared.lifecycle import InstanceState
from shared.messages import Register, SignedRequest
from shared.policy import Policy
from shared.statusview import StatusView, status_view
from shared.usage import Profile, UsageState

#: A piece of work: yields commands; a ``Send`` is resumed with its outcome.
Flow = Generator[Command, Outcome | None, None]
#: An exchange with the SSM: its error, or None once the reply is committed.
Exchange = Generator[Command, Outcome | None, SmartLicensingError | None]

R = TypeVar("R")


class ProtocolViolation(Exception):
    """An event the machine cannot take now: an outcome of no request in flight, another event
    while a request is in flight (the shell's bug), or a reply of the wrong kind (the SSM's)."""


class Engine:
    """Runs the work of one product instance. ``state``, ``usage`` and ``key`` are what it
    decided; each change reaches the store through a ``Persist`` before any ``Answer``."""

    def __init__(
        self,
        *,
        state: InstanceState,
        usage_state: UsageState,
        key: pki.PrivateKey | None,
        policy: Policy,
        profile: Profile | None = None,
        entropy: Entropy | None = None,
    ) -> None:
        self.state = state
        self.usage = usage_state
        self.key = key
        self.policy = policy
        self.profile = profile
        self.entropy: Entropy = entropy or SystemEntropy()
        #: True once a ``Woke`` ran to its end (the "not initialized" alert clears).
        self.initialized = False
        #: Closed intervals wait for a batch (the clock is jumping ahead; see ``Automatic._woke``).
        self.deferring = False
        self._now = utc(state.checked_at)
        self._flow: Flow | None = None
        self._awaiting: int | None = None
        self._ids = itertools.count(1)

    @property
    def name(self) -> str:
        return self.state.name

    @property
    def busy(self) -> bool:
        """A request is in flight: only its outcome may come next."""
        return self._flow is not None

    def handle(self, event: Event) -> list[Command]:
        """Take ``event``; return the commands it leads to, in order, up to a ``Send`` (whose
        outcome the machine then waits for) or to the end of the work.

        Raises:
            SmartLicensingError: a person's action refused, with nothing changed.
            ProtocolViolation: see the class.
        """
        if isinstance(event, ReplyReceived | RequestFailed):
            if self._flow is None or event.request_id != self._awaiting:
                raise ProtocolViolation(f"no request {event.request_id} is in flight")
            self._now = event.now
            return self._run(self._flow, event)
        if self._flow is not None:
            raise ProtocolViolation(f"{type(event).__name__} while request {self._awaiting} is in flight")
        self._now = event.now
        return self._run(self._start(event), None)

    def abort(self, *, state: InstanceState, usage_state: UsageState, key: pki.PrivateKey | None) -> None:
        """Drop the work in progress and go back to what the store holds: the shell could not
        run a command (the store failed, or the work was cancelled)."""
        if self._flow is not None:
            self._flow.close()
        self._flow = self._awaiting = None
        self.state, self.usage, self.key = state, usage_state, key

    def status(self, now: datetime) -> StatusView:
        return status_view(self.state, now, self.policy)

    # -- running work ----------------------------------------------------------------------------
    def _run(self, flow: Flow, outcome: Outcome | None) -> list[Command]:
        out: list[Command] = []
        try:
            command = flow.send(outcome)
            while not isinstance(command, Send):
                out.append(command)
                command = next(flow)
        except StopIteration:
            self._flow = self._awaiting = None
            return out
        except BaseException as exc:
            self._flow = self._awaiting = None
            if out:  # commands already decided would be lost: a bug of this module
                raise ProtocolViolation(f"work raised after {len(out)} command(s)") from exc
            raise
        out.append(command)
        self._flow, self._awaiting = flow, command.request_id
        return out

    def _start(self, event: Event) -> Flow:
        """The work ``event`` starts (``InstanceMachine`` says which)."""
        raise NotImplementedError

    def _request(self, msg: Register | SignedRequest) -> Generator[Command, Outcome | None, Outcome]:
        signer = None
        if not isinstance(msg, Register):
            assert self.key is not None, "a signed request needs the ID key"
            signer = self.key
        outcome = yield Send(request_id=next(self._ids), request=msg, signer=signer)
        assert outcome is not None  # handle() resumes a Send only with its outcome
        return outcome

    def _commit(
        self,
        state: InstanceState,
        *records: tuple[str, str],
        key: pki.PrivateKey | None = None,
        cert: str | None = None,
        clear_credentials: bool = False,
        usage_state: UsageState | None = None,
    ) -> Flow:
        """Apply the time rules to ``state``, persist it (and usage, key, certificate) with
        ``records`` (kind, message) and the transitions, and log those transitions. ``cert``: the
        ID certificate followed by its issuing chain (PEM)."""
        now = self._now
        t = epoch(now)
        state, timed = lifecycle.tick(state, now, self.policy)
        restored = self.state.last_failure is not None and state.last_failure is None and records
        self.state = state
        if usage_state is not None:
            self.usage = usage_state
        yield Persist(
            at=now,
            state=state,
            usage=usage_state,
            records=(*((t, kind, message) for kind, message in records), *timed),
            key_pem=pki.key_pem(key) if key is not None else None,
            cert_pem=cert,
            clear_credentials=clear_credentials,
        )
        for at, kind, detail in timed:
            yield Log(
                level="info",
                event="transition",
                fields={"instance": self.name, "kind": kind, "at": at, "detail": detail},
            )
        if restored:
            yield Log(
                level="info",
                event="communication_restored",
                fields={
                    "instance": self.name,
                    "action": records[0][0],
                    "at": t,
                    "notice": "communication with the SSM restored",
                },
                smartlog=True,
            )

    def _failure_log(self, action: str, err: SmartLicensingError, **retry: int) -> Log:
        """The one log event of a failure: the structured log and SmartAgent.log."""
        fields: dict[str, str | int] = {"instance": self.name, "action": action, "at": epoch(self._now)}
        fields |= {"code": err.code, "error": err.message, "fix": err.fix, **retry}
        return Log(level="warning", event=f"{action}_failed", fields=fields, smartlog=True)

    def _failed(self, err: SmartLicensingError, action: str) -> Flow:
        """A person's action failed: the reason is recorded (status, events, logs) and answered."""
        yield from self._commit(
            outcomes.on_failure(self.state, err, self._now, action=action),
            (f"{action}_failed", f"{err.code}: {err.message}"),
        )
        yield self._failure_log(action, err)
        yield Answer(error=err)

    def _status(self) -> StatusView:
        return self.status(self._now)


def removed(err: SmartLicensingError) -> bool:
    """The SSM says it no longer knows the instance (an administrator removed it)."""
    return isinstance(err, RemoteError) and err.code == ErrorCode.INSTANCE_REMOVED


def expect(outcome: ReplyReceived, kind: type[R]) -> R:
    """The reply, of the kind the request calls for.

    Raises:
        ProtocolViolation: the SSM answered another kind.
    """
    if not isinstance(outcome.reply, kind):
        raise ProtocolViolation(f"the SSM answered {type(outcome.reply).__name__}, not {kind.__name__}")
    return outcome.reply
