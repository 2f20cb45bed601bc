"""Status values are the exact display strings of the seed's tables."""

from __future__ import annotations

from enum import StrEnum

import pytest

from shared.states import (
    AuthorizationStatus,
    ConnectionMode,
    Enforcement,
    EntitlementStatus,
    ExportControl,
    LicenseType,
    RegistrationStatus,
    TransportMode,
    UsageMode,
)


@pytest.mark.parametrize(
    ("member", "text"),
    [
        # Table 2 / Table 3
        (RegistrationStatus.UNREGISTERED, "Unregistered"),
        (RegistrationStatus.REGISTERED, "Registered"),
        (RegistrationStatus.REGISTRATION_EXPIRED, "Registration Expired"),
        # Table 2 / Table 4 (Evaluation is named after the "License States" chapter)
        (AuthorizationStatus.EVALUATION, "Evaluation Mode"),
        (AuthorizationStatus.EVALUATION_EXPIRED, "Evaluation Expired"),
        (AuthorizationStatus.AUTHORIZED, "Authorized"),
        (AuthorizationStatus.AUTHORIZATION_EXPIRED, "Authorization Expired"),
        (AuthorizationStatus.OUT_OF_COMPLIANCE, "Out of Compliance"),
        (AuthorizationStatus.UNAUTHORIZED, "Unauthorized"),
        (AuthorizationStatus.NO_LICENSE_IN_USE, "No License in Use"),
        # Table 5
        (EntitlementStatus.AUTHORIZATION_EXPIRED, "Authorization Expired"),
        (EntitlementStatus.NOT_AUTHORIZED, "Not Authorized"),
        (EntitlementStatus.EVALUATION_EXPIRED, "Evaluation Expired"),
        (EntitlementStatus.IN_COMPLIANCE, "In Compliance"),
        (EntitlementStatus.RESERVED_IN_COMPLIANCE, "ReservedInCompliance"),
        (EntitlementStatus.NOT_APPLICABLE, "Not Applicable"),
        (EntitlementStatus.INVALID, "Invalid"),
        (EntitlementStatus.INVALID_TAG, "Invalid Tag"),
        (EntitlementStatus.NO_LICENSE_IN_USE, "No License in Use"),
        (EntitlementStatus.WAITING, "Waiting"),
        (EntitlementStatus.DISABLED, "Disabled"),
        # Table 2, export control
        (ExportControl.ALLOWED, "Allowed"),
        (ExportControl.NOT_ALLOWED, "Not Allowed"),
        # "Enforcement State"
        (Enforcement.OUT_OF_COMPLIANCE_EXPIRY, "Out-of-Compliance expiry"),
        (Enforcement.AUTHORIZATION_EXPIRY, "Authorization expiry"),
        (Enforcement.EVALUATION_EXPIRY, "Evaluation expiry"),
        # License Type and Transport Settings pages
        (LicenseType.FLEX, "Flex"),
        (LicenseType.PERPETUAL, "Perpetual"),
        (UsageMode.PRODUCTION, "Production"),
        (UsageMode.NON_PRODUCTION, "Non-Production"),
        (TransportMode.SMART_TRANSPORT, "Smart Transport"),
        (ConnectionMode.PROXY, "HTTP/HTTPS Proxy"),
    ],
)
def test_values_are_the_seed_display_strings(member: StrEnum, text: str) -> None:
    """Each status equals, formats as, and is looked up by its exact display string."""
    assert member == text
    assert str(member) == text
    assert f"{member}" == text
    assert type(member)(text) is member


@pytest.mark.parametrize(
    "enum", [RegistrationStatus, AuthorizationStatus, EntitlementStatus, ExportControl, Enforcement]
)
def test_display_strings_are_unique_within_each_table(enum: type[StrEnum]) -> None:
    """No two statuses of one table share a display string (no silent aliases)."""
    values = [m.value for m in enum]
    assert len(values) == len(set(values))
    assert len(list(enum)) == len(enum.__members__)
