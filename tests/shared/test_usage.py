"""Usage on the instance side, pure: peaks per interval, reports closed at interval ends (idle
instances silent, a zero line once), the bounded queue, profiles, Table 5 statuses."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from shared import usage
from shared.consumption import consumption
from shared.errors import BadRequest
from shared.lifecycle import InstanceState
from shared.messages import EntitlementGrant
from shared.policy import DEFAULT_POLICY as P
from shared.policy import MissedIntervals, Policy
from shared.states import AuthorizationStatus as A
from shared.states import EntitlementStatus as S
from shared.states import RegistrationStatus
from shared.usage import UsageState
from tests.shared.instances import inst

T0 = datetime(2026, 1, 1, tzinfo=UTC)
Q = timedelta(minutes=15)


def test_the_peak_of_an_interval_is_reported_at_its_end() -> None:
    """130 for a minute inside an interval that is otherwise 80: the report says 130."""
    u = usage.set_current(UsageState(), {"Premium Agent": 80}, T0, P)
    u = usage.set_current(u, {"Premium Agent": 130}, T0 + timedelta(minutes=3), P)
    u = usage.set_current(u, {"Premium Agent": 80}, T0 + timedelta(minutes=4), P)
    u, closed = usage.close_due(u, inst(), T0 + Q, P)
    assert [(r.interval_end - r.interval_start, [(x.name, x.peak) for x in r.usage]) for r in closed] == [
        (900, [("Premium Agent", 130)])
    ]
    assert closed[0].report_id == f"p-1:{int((T0 + Q).timestamp())}"
    u, closed = usage.close_due(u, inst(), T0 + 2 * Q, P)
    assert closed[0].usage[0].peak == 80


def test_idle_is_silent_and_a_stop_is_reported_once() -> None:
    """Nothing in use: no report. A license going to zero: one zero line, then silence."""
    u, closed = usage.close_due(UsageState(), inst(), T0 + 3 * Q, P)
    assert closed == [] and usage.idle(u)
    u = usage.set_current(u, {"Dialer Ports": 5}, T0 + 3 * Q, P)
    u, closed = usage.close_due(u, inst(), T0 + 4 * Q, P)
    u = usage.set_current(u, {"Dialer Ports": 0}, T0 + 4 * Q + timedelta(seconds=1), P)
    u, closed = usage.close_due(u, inst(), T0 + 5 * Q, P)
    assert [x.peak for x in closed[0].usage] == [5]  # it was 5 during that interval's first second
    u, closed = usage.close_due(u, inst(), T0 + 6 * Q, P)
    assert [x.peak for x in closed[0].usage] == [0]
    u, closed = usage.close_due(u, inst(), T0 + 7 * Q, P)
    assert closed == [] and usage.idle(u)


def test_unregistered_usage_is_not_queued() -> None:
    """Only a registered instance queues reports."""
    u = usage.set_current(UsageState(), {"Premium Agent": 9}, T0, P)
    u, closed = usage.close_due(u, inst(registration=RegistrationStatus.UNREGISTERED, piid=None), T0 + Q, P)
    assert closed == [] and u.queue == []


def test_the_queue_is_bounded() -> None:
    """Beyond the bound the oldest reports are dropped and counted."""
    small = dataclasses.replace(P, report_queue_max=3)
    u = usage.set_current(UsageState(), {"Premium Agent": 1}, T0, small)
    for k in range(1, 6):
        u, _ = usage.close_due(u, inst(), T0 + k * Q, small)
    assert len(u.queue) == 3 and u.dropped == 2
    assert [r.interval_end for r in u.queue] == [int((T0 + k * Q).timestamp()) for k in (3, 4, 5)]
    u = usage.acknowledge(u, [u.queue[0].report_id])
    assert len(u.queue) == 2


def test_a_down_agent_reports_nothing_for_the_time_it_was_down() -> None:
    """After a long gap, the interval open at shutdown is closed and the next one is current."""
    u = usage.set_current(UsageState(), {"Premium Agent": 1}, T0, P)
    u, closed = usage.close_due(u, inst(), T0 + 10 * Q + timedelta(minutes=2), P)
    assert len(closed) == 1
    assert u.interval_end == int((T0 + 11 * Q).timestamp())


def test_profile_steps_and_repeat() -> None:
    """A profile gives the counts of its step in effect and the instant of the next step."""
    p = usage.Profile.build(
        [
            usage.ProfileStep(after="0m", set={"Premium Agent": 80}),
            usage.ProfileStep(after="2h", set={"Premium Agent": 130}),
        ],
        repeat="4h",
    )
    base = 0
    assert p.at(base, 3600) == {"Premium Agent": 80}
    assert p.at(base, 7200) == {"Premium Agent": 130}
    assert p.at(base, 4 * 3600 + 10) == {"Premium Agent": 80}
    assert p.next_change(base, 3600) == 7200
    assert p.next_change(base, 7300) == 4 * 3600
    with pytest.raises(BadRequest):
        usage.Profile.build([usage.ProfileStep(after="soon", set={"Premium Agent": 1})])
    with pytest.raises(BadRequest):
        usage.Profile.build([usage.ProfileStep(after="0m", set={"Nope": 1})])


@pytest.mark.parametrize(
    ("state", "grant", "actual", "waiting", "expected"),
    [
        (inst(registration=RegistrationStatus.UNREGISTERED, authorization=A.EVALUATION), None, 5, False, S.EVALUATION),
        (
            inst(registration=RegistrationStatus.UNREGISTERED, authorization=A.EVALUATION_EXPIRED),
            None,
            5,
            False,
            S.EVALUATION_EXPIRED,
        ),
        (inst(authorization=A.AUTHORIZATION_EXPIRED), None, 5, False, S.AUTHORIZATION_EXPIRED),
        (inst(authorization=A.UNAUTHORIZED), None, 5, False, S.NOT_AUTHORIZED),
        (inst(), None, 5, True, S.WAITING),
        (inst(), None, 0, False, S.NO_LICENSE_IN_USE),
        (inst(), S.IN_COMPLIANCE, 5, False, S.IN_COMPLIANCE),
        (inst(), S.OUT_OF_COMPLIANCE, 5, False, S.OUT_OF_COMPLIANCE),
        (inst(), S.INVALID_TAG, 5, False, S.INVALID_TAG),
        (inst(registration=RegistrationStatus.UNREGISTERED), S.DISABLED, 5, False, S.DISABLED),
    ],
)
def test_table5_statuses(state: InstanceState, grant: S | None, actual: int, waiting: bool, expected: S) -> None:
    """Each situation gives its Table 5 status."""
    grants = (
        [EntitlementGrant(tag="t", name="Premium Agent", status=grant, requested=actual, reported=actual)]
        if grant
        else []
    )
    state = msgspec.structs.replace(state, entitlements=grants)
    u = UsageState(current={"Premium Agent": actual})
    line = next(c for c in consumption(state, u, waiting=waiting) if c.license_name == "Premium Agent")
    assert line.status is expected


def test_not_applicable_for_a_license_the_type_does_not_offer() -> None:
    """Flex does not offer Third-party IVR: Not Applicable."""
    u = UsageState(current={"Third-party IVR": 3})
    line = next(c for c in consumption(inst(), u) if c.license_name == "Third-party IVR")
    assert line.status is S.NOT_APPLICABLE


def test_parse_assignments() -> None:
    """NAME=COUNT pairs are read; bad ones refused with a code."""
    assert usage.parse_assignments(["Premium Agent=130", " Dialer Ports = 2"]) == {
        "Premium Agent": 130,
        "Dialer Ports": 2,
    }
    for bad, code in (
        (["Premium Agent"], "invalid_usage"),
        (["Premium Agent=x"], "invalid_usage"),
        (["Premium Agent=-1"], "invalid_usage"),
        (["Foo=1"], "unknown_license"),
    ):
        with pytest.raises(BadRequest) as exc:
            usage.parse_assignments(bad)
        assert exc.value.code == code


# -- issue 16.6: the boundary, and intervals an agent missed ------------------------------------------


@pytest.mark.parametrize(("before", "after"), [(80, 130), (130, 80), (0, 5), (5, 0)])
def test_a_change_exactly_on_a_boundary_counts_in_the_interval_it_opens(before: int, after: int) -> None:
    """Intervals are [start, end): a change at 09:15:00 belongs to 09:15-09:30, never to 09:00-09:15;
    and the count before it, which never held inside 09:15-09:30, is not that interval's peak."""
    u = usage.set_current(UsageState(), {"Premium Agent": before}, T0 + timedelta(minutes=5), P)
    u, _ = usage.close_due(u, inst(), T0 + Q, P)  # the caller closes first, then the change
    u = usage.set_current(u, {"Premium Agent": after}, T0 + Q, P)
    u, _ = usage.close_due(u, inst(), T0 + 2 * Q, P)
    peaks = [[x.peak for x in r.usage] for r in u.queue]
    # the interval it closes keeps the count before (none is reported for an idle one); the
    # interval it opens reports the count after
    assert peaks == ([[before]] if before else []) + [[after]]


