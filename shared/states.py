"""Every status a person can read, as a StrEnum whose values are the exact display strings.

Tables of the seed ("Unified CCE Administration", Smart Licensing chapter):

- Table 2 "Smart Licensing Status": ``RegistrationStatus``, ``AuthorizationStatus``,
  ``ExportControl``;
- Table 3 "Registration Status": ``RegistrationStatus``;
- Table 4 "Authorization Status": ``AuthorizationStatus`` (the seed's "Evaluation state" is shown as
  "Evaluation Mode", the name its "License States" chapter gives it);
- Table 5 "License Entitlement Status": ``EntitlementStatus``.

Also the choices of the License Type and Transport Settings pages. Pure: no IO, no clock.
"""

from __future__ import annotations

from enum import StrEnum


class RegistrationStatus(StrEnum):
    UNREGISTERED = "Unregistered"
    REGISTERED = "Registered"
    REGISTRATION_EXPIRED = "Registration Expired"
    RESERVATION_IN_PROGRESS = "Reservation In Progress"
    REGISTERED_SLR = "Registered - Specific License Reservation"


class AuthorizationStatus(StrEnum):
    EVALUATION = "Evaluation Mode"
    EVALUATION_EXPIRED = "Evaluation Expired"
    AUTHORIZED = "Authorized"
    AUTHORIZATION_EXPIRED = "Authorization Expired"
    OUT_OF_COMPLIANCE = "Out of Compliance"
    UNAUTHORIZED = "Unauthorized"
    NO_LICENSE_IN_USE = "No License in Use"
    AUTHORIZED_RESERVED = "Authorized - Reserved"


class EntitlementStatus(StrEnum):
    AUTHORIZATION_EXPIRED = "Authorization Expired"
    NOT_AUTHORIZED = "Not Authorized"
    EVALUATION = "Evaluation"
    EVALUATION_EXPIRED = "Evaluation Expired"
    IN_COMPLIANCE = "In Compliance"
    RESERVED_IN_COMPLIANCE = "ReservedInCompliance"
    OUT_OF_COMPLIANCE = "Out of Compliance"
    NOT_APPLICABLE = "Not Applicable"
    INVALID = "Invalid"
    INVALID_TAG = "Invalid Tag"
    NO_LICENSE_IN_USE = "No License in Use"
    WAITING = "Waiting"
    DISABLED = "Disabled"


class ExportControl(StrEnum):
    ALLOWED = "Allowed"
    NOT_ALLOWED = "Not Allowed"


class Enforcement(StrEnum):
    """Why an instance is in the Enforcement state (seed: "Enforcement State")."""

    OUT_OF_COMPLIANCE_EXPIRY = "Out-of-Compliance expiry"
    AUTHORIZATION_EXPIRY = "Authorization expiry"
    EVALUATION_EXPIRY = "Evaluation expiry"


class LicenseType(StrEnum):
    FLEX = "Flex"
    PERPETUAL = "Perpetual"


class UsageMode(StrEnum):
    PRODUCTION = "Production"
    NON_PRODUCTION = "Non-Production"


class TransportMode(StrEnum):
    SMART_TRANSPORT = "Smart Transport"
    CALL_HOME = "Smart Call Home (Deprecated)"


class ConnectionMode(StrEnum):
    DIRECT = "Direct"
    GATEWAY = "Transport Gateway"
    PROXY = "HTTP/HTTPS Proxy"
