"""The Unified CCE license catalog: offers per type and mode, Rogger/Logger, entitlement tags."""

from __future__ import annotations

import itertools
import re

import pytest

from shared import catalog
from shared.catalog import LicenseKey, all_license_keys, effective_license_type, license_by_tag
from shared.states import LicenseType, UsageMode

TAG = re.compile(
    r"^regid\.2019-03\.com\.cisco\.UCCE_(FLEX|PERPETUAL)_(PROD|NONPROD)_[A-Z_]+,1\.0_"
    r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$"
)


@pytest.mark.parametrize("configured", list(LicenseType))
@pytest.mark.parametrize("deployment", catalog.DEPLOYMENT_TYPES)
def test_rogger_logger_forces_perpetual(configured: LicenseType, deployment: str) -> None:
    """Rogger/Logger always uses Perpetual; every other deployment keeps the configured type."""
    expected = LicenseType.PERPETUAL if deployment == catalog.ROGGER_LOGGER else configured
    assert effective_license_type(configured, deployment) is expected


def test_tags_are_unique_per_name_type_and_mode() -> None:
    """Every (name, type, mode) of the catalog has its own tag, of the regid form."""
    keys = all_license_keys()
    tags = [k.tag for k in keys]
    assert len(set(tags)) == len(tags) == len(set(keys))
    assert all(TAG.match(t) for t in tags), tags


def test_tags_are_stable() -> None:
    """A tag depends only on (name, type, mode): rebuilt keys give the same, known tag."""
    key = LicenseKey(catalog.PREMIUM_AGENT, LicenseType.FLEX, UsageMode.PRODUCTION)
    again = LicenseKey("Premium Agent", LicenseType("Flex"), UsageMode("Production"))
    assert key.tag == again.tag
    assert key.tag.startswith("regid.2019-03.com.cisco.UCCE_FLEX_PROD_PREMIUM_AGENT,1.0_")


def test_same_name_in_other_type_or_mode_has_another_tag() -> None:
    """One license name sold as Flex and Perpetual, or Production and Non-Production, has distinct tags."""
    combos = itertools.product(LicenseType, UsageMode)
    tags = {LicenseKey(catalog.DIALER_PORTS, t, m).tag for t, m in combos}
    assert len(tags) == 4


@pytest.mark.parametrize("key", all_license_keys(), ids=lambda k: k.tag.split(",")[0].split(".")[-1])
def test_license_by_tag_round_trips(key: LicenseKey) -> None:
    """Looking a catalog tag up gives back its (name, type, mode)."""
    assert license_by_tag(key.tag) == key


@pytest.mark.parametrize(
    "tag",
    [
        "",
        "regid.2019-03.com.cisco.UCCE_FLEX_PROD_STANDARD_AGENT,1.0_00000000-0000-0000-0000-000000000000",
        LicenseKey(catalog.STANDARD_AGENT, LicenseType.FLEX, UsageMode.NON_PRODUCTION).tag,
        "not a tag",
    ],
)
def test_license_by_tag_is_none_for_an_unknown_tag(tag: str) -> None:
    """A tag the catalog does not offer (even a well-formed one) is unknown: None."""
    assert license_by_tag(tag) is None


def test_flex_non_production_offers_no_licenses() -> None:
    """Flex Non-Production offers nothing; every other (type, mode) offers licenses."""
    assert catalog.OFFERED[(LicenseType.FLEX, UsageMode.NON_PRODUCTION)] == ()
    offered = {(k.license_type, k.usage_mode) for k in all_license_keys()}
    assert (LicenseType.FLEX, UsageMode.NON_PRODUCTION) not in offered
    assert len(offered) == 3


@pytest.mark.parametrize(
    ("license_type", "mode", "names"),
    [
        (LicenseType.FLEX, UsageMode.PRODUCTION, {"Standard Agent", "Premium Agent", "Dialer Ports", "Server License"}),
        (
            LicenseType.PERPETUAL,
            UsageMode.PRODUCTION,
            {"Premium Agent", "Dialer Ports", "Server License", "Regular Agent", "Third-party IVR"},
        ),
        (
            LicenseType.PERPETUAL,
            UsageMode.NON_PRODUCTION,
            {"Regular Agent", "Premium Agent", "Dialer Ports", "Server License"},
        ),
    ],
)
def test_offers_follow_the_seed_table(license_type: LicenseType, mode: UsageMode, names: set[str]) -> None:
    """Each (type, mode) offers exactly the licenses of the seed's "Select License Type" table."""
    assert set(catalog.OFFERED[(license_type, mode)]) == names


def test_every_type_and_mode_is_declared_once_in_the_catalog() -> None:
    """A license type or mode added to shared.states without its catalog row fails here (the
    catalog is the one declaration the lab seed, the agent, the CLI and the admin API read)."""
    from shared.catalog import CATALOG, CISCO_LICENSE_TYPE, OFFERED
    from shared.states import LicenseType, UsageMode

    pairs = {(t, m) for t in LicenseType for m in UsageMode}
    assert set(CATALOG) == pairs == set(OFFERED)
    assert set(CISCO_LICENSE_TYPE) == set(LicenseType)
