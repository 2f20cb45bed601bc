"""A product instance's state for the pure tests: registered, authorized, with what a test overrides."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from shared import lifecycle
from shared.lifecycle import InstanceState
from shared.states import AuthorizationStatus as A
from shared.states import LicenseType, RegistrationStatus, UsageMode

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def inst(**kw: object) -> InstanceState:
    s = lifecycle.new_instance(
        name="i",
        product="Unified CCE",
        udi_pid="UCCE",
        serial_number="SN",
        hostname="h",
        deployment_type="Unified CCE 2000 Agents",
        license_type=LicenseType.FLEX,
        usage_mode=UsageMode.PRODUCTION,
        now=T0,
    )
    base = {
        "registration": RegistrationStatus.REGISTERED,
        "authorization": A.AUTHORIZED,
        "piid": "p-1",
        "registered_at": 0,
        "authorized_at": 0,
        "last_contact_at": 0,
    }
    base.update(kw)
    return msgspec.structs.replace(s, **base)
