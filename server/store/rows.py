"""The typed rows the repositories return: frozen dataclasses, domain time as epoch seconds.

No SQL here and no behaviour beyond small derived properties; the rules live in ``shared``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shared.compliance import PoolState, reported
from shared.reservation import ReservationStatus
from shared.states import AuthorizationStatus, LicenseType, UsageMode
from shared.terms import Term


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    domain: str
    name: str
    export_control_allowed: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class VirtualAccount:
    id: int
    account_id: int
    name: str
    description: str
    is_default: bool


@dataclass(frozen=True, slots=True)
class License:
    """A license pool of a virtual account: purchased quantity and compliance state."""

    id: int
    virtual_account_id: int
    name: str
    license_type: LicenseType
    usage_mode: UsageMode
    tag: str
    quantity: int
    pool: PoolState = field(default_factory=PoolState)
    enforcement_notified: bool = False
    #: Held by Specific License Reservations: not available to reported usage.
    reserved: int = 0
    #: The domain instant (epoch s) its first licenses were purchased (None: none purchased yet).
    purchased_at: int | None = None

    @property
    def for_usage(self) -> int:
        """The purchased quantity reported usage is judged against (reservations come first)."""
        return max(0, self.quantity - self.reserved)


@dataclass(frozen=True, slots=True)
class LicenseTerm:
    """A Flex subscription term: a lot of a pool that leaves it at ``ends_at`` (``shared.terms``)."""

    id: int
    license_id: int
    subscription_id: str
    quantity: int
    starts_at: int
    ends_at: int
    alerted: int | None
    renewed_at: int | None
    expired_at: int | None
    next_check_at: int | None

    @property
    def term(self) -> Term:
        return Term(self.starts_at, self.ends_at, self.alerted, self.expired_at is not None)


@dataclass(frozen=True, slots=True)
class PoolSample:
    """A pool's in-use and purchased quantities from instant ``at`` on (its history)."""

    at: int
    in_use: int
    purchased: int


@dataclass(frozen=True, slots=True)
class Latest:
    """An instance's latest reported usage of one license."""

    piid: str
    tag: str
    virtual_account_id: int
    interval_end: int
    peak: int
    locked: int | None

    @property
    def reported(self) -> int:
        return reported(self.peak, self.locked)


@dataclass(frozen=True, slots=True)
class StoredReport:
    """A usage report as the SSM stored it (its lines as JSON text)."""

    report_id: str
    piid: str
    interval_start: int
    interval_end: int
    received_at: int
    lines: str


@dataclass(frozen=True, slots=True)
class Instance:
    piid: str
    virtual_account_id: int
    name: str
    product: str
    udi_pid: str
    serial_number: str
    hostname: str
    deployment_type: str
    license_type: LicenseType
    usage_mode: UsageMode
    software_version: str
    export_controlled: bool
    token_id: str | None
    public_key: bytes
    cert_pem: str
    cert_serial: str
    registered_at: int
    cert_issued_at: int
    cert_expires_at: int
    authorized_at: int | None
    last_contact_at: int
    removed_at: int | None
    removed_reason: str | None = None
    prev_public_key: bytes | None = None
    status: AuthorizationStatus = AuthorizationStatus.UNAUTHORIZED
    ooc_since: int | None = None
    renew_alerted_at: int | None = None
    next_check_at: int | None = None


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    at: int
    kind: str
    severity: str
    virtual_account_id: int | None
    piid: str | None
    subject: str
    body: str


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    at: int
    kind: str
    virtual_account_id: int | None
    piid: str | None
    message: str
    #: real time (ns) it was recorded: orders the events of one domain instant across processes
    recorded_ns: int | None = None


@dataclass(frozen=True, slots=True)
class Satellite:
    """An SSM On-Prem registered to this (cloud) SSM: its last synchronization and deadlines."""

    piid: str
    sequence: int
    last_sync: int
    alerted: frozenset[str]
    next_check: int | None


@dataclass(frozen=True, slots=True)
class SatelliteInstance:
    """A product instance of an SSM On-Prem, as its last synchronization listed it."""

    satellite: str
    piid: str
    name: str
    product: str
    udi_pid: str
    serial_number: str
    virtual_account: str
    status: str
    last_contact_at: int


@dataclass(frozen=True, slots=True)
class BehindOnPrem:
    """A product instance of an SSM On-Prem as the cloud shows it: beside the On-Prem's name, its
    virtual account at the cloud and when the cloud removed it (if it did)."""

    instance: SatelliteInstance
    onprem_name: str
    virtual_account_id: int
    onprem_removed_at: int | None


@dataclass(frozen=True, slots=True)
class ApiClient:
    """A client of the admin API's OAuth2 token endpoints (its secret only as a hash)."""

    client_id: str
    secret_hash: str
    name: str
    created_at: int
    revoked_at: int | None
    last_token_at: int | None


@dataclass(frozen=True, slots=True)
class ReservedLicense:
    tag: str
    name: str
    count: int
    license_type: str


@dataclass(frozen=True, slots=True)
class Reservation:
    """A Specific License Reservation of one device (UDI product id and serial number)."""

    id: int
    virtual_account_id: int
    request_code: str
    udi_pid: str
    serial_number: str
    licenses: tuple[ReservedLicense, ...]
    authorization_code: str
    confirmation_code: str
    return_code: str
    status: ReservationStatus
    created_at: int
    confirmed_at: int | None
    returned_at: int | None
    #: "SPECIFIC" (SLR: the licenses listed) or "UNIVERSAL" (PLR: every feature, no license held)
    kind: str = "SPECIFIC"

    @property
    def universal(self) -> bool:
        return self.kind == "UNIVERSAL"
