"""What the product-instance machine is told: time, a person's action, the SSM's answer.

Every event carries ``now``, the domain time the shell read when it happened: the machine
never reads a clock. Events validate themselves when built (h11's ``_events.py``), so an event
that exists is well formed.

- ``Woke``: the timer fired (or an action poked it): record what time changed, close usage
  intervals, send what is due.
- ``ReplyReceived`` / ``RequestFailed``: the outcome of the ``Send`` with the same request id.
- The person's actions (the seed's "Action" menu, License Type, usage, Smart Agent enable,
  serial number, Specific License Reservation): one ``...Requested`` (or ``...Set``) each.

Pure: no IO, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from shared.errors import SmartLicensingError
from shared.lifecycle import Due
from shared.messages import Reply
from shared.states import LicenseType, UsageMode
from shared.usage import check_usage


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    #: Domain time when it happened (aware UTC).
    now: datetime

    def __post_init__(self) -> None:
        if self.now.tzinfo is None:
            raise ValueError("an event's time must be timezone-aware (domain time is UTC)")


@dataclass(frozen=True, slots=True, kw_only=True)
class Woke(Event):
    """The timer fired, or an action asked the timer loop to look again."""

    #: The clock is being advanced past ``now`` (a jump of the lab clock): closed intervals may
    #: wait and go to the SSM in batches; the advance's end wakes the instance again to send the rest.
    catching_up: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyReceived(Event):
    """The SSM answered request ``request_id`` (verified by the transport)."""

    request_id: int
    reply: Reply


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestFailed(Event):
    """Request ``request_id`` failed: unreachable, refused by the SSM, or its reply not acceptable."""

    request_id: int
    error: SmartLicensingError


@dataclass(frozen=True, slots=True, kw_only=True)
class RegisterRequested(Event):
    """Register with a token; ``force`` reregisters (possibly into another virtual account)."""

    token: str
    force: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RenewRequested(Event):
    """Renew Authorization, or Renew Registration (a new ID certificate), now."""

    due: Due


@dataclass(frozen=True, slots=True, kw_only=True)
class DeregisterRequested(Event):
    """Deregister: release every license; locally too when the SSM cannot be reached."""


@dataclass(frozen=True, slots=True, kw_only=True)
class LicenseTypeRequested(Event):
    """Choose the License Type (before registering)."""

    license_type: LicenseType
    usage_mode: UsageMode


@dataclass(frozen=True, slots=True, kw_only=True)
class AddAgentsRequested(Event):
    """Add agents to the deployment (blocked in Enforcement)."""

    count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageSet(Event):
    """The current in-use count of some licenses.

    Raises:
        BadRequest: ``unknown_license``, ``invalid_usage`` (when built).
    """

    values: Mapping[str, int]

    def __post_init__(self) -> None:
        Event.__post_init__(self)
        object.__setattr__(self, "values", check_usage(self.values))


@dataclass(frozen=True, slots=True, kw_only=True)
class EnabledSet(Event):
    """Enable or disable the Smart Agent for this instance (disabled: no requests at all)."""

    enabled: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class SerialGenerated(Event):
    """A serial number was generated for an instance that had none."""

    serial: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ReservationRequested(Event):
    """Print a request code for the SSM's reserve operation."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReservationInstallRequested(Event):
    """Install an authorization code. Its signer must chain to ``roots`` (the truststore) at
    ``verified_at``: real time, since the SSM's signing certificate is infrastructure."""

    code: str
    roots: tuple[x509.Certificate, ...]
    verified_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ReservationReturnRequested(Event):
    """Release the installed reservation (its return code frees the licenses on the SSM)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ReservationCancelRequested(Event):
    """Cancel a reservation in progress."""


Outcome = ReplyReceived | RequestFailed
Action = (
    RegisterRequested
    | RenewRequested
    | DeregisterRequested
    | LicenseTypeRequested
    | AddAgentsRequested
    | UsageSet
    | EnabledSet
    | SerialGenerated
    | ReservationRequested
    | ReservationInstallRequested
    | ReservationReturnRequested
    | ReservationCancelRequested
)
