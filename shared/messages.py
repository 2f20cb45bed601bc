"""Device-plane wire messages (agent <-> SSM) and their one strict codec.

The Smart Transport and Call Home payload formats are not public, so this wire format is
ssmlab's own (see DESIGN.md, "The planes"). Every message is a frozen msgspec ``Struct`` with a
``type`` tag; unknown fields, wrong types and out-of-range values are refused by ``decode_*``
with a ``BadRequest`` that names the field. Times are integer epoch seconds of domain time.

Pure: no IO, no clock.
"""

from __future__ import annotations

from typing import Annotated, TypeVar

import msgspec

from shared import wire
from shared.limits import Count, Epoch, SyncSequence
from shared.states import (
    EntitlementStatus,
    ExportControl,
    LicenseType,
    UsageMode,
)

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Text = Annotated[str, msgspec.Meta(max_length=1024)]
Nonce = Annotated[str, msgspec.Meta(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
Pem = Annotated[str, msgspec.Meta(min_length=64, max_length=16384)]
Token = Annotated[str, msgspec.Meta(min_length=16, max_length=1024)]
Piid = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$")]


class _Strict(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class Identity(_Strict, frozen=True):
    """Who the product instance says it is."""

    instance_name: Name
    product: Name
    udi_pid: Name
    serial_number: Name
    hostname: Name
    deployment_type: Name
    license_type: LicenseType
    usage_mode: UsageMode
    software_version: Text = ""


class EntitlementRequest(_Strict, frozen=True):
    tag: Text
    count: Count


class Usage(_Strict, frozen=True):
    """The peak in-use count of one license during one reporting interval."""

    tag: Text
    peak: Count
    name: Text = ""


class UsageReport(_Strict, frozen=True):
    """One closed 15-minute interval: an idempotent id and the peaks of each license in use."""

    report_id: Annotated[str, msgspec.Meta(min_length=8, max_length=80, pattern=r"^[A-Za-z0-9_.:-]+$")]
    interval_start: Epoch
    interval_end: Epoch
    usage: Annotated[list[Usage], msgspec.Meta(max_length=64)]


# -- requests ------------------------------------------------------------------------------------


class _Request(_Strict, tag_field="type", frozen=True):
    sent_at: Epoch
    nonce: Nonce


class Register(_Request, tag="register", frozen=True):
    """Unsigned: the CSR's own signature proves possession of the key."""

    token: Token
    identity: Identity
    csr: Pem
    force: bool = False


class Authorize(_Request, tag="authorize", frozen=True):
    piid: Piid
    entitlements: list[EntitlementRequest] = []


class RenewRegistration(_Request, tag="renew_registration", frozen=True):
    piid: Piid
    csr: Pem


class ReportUsage(_Request, tag="report_usage", frozen=True):
    """One or more closed intervals, oldest first (a queue drained after an outage)."""

    piid: Piid
    reports: Annotated[list[UsageReport], msgspec.Meta(min_length=1, max_length=96)]


class Deregister(_Request, tag="deregister", frozen=True):
    piid: Piid


class SatelliteInstance(_Strict, frozen=True):
    """A product instance registered to an SSM On-Prem, as it reports it to the cloud."""

    piid: Piid
    name: Name
    product: Name
    udi_pid: Name
    serial_number: Name
    virtual_account: Name
    status: Text
    last_contact_at: Epoch


class SyncRequest(_Request, tag="sync_request", frozen=True):
    """An SSM On-Prem's synchronization: its instances and usage go up (signed by its ID key).

    ``sequence`` grows by one at every synchronization; an older or equal one is a replay.
    """

    piid: Piid
    sequence: SyncSequence
    account_domain: Name
    instances: Annotated[list[SatelliteInstance], msgspec.Meta(max_length=100_000)] = []
    usage: Annotated[list[Usage], msgspec.Meta(max_length=256)] = []


Request = Register | Authorize | RenewRegistration | ReportUsage | Deregister | SyncRequest
SignedRequest = Authorize | RenewRegistration | ReportUsage | Deregister | SyncRequest

# -- replies -------------------------------------------------------------------------------------


class _Reply(_Strict, tag_field="type", frozen=True):
    in_reply_to: Nonce
    issued_at: Epoch


class Registered(_Reply, tag="registered", frozen=True):
    piid: Piid
    id_cert: Pem
    chain: list[Pem]
    smart_account: Name
    smart_account_domain: Name
    virtual_account: Name
    export_controlled: ExportControl
    registered_at: Epoch
    cert_expires_at: Epoch


class EntitlementGrant(_Strict, frozen=True):
    """The SSM's view of one license of an instance: ``reported`` is the quantity it counts
    (locked while Out of Compliance), ``requested`` the actual usage last reported."""

    tag: Text
    name: Text
    status: EntitlementStatus
    requested: Count = 0
    reported: Count = 0


class Authorization(_Reply, tag="authorization", frozen=True):
    """The SSM's answer to an authorization request, with its compliance verdict."""

    authorized_at: Epoch
    expires_at: Epoch
    entitlements: list[EntitlementGrant] = []
    #: Set while the instance is Out of Compliance: since when (Enforcement follows after the grace).
    out_of_compliance_since: Epoch | None = None
    compliance_reason: Text = ""


class RegistrationRenewed(_Reply, tag="registration_renewed", frozen=True):
    id_cert: Pem
    chain: list[Pem]
    cert_expires_at: Epoch


class UsageAccepted(_Reply, tag="usage_accepted", frozen=True):
    """Reports stored (or recognised as already stored), and the compliance verdict."""

    accepted: list[str] = []
    duplicates: list[str] = []
    entitlements: list[EntitlementGrant] = []
    out_of_compliance_since: Epoch | None = None
    compliance_reason: Text = ""


class Deregistered(_Reply, tag="deregistered", frozen=True):
    released: list[str] = []


class Entitlement(_Strict, frozen=True):
    """A license pool of the cloud virtual account, as it comes down to an SSM On-Prem."""

    tag: Text
    name: Name
    license_type: LicenseType
    usage_mode: UsageMode
    purchased: Count
    #: Every consumer's usage at the cloud ...
    in_use: Count
    out_of_compliance_since: Epoch | None = None
    #: ... of which the On-Prem's own (its synchronized usage as the cloud counts it).
    onprem_in_use: Count = 0


class SyncResponse(_Reply, tag="sync_response", frozen=True):
    """The cloud's answer to a synchronization: entitlements come down (signed by the cloud)."""

    piid: Piid
    sequence: SyncSequence
    account_domain: Name
    virtual_account: Name
    #: Without a synchronization by then, the cloud removes the On-Prem instance.
    deadline: Epoch
    entitlements: list[Entitlement] = []


Reply = Registered | Authorization | RegistrationRenewed | UsageAccepted | Deregistered | SyncResponse

# -- codec ---------------------------------------------------------------------------------------

_encoder = msgspec.json.Encoder()
M = TypeVar("M")
_FIX = "send a message of the documented shape (see docs/internals.md, the device plane)"


def encode(message: msgspec.Struct) -> bytes:
    """The canonical JSON of a message."""
    return _encoder.encode(message)


def _decode(data: bytes, type_: type[M], what: str) -> M:
    return wire.decode(data, type_, what=what, fix=_FIX, invalid="invalid_message")


def decode_request(data: bytes) -> Request:
    """Decode any device request (register or a signed payload).

    Raises:
        BadRequest: ``malformed_json`` or ``invalid_message``, naming the offending field.
    """
    return _decode(data, Request, "device request")  # type: ignore[arg-type]


def decode_signed_request(data: bytes) -> SignedRequest:
    """Decode the payload of a signed device request (anything but register)."""
    return _decode(data, SignedRequest, "signed device request")  # type: ignore[arg-type]


def decode_reply(data: bytes) -> Reply:
    """Decode an SSM reply payload."""
    return _decode(data, Reply, "SSM reply")  # type: ignore[arg-type]