def test_a_change_on_a_boundary_cannot_reach_the_interval_it_closes() -> None:
    """Closing the due intervals first is the caller's duty; forgetting it is a bug, not a count."""
    u = usage.set_current(UsageState(), {"Premium Agent": 1}, T0, P)
    with pytest.raises(AssertionError, match="close the due intervals first"):
        usage.set_current(u, {"Premium Agent": 2}, T0 + Q, P)


@pytest.mark.parametrize(
    ("policy", "peaks"),
    [
        (P, [[130]]),  # skip: the interval open at shutdown, then nothing was sampled
        (dataclasses.replace(P, missed_intervals=MissedIntervals.HOLD), [[130]] * 4),
    ],
    ids=["skip", "hold"],
)
def test_intervals_missed_while_the_agent_was_down(policy: Policy, peaks: list[list[int]]) -> None:
    """Down from 09:05 to 10:02: the 09:00 interval closes at restart; with ``hold`` the three
    missed ones (09:15, 09:30, 09:45) are reported at the usage in effect when it stopped."""
    u = usage.set_current(UsageState(), {"Premium Agent": 130}, T0 + timedelta(minutes=5), policy)
    u, closed = usage.close_due(u, inst(), T0 + 4 * Q + timedelta(minutes=2), policy)
    assert [[x.peak for x in r.usage] for r in closed] == peaks
    assert [r.interval_end for r in closed] == [int((T0 + k * Q).timestamp()) for k in range(1, len(peaks) + 1)]
    assert u.interval_end == int((T0 + 5 * Q).timestamp())


