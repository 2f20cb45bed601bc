"""What the product-instance machine asks its shell to do, in order.

- ``Send``: post a request to the SSM; the shell answers with ``ReplyReceived`` or
  ``RequestFailed`` carrying the same ``request_id``. The machine waits for it: ``Send`` is
  always the last command of a batch.
- ``Persist``: commit the instance state (and usage, and ID key and certificate changes) with
  the event-log records that led to it, in one transaction, before anything later runs.
- ``Log``: one structured log event; ``smartlog`` marks those SmartAgent.log also shows
  (failures, and communication restored).
- ``WakeAt``: when the timer loop must wake the machine next (time is a command: only the
  shell sleeps, as in mitmproxy's ``RequestWakeup``).
- ``Answer``: the person's action is done: its result, or the error to raise.

The results an ``Answer`` carries are here too. Pure: no IO, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from shared.consumption import ConsumptionLine
from shared.errors import SmartLicensingError
from shared.lifecycle import InstanceState, Record
from shared.messages import Register, SignedRequest
from shared.pki import PrivateKey
from shared.statusview import StatusView
from shared.usage import UsageState


@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    """Post ``request`` to the SSM, signed with ``signer`` (None: a registration, unsigned)."""

    request_id: int
    request: Register | SignedRequest
    signer: PrivateKey | None = None

    def __post_init__(self) -> None:
        if (self.signer is None) != isinstance(self.request, Register):
            raise ValueError("every request but a registration is signed with the ID key")


@dataclass(frozen=True, slots=True, kw_only=True)
class Persist:
    """Commit ``state`` (and ``usage`` when given) with ``records``, in one transaction.

    ``key_pem`` / ``cert_pem`` replace the ID key and certificate; ``clear_credentials`` forgets
    them (deregistered, or removed by the SSM)."""

    at: datetime
    state: InstanceState
    usage: UsageState | None = None
    records: tuple[Record, ...] = ()
    key_pem: bytes | None = None
    cert_pem: str | None = None
    clear_credentials: bool = False


LogLevel = Literal["info", "warning"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Log:
    """A structured log event; ``smartlog`` also writes it to SmartAgent.log."""

    level: LogLevel
    event: str
    fields: Mapping[str, str | int] = field(default_factory=dict)
    smartlog: bool = False


@dataclass(frozen=True, slots=True)
class WakeAt:
    """Wake the machine (``Woke``) at ``when``, or earlier when an action pokes the timer loop."""

    when: datetime


@dataclass(frozen=True, slots=True)
class DeregisterResult:
    """Deregistered; ``removed_on_ssm`` False when it was only local (the message says what to do)."""

    status: StatusView
    removed_on_ssm: bool
    message: str


@dataclass(frozen=True, slots=True)
class ReservationReturned:
    """The reservation was released; ``return_code`` is for the SSM, to free the licenses."""

    status: StatusView
    return_code: str


Result = StatusView | DeregisterResult | ReservationReturned | list[ConsumptionLine]


@dataclass(frozen=True, slots=True)
class Answer:
    """The person's action is done: ``result``, or ``error`` to raise (everything before this
    command, its ``Persist`` included, has run)."""

    result: Result | None = None
    error: SmartLicensingError | None = None


Command = Send | Persist | Log | WakeAt | Answer
