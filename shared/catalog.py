"""The Unified CCE license catalog of the seed ("Select License Type" table).

Each license is identified by (name, license type, usage mode) and has an ISO 19770-2 style
entitlement tag, stable across runs. Pure: no IO, no clock.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass

from shared.states import LicenseType, UsageMode

STANDARD_AGENT = "Standard Agent"
PREMIUM_AGENT = "Premium Agent"
DIALER_PORTS = "Dialer Ports"
SERVER_LICENSE = "Server License"
REGULAR_AGENT = "Regular Agent"
THIRD_PARTY_IVR = "Third-party IVR"

LICENSE_NAMES: tuple[str, ...] = (
    STANDARD_AGENT,
    PREMIUM_AGENT,
    DIALER_PORTS,
    SERVER_LICENSE,
    REGULAR_AGENT,
    THIRD_PARTY_IVR,
)

#: THE declaration of license types and usage modes: which licenses each (type, mode) offers, as
#: the seed's table lists them, with the quantity the lab account is seeded with. Flex
#: Non-Production offers none: choosing it leaves the instance without licenses (Out of
#: Compliance). A new license type is a member of ``shared.states.LicenseType`` and a row here.
CATALOG: dict[tuple[LicenseType, UsageMode], dict[str, int]] = {
    (LicenseType.FLEX, UsageMode.PRODUCTION): {
        STANDARD_AGENT: 100,
        PREMIUM_AGENT: 100,
        DIALER_PORTS: 50,
        SERVER_LICENSE: 10,
    },
    (LicenseType.PERPETUAL, UsageMode.PRODUCTION): {
        PREMIUM_AGENT: 100,
        DIALER_PORTS: 50,
        SERVER_LICENSE: 10,
        REGULAR_AGENT: 100,
        THIRD_PARTY_IVR: 50,
    },
    (LicenseType.PERPETUAL, UsageMode.NON_PRODUCTION): {
        REGULAR_AGENT: 20,
        PREMIUM_AGENT: 20,
        DIALER_PORTS: 10,
        SERVER_LICENSE: 2,
    },
    (LicenseType.FLEX, UsageMode.NON_PRODUCTION): {},
}

#: The licenses each (type, mode) offers, in the seed's order.
OFFERED: dict[tuple[LicenseType, UsageMode], tuple[str, ...]] = {k: tuple(v) for k, v in CATALOG.items()}

#: How Cisco's REST API names each license type (a Flex license is a subscription: TERM).
CISCO_LICENSE_TYPE: dict[LicenseType, str] = {LicenseType.FLEX: "TERM", LicenseType.PERPETUAL: "PERPETUAL"}

#: Deployment types of the Inventory; Rogger/Logger forces Perpetual (seed "Select License Type").
ROGGER_LOGGER = "Unified CCE Rogger/Logger"
DEPLOYMENT_TYPES: tuple[str, ...] = (
    "Unified CCE 2000 Agents",
    "Unified CCE 4000 Agents",
    "Unified CCE 12000 Agents",
    "Unified CCE 24000 Agents",
    ROGGER_LOGGER,
    "Packaged CCE 2000 Agents",
    "CVP",
)

_TAG_NAMESPACE = uuid.UUID("6f1d7c3e-2a44-4c53-9d0e-5c2b1f0a7e11")


@dataclass(frozen=True, slots=True)
class LicenseKey:
    """One purchasable license: a name in a type and a usage mode."""

    name: str
    license_type: LicenseType
    usage_mode: UsageMode

    @property
    def tag(self) -> str:
        """The entitlement tag, ``regid.2019-03.com.cisco.UCCE_<TYPE>_<MODE>_<NAME>,1.0_<uuid>``."""
        return _tag(self.name, self.license_type, self.usage_mode)


@functools.lru_cache(maxsize=1024)
def _tag(name: str, license_type: LicenseType, usage_mode: UsageMode) -> str:
    ident = "_".join(
        (
            "UCCE",
            license_type.upper(),
            "PROD" if usage_mode is UsageMode.PRODUCTION else "NONPROD",
            name.upper().replace(" ", "_").replace("-", "_"),
        )
    )
    return f"regid.2019-03.com.cisco.{ident},1.0_{uuid.uuid5(_TAG_NAMESPACE, ident)}"


def effective_license_type(configured: LicenseType, deployment_type: str) -> LicenseType:
    """Rogger/Logger deployments always use Perpetual, even when Flex is configured."""
    return LicenseType.PERPETUAL if deployment_type == ROGGER_LOGGER else configured


def lab_quantity(key: LicenseKey) -> int:
    """How many of ``key`` the lab account is seeded with."""
    return CATALOG.get((key.license_type, key.usage_mode), {}).get(key.name, 0)


def all_license_keys() -> list[LicenseKey]:
    """Every (name, type, mode) the catalog offers."""
    return [LicenseKey(n, t, m) for (t, m), names in OFFERED.items() for n in names]


_BY_TAG: dict[str, LicenseKey] = {k.tag: k for k in all_license_keys()}


def license_by_tag(tag: str) -> LicenseKey | None:
    """The catalog license with this entitlement tag, or None (an "Invalid Tag")."""
    return _BY_TAG.get(tag)