def test_hold_does_not_fill_an_idle_gap() -> None:
    """Nothing in use when it stopped: nothing to hold (a zero line once, then silence)."""
    hold = dataclasses.replace(P, missed_intervals=MissedIntervals.HOLD)
    u = usage.set_current(UsageState(), {"Premium Agent": 3}, T0, hold)
    u, _ = usage.close_due(u, inst(), T0 + Q, hold)
    u = usage.set_current(u, {"Premium Agent": 0}, T0 + Q + timedelta(minutes=1), hold)
    u, closed = usage.close_due(u, inst(), T0 + 40 * Q, hold)
    assert [[x.peak for x in r.usage] for r in closed] == [[3]]  # its peak; the zero comes next
    assert u.interval_end == int((T0 + 41 * Q).timestamp())


# -- issue 16.3: the Table 5 statuses that need a path of their own ------------------------------------


@pytest.mark.parametrize(
    ("state", "grant", "expected"),
    [
        (inst(enabled=False), S.IN_COMPLIANCE, S.DISABLED),  # 'smart-agent disable'
        (inst(enabled=False), None, S.DISABLED),
        (inst(refused_at=0), S.IN_COMPLIANCE, S.INVALID),  # the SSM refused the last report
        (inst(refused_at=0, authorization=A.UNAUTHORIZED), None, S.NOT_AUTHORIZED),
    ],
)
def test_disabled_and_invalid(state: InstanceState, grant: S | None, expected: S) -> None:
    grants = [EntitlementGrant(tag="t", name="Premium Agent", status=grant, requested=5, reported=5)] if grant else []
    state = msgspec.structs.replace(state, entitlements=grants)
    line = next(
        c for c in consumption(state, UsageState(current={"Premium Agent": 5})) if c.license_name == "Premium Agent"
    )
    assert line.status is expected


def test_an_unknown_tag_is_matched_by_tag() -> None:
    """An instance sending a tag of its own ('entitlement_tags'): the SSM's grant, which may have no
    name, is the line of that license; the catalog's tag is not sent."""
    bogus = "regid.2099-01.com.cisco.X,9.0_0"
    s = inst(
        entitlement_tags={"Premium Agent": bogus},
        entitlements=[EntitlementGrant(tag=bogus, name="", status=S.INVALID_TAG)],
    )
    assert s.tag_of("Premium Agent") == bogus and s.tag_of("Dialer Ports") != bogus
    lines = {c.license_name: c.status for c in consumption(s, UsageState(current={"Premium Agent": 2}))}
    assert lines["Premium Agent"] is S.INVALID_TAG and "" not in lines
    assert [r.tag for r in usage.entitlement_requests(s, UsageState()) if r.tag == bogus] == [bogus]
    u = usage.set_current(UsageState(), {"Premium Agent": 2}, T0, P)
    _, closed = usage.close_due(u, s, T0 + Q, P)
    assert [x.tag for x in closed[0].usage] == [bogus]


# -- issue 16.5: a profile by the time of day ----------------------------------------------------------


@pytest.mark.parametrize(
    ("anchor", "at_start", "next_step"),
    [
        (usage.ProfileAnchor.MIDNIGHT, 70, "17:00"),  # first start 14:02: busy hours already
        (usage.ProfileAnchor.FIRST_START, 40, "23:02"),  # counted from the first start: 9h after it
    ],
)
def test_a_daily_profile_anchored_at_midnight_follows_the_time_of_day(
    anchor: usage.ProfileAnchor, at_start: int, next_step: str
) -> None:
    p = usage.Profile.build(
        [
            usage.ProfileStep(after="0h", set={"Premium Agent": 40}),
            usage.ProfileStep(after="9h", set={"Premium Agent": 70}),
            usage.ProfileStep(after="17h", set={"Premium Agent": 40}),
        ],
        repeat="1d",
        anchor=anchor,
    )
    first = int(datetime(2026, 12, 15, 14, 2, tzinfo=UTC).timestamp())
    base = p.base(first)
    assert p.at(base, first) == {"Premium Agent": at_start}
    change = p.next_change(base, first)
    assert change is not None and datetime.fromtimestamp(change, UTC).strftime("%H:%M") == next_step
    if anchor is usage.ProfileAnchor.MIDNIGHT:
        day2 = first + 86400
        assert [p.at(base, day2 - 14 * 3600 + h * 3600) for h in (8, 9, 16, 17)] == [
            {"Premium Agent": v} for v in (40, 70, 70, 40)
        ]
