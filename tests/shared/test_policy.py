"""The licensing policy: defaults taken from the seed, overrides, and the freshness window."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.policy import DEFAULT_POLICY, IdleAuthorization, MissedIntervals, Policy

DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("evaluation_period", 90 * DAY),
        ("report_interval", timedelta(minutes=15)),
        ("ooc_consecutive_intervals", 5),
        ("ooc_grace", 90 * DAY),
        ("auth_renewal_interval", 30 * DAY),
        ("auth_expiry", 90 * DAY),
        ("auth_overage", 90 * DAY),
        ("id_cert_renewal", 180 * DAY),
        ("id_cert_validity", 365 * DAY),
    ],
)
def test_defaults_match_the_seed(field: str, expected: object) -> None:
    """Each default period or threshold is the one the seed's licensing chapter states."""
    assert getattr(DEFAULT_POLICY, field) == expected
    assert getattr(Policy(), field) == expected


@pytest.mark.parametrize(
    ("overrides", "field", "expected"),
    [
        ({"evaluation_period": "30d"}, "evaluation_period", 30 * DAY),
        ({"evaluation-period": "30d"}, "evaluation_period", 30 * DAY),
        ({"report_interval": 60}, "report_interval", timedelta(minutes=1)),
        ({"report_interval": 0.5}, "report_interval", timedelta(milliseconds=500)),
        ({"auth_expiry": "P10D"}, "auth_expiry", 10 * DAY),
        ({"auth_expiry": "3600"}, "auth_expiry", timedelta(hours=1)),
        ({"ooc_consecutive_intervals": 4}, "ooc_consecutive_intervals", 4),
        ({"ooc_consecutive_intervals": "4"}, "ooc_consecutive_intervals", 4),
        ({"request_max_skew_real_seconds": "120"}, "request_max_skew_real_seconds", 120.0),
    ],
)
def test_with_overrides_accepts_durations_and_numbers(
    overrides: dict[str, str | int | float], field: str, expected: object
) -> None:
    """Durations may be given as text like '30d' or as seconds; counts as whole numbers."""
    changed = DEFAULT_POLICY.with_overrides(overrides)
    assert getattr(changed, field) == expected


def test_with_overrides_leaves_the_original_and_other_fields_alone() -> None:
    """An override returns a copy; the default policy and the other fields are unchanged."""
    changed = DEFAULT_POLICY.with_overrides({"auth_expiry": "10d"})
    assert DEFAULT_POLICY.auth_expiry == 90 * DAY
    assert changed.auth_overage == DEFAULT_POLICY.auth_overage
    assert changed != DEFAULT_POLICY


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"evaluation_perid": "30d"}, "unknown policy setting 'evaluation_perid'"),
        ({"warp_speed": 1}, "unknown policy setting 'warp_speed'"),
        ({"evaluation_period": 0}, "must be a positive duration"),
        ({"evaluation_period": -60}, "must be a positive duration"),
        ({"evaluation_period": "0d"}, "must be a positive duration"),
        ({"evaluation_period": "soon"}, "cannot read the duration"),
        ({"ooc_consecutive_intervals": 0}, "must be at least 1"),
        ({"ooc_consecutive_intervals": -3}, "must be at least 1"),
        ({"ooc_consecutive_intervals": "five"}, "must be a whole number"),
    ],
)
def test_with_overrides_rejects_unknown_names_and_bad_values(
    overrides: dict[str, str | int | float], message: str
) -> None:
    """Unknown settings, non-positive values and unreadable values raise ValueError saying which."""
    with pytest.raises(ValueError, match=message):
        DEFAULT_POLICY.with_overrides(overrides)


def test_with_overrides_rejects_a_negative_float_setting() -> None:
    """The one float setting (real seconds of skew) refuses negative values like every other setting."""
    with pytest.raises(ValueError, match="request_max_skew_real_seconds"):
        DEFAULT_POLICY.with_overrides({"request_max_skew_real_seconds": -1})


@pytest.mark.parametrize(
    ("rate", "window"),
    [
        (0.0, timedelta(minutes=5)),
        (1.0, timedelta(minutes=5)),
        (5.0, timedelta(minutes=5)),
        (10.0, timedelta(minutes=10)),
        (60.0, timedelta(hours=1)),
        (86400.0, 60 * DAY),
    ],
)
def test_skew_window_grows_with_the_clock_rate(rate: float, window: timedelta) -> None:
    """The stale window is 5 domain minutes, or 60 real seconds of a fast clock when that is more."""
    assert DEFAULT_POLICY.skew_window(rate) == window


def test_describe_prints_durations_in_seconds() -> None:
    """describe lists every setting, durations as whole seconds."""
    text = DEFAULT_POLICY.describe()
    assert text["evaluation_period"] == "7776000s"
    assert text["ooc_consecutive_intervals"] == "5"
    assert set(text) >= {"auth_expiry", "id_cert_validity", "report_interval"}


@pytest.mark.parametrize(
    ("field", "default", "other"),
    [
        ("idle_authorization", IdleAuthorization.AUTHORIZED, "No License in Use"),
        ("missed_intervals", MissedIntervals.SKIP, "hold"),
    ],
)
def test_choices_are_settings_with_the_seeds_reading_by_default(field: str, default: object, other: str) -> None:
    """Where the seed is silent the choice is a setting (issue 16.3, 16.6): its default, the other
    value by name, and a value that is neither refused with the choices."""
    assert getattr(DEFAULT_POLICY, field) == default
    assert getattr(DEFAULT_POLICY.with_overrides({field: other}), field) == other
    assert DEFAULT_POLICY.describe()[field] == str(default)
    with pytest.raises(ValueError, match=f"policy {field} must be one of"):
        DEFAULT_POLICY.with_overrides({field: "sometimes"})
