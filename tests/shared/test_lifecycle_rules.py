"""The seed's timed rules as pure functions: a table of instants and the statuses they give, the
transitions ``tick`` records (each at its own instant), what is due, and the backoff."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from shared import lifecycle, outcomes, permits, statusview
from shared.clock import epoch
from shared.errors import Conflict, RemoteError, SmartLicensingError, Unavailable
from shared.lifecycle import Due, InstanceState
from shared.messages import Authorization, EntitlementGrant
from shared.permits import PersonAction
from shared.policy import DEFAULT_POLICY as P
from shared.policy import IdleAuthorization, Policy
from shared.states import AuthorizationStatus as A
from shared.states import Enforcement as E
from shared.states import EntitlementStatus, LicenseType, UsageMode
from shared.states import RegistrationStatus as R

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
NLIU = P.with_overrides({"idle_authorization": IdleAuthorization.NO_LICENSE_IN_USE})
DOWN = Unavailable("cannot connect", code="connection_failed")


def fresh(**changes: object) -> InstanceState:
    s = lifecycle.new_instance(
        name="i",
        product="Unified CCE",
        udi_pid="UCCE",
        serial_number="SN1",
        hostname="h",
        deployment_type="Unified CCE 2000 Agents",
        license_type=LicenseType.FLEX,
        usage_mode=UsageMode.PRODUCTION,
        now=T0,
    )
    return msgspec.structs.replace(s, **changes)


def registered(
    at_day: float = 0, contact_day: float | None = None, authorized_day: float | None = 0, ooc_day: float | None = None
) -> InstanceState:
    at = epoch(T0 + at_day * DAY)
    return fresh(
        registration=R.REGISTERED,
        piid="p",
        registered_at=at,
        cert_issued_at=at,
        cert_expires_at=at + 365 * 86400,
        last_contact_at=epoch(T0 + (contact_day if contact_day is not None else at_day) * DAY),
        authorized_at=None if authorized_day is None else epoch(T0 + authorized_day * DAY),
        ooc_since=None if ooc_day is None else epoch(T0 + ooc_day * DAY),
        checked_at=at,
    )


@pytest.mark.parametrize(
    ("state", "day", "registration", "authorization", "enforcement"),
    [
        (fresh(), 0, R.UNREGISTERED, A.EVALUATION, None),
        (fresh(), 89.99, R.UNREGISTERED, A.EVALUATION, None),
        (fresh(), 90, R.UNREGISTERED, A.EVALUATION_EXPIRED, E.EVALUATION_EXPIRY),
        (registered(), 1, R.REGISTERED, A.AUTHORIZED, None),
        (registered(authorized_day=None), 1, R.REGISTERED, A.UNAUTHORIZED, None),
        (registered(), 89.99, R.REGISTERED, A.AUTHORIZED, None),
        (registered(), 90, R.REGISTERED, A.AUTHORIZATION_EXPIRED, None),
        (registered(), 179.99, R.REGISTERED, A.AUTHORIZATION_EXPIRED, None),
        (registered(), 180, R.REGISTERED, A.AUTHORIZATION_EXPIRED, E.AUTHORIZATION_EXPIRY),
        (registered(contact_day=100, authorized_day=100), 150, R.REGISTERED, A.AUTHORIZED, None),
        (registered(ooc_day=10), 50, R.REGISTERED, A.OUT_OF_COMPLIANCE, None),
        (registered(contact_day=95, ooc_day=10), 100, R.REGISTERED, A.OUT_OF_COMPLIANCE, E.OUT_OF_COMPLIANCE_EXPIRY),
        (registered(contact_day=364), 365, R.REGISTRATION_EXPIRED, A.AUTHORIZED, None),
        # an unregistered instance evaluates from its first start, whatever happened before
        (fresh(first_started_at=epoch(T0 - 100 * DAY)), 0, R.UNREGISTERED, A.EVALUATION_EXPIRED, E.EVALUATION_EXPIRY),
    ],
)
def test_derive_table(
    state: InstanceState, day: float, registration: R, authorization: A, enforcement: E | None
) -> None:
    """Each instant gives the statuses of the seed's rules."""
    phase = lifecycle.derive(state, epoch(T0 + day * DAY), P)
    assert (phase.registration, phase.authorization, phase.enforcement) == (registration, authorization, enforcement)


def test_tick_records_each_transition_at_its_own_instant() -> None:
    """A tick after a long silence records Authorization Expired at +90 days and Enforcement at
    +180 days, in order, with their own instants (not the instant of the tick)."""
    s, events = lifecycle.tick(registered(), T0 + 200 * DAY, P)
    assert [(e[0], e[1]) for e in events] == [
        (epoch(T0 + 90 * DAY), "authorization_authorization_expired"),
        (epoch(T0 + 180 * DAY), "enforcement"),
    ]
    assert s.enforcement is E.AUTHORIZATION_EXPIRY and s.enforcement_since == epoch(T0 + 180 * DAY)
    again, more = lifecycle.tick(s, T0 + 201 * DAY, P)
    assert more == [] and again.checked_at == epoch(T0 + 201 * DAY)


def test_tick_leaves_enforcement_when_contact_returns() -> None:
    """A successful renewal at any point returns to Authorized and ends Enforcement."""
    s, _ = lifecycle.tick(registered(), T0 + 200 * DAY, P)
    s = msgspec.structs.replace(s, last_contact_at=epoch(T0 + 200 * DAY), authorized_at=epoch(T0 + 200 * DAY))
    s, events = lifecycle.tick(s, T0 + 200 * DAY, P)
    assert s.authorization is A.AUTHORIZED and s.enforcement is None
    assert {e[1] for e in events} == {"authorization_authorized", "enforcement_ended"}


def test_evaluation_is_never_reset() -> None:
    """Deregistering does not restart the evaluation: it counts from the first start."""
    s = registered(at_day=30)
    s = outcomes.on_deregistered(s, T0 + 40 * DAY)
    s, _ = lifecycle.tick(s, T0 + 40 * DAY, P)
    assert s.authorization is A.EVALUATION
    assert statusview.status_view(s, T0 + 40 * DAY, P).evaluation_remaining == "50 days"
    s, _ = lifecycle.tick(s, T0 + 95 * DAY, P)
    assert s.authorization is A.EVALUATION_EXPIRED and s.enforcement is E.EVALUATION_EXPIRY


@pytest.mark.parametrize(
    ("state", "day", "expected"),
    [
        (registered(), 29.9, []),
        (registered(), 30, [Due.RENEW_AUTHORIZATION]),
        (registered(authorized_day=None), 0, [Due.RENEW_AUTHORIZATION]),
        (registered(authorized_day=150, contact_day=150), 180, [Due.RENEW_REGISTRATION, Due.RENEW_AUTHORIZATION]),
        (registered(authorized_day=170, contact_day=170), 180, [Due.RENEW_REGISTRATION]),
        (fresh(), 100, []),
    ],
)
def test_due_table(state: InstanceState, day: float, expected: list[Due]) -> None:
    """Authorization is renewed every 30 days, the ID certificate every 180."""
    assert lifecycle.due(state, T0 + day * DAY, P) == expected


def test_registration_expired_sends_nothing() -> None:
    """With the ID certificate expired, no renewal is attempted (the SSM would refuse it)."""
    s, _ = lifecycle.tick(registered(contact_day=364), T0 + 366 * DAY, P)
    assert s.registration is R.REGISTRATION_EXPIRED
    assert lifecycle.due(s, T0 + 366 * DAY, P) == []


def test_next_wakeup_is_the_earliest_deadline() -> None:
    """The shell wakes at the next renewal, or the next rule deadline when that comes first."""
    assert lifecycle.next_wakeup(registered(), T0, P) == T0 + 30 * DAY
    assert lifecycle.next_wakeup(fresh(), T0, P) == T0 + 90 * DAY
    late = msgspec.structs.replace(
        registered(), auth_retry=lifecycle.Retry(at=epoch(T0 + 91 * DAY), delay=60, attempts=3)
    )
    assert lifecycle.next_wakeup(late, T0 + 31 * DAY, P) == T0 + 90 * DAY  # the expiry comes before the retry


def test_backoff_doubles_to_the_cap_and_never_spins() -> None:
    """Failures back off 15 min, 30, 60 ... up to one day, and never zero."""
    delays, r = [], None
    for _ in range(12):
        r = lifecycle.backoff(r, T0, P)
        delays.append(r.delay)
    assert delays[:4] == [900, 1800, 3600, 7200]
    assert max(delays) == 86400 and delays[-1] == 86400
    assert min(delays) > 0
    s = outcomes.on_due_failed(registered(), Due.RENEW_AUTHORIZATION, Unavailable("down", code="x"), T0 + 30 * DAY, P)
    assert lifecycle.due(s, T0 + 30 * DAY, P) == []  # not again until the retry instant
    assert lifecycle.due(s, T0 + 30 * DAY + timedelta(minutes=15), P) == [Due.RENEW_AUTHORIZATION]


def test_refused_actions() -> None:
    """Register twice, license type while registered, agents in Enforcement: refused with a fix."""
    with pytest.raises(Conflict) as exc:
        permits.permit(registered(), PersonAction.REGISTER)
    assert exc.value.code == "already_registered"
    with pytest.raises(Conflict) as exc:
        permits.set_license_type(registered(), LicenseType.PERPETUAL, UsageMode.PRODUCTION)
    assert exc.value.code == "deregister_first"
    expired, _ = lifecycle.tick(fresh(), T0 + 91 * DAY, P)
    with pytest.raises(Conflict) as exc:
        permits.add_agents(expired, 1)
    assert exc.value.code == "enforcement" and "register" in exc.value.fix
    assert permits.add_agents(fresh(), 2).agents == 2
    with pytest.raises(Conflict) as exc:
        permits.permit(fresh(), PersonAction.RENEW_AUTHORIZATION)
    assert exc.value.code == "not_registered"


@pytest.mark.parametrize("ooc_day", [None, 60])
def test_registration_expired_shows_reregister_never_renew(ooc_day: int | None) -> None:
    """Issue 16.2: status, the Enforcement event and the 'agents add' refusal say to reregister
    (seed: "Reregister the Product Instance"); renewing is refused anyway. The status shows the
    registration's expiry date (issue 16.3)."""
    day = 366  # a year silent: authorization expired, Enforcement, then the registration expired
    s, events = lifecycle.tick(registered(ooc_day=ooc_day), T0 + day * DAY, P)
    assert (s.registration, s.enforcement) == (R.REGISTRATION_EXPIRED, E.AUTHORIZATION_EXPIRY)
    view = statusview.status_view(s, T0 + day * DAY, P)
    assert view.way_out is not None and "smart-agent reregister" in view.way_out
    assert "smart-agent renew" not in view.way_out
    assert view.registration_time == (T0 + 365 * DAY).isoformat()  # the expiry, not the registration
    with pytest.raises(Conflict) as exc:
        permits.add_agents(s, 1)
    assert "smart-agent reregister" in exc.value.fix and "renew auth" not in exc.value.fix
    enforced = [m for _, kind, m in events if kind == "enforcement"]
    # Enforcement began (day 180) before the registration expired (day 365): its way out then was
    # to renew; once expired, every way out shown now is to reregister.
    assert enforced and "renew the authorization" in enforced[0]


@pytest.mark.parametrize("kind", list(E))
def test_every_way_out_of_an_expired_registration_reregisters(kind: E) -> None:
    text = lifecycle.way_out(kind, R.REGISTRATION_EXPIRED)
    assert "smart-agent reregister TOKEN" in text and "smart-agent renew" not in text
    assert "smart-agent reregister" not in lifecycle.way_out(kind)


def test_registration_expired_without_enforcement_still_shows_the_way_out() -> None:
    """Renewals of the authorization kept working (contact) but the ID certificate was not renewed
    for 12 months: Registration Expired, not in Enforcement; the way out is reregister."""
    s = msgspec.structs.replace(
        registered(), last_contact_at=epoch(T0 + 360 * DAY), authorized_at=epoch(T0 + 360 * DAY)
    )
    s, _ = lifecycle.tick(s, T0 + 366 * DAY, P)
    assert (s.registration, s.enforcement) == (R.REGISTRATION_EXPIRED, None)
    view = statusview.status_view(s, T0 + 366 * DAY, P)
    assert view.way_out == lifecycle.REREGISTER


def _grants(*statuses: EntitlementStatus) -> list[EntitlementGrant]:
    return [EntitlementGrant(tag=f"t{i}", name=f"n{i}", status=st) for i, st in enumerate(statuses)]


@pytest.mark.parametrize(
    ("policy", "grants", "expected"),
    [
        (P, _grants(EntitlementStatus.NO_LICENSE_IN_USE), A.AUTHORIZED),  # the seed's Table 2 reading
        (NLIU, _grants(EntitlementStatus.NO_LICENSE_IN_USE, EntitlementStatus.NO_LICENSE_IN_USE), A.NO_LICENSE_IN_USE),
        (NLIU, _grants(EntitlementStatus.NO_LICENSE_IN_USE, EntitlementStatus.IN_COMPLIANCE), A.AUTHORIZED),
        (NLIU, [], A.AUTHORIZED),  # the SSM said nothing yet
    ],
)
def test_no_license_in_use_is_a_policy(policy: Policy, grants: list[EntitlementGrant], expected: A) -> None:
    """Table 4 "No License in Use": with ``idle_authorization``, while the SSM's last answer counts
    no license in use (issue 16.3); the transition is recorded like any other."""
    s = msgspec.structs.replace(registered(), entitlements=grants)
    s, events = lifecycle.tick(s, T0 + DAY, policy)
    assert s.authorization is expected
    if expected is A.NO_LICENSE_IN_USE:
        assert [kind for _, kind, _ in events] == ["authorization_no_license_in_use"]
        assert statusview.status_view(s, T0 + DAY, policy).authorization_time is not None


def test_unauthorized_until_the_first_authorization() -> None:
    """Table 4 "Unauthorized": registered, the authorization right after it failed."""
    s = outcomes.on_due_failed(registered(authorized_day=None), Due.RENEW_AUTHORIZATION, DOWN, T0, P)
    s, _ = lifecycle.tick(s, T0 + timedelta(minutes=1), P)
    assert (s.registration, s.authorization) == (R.REGISTERED, A.UNAUTHORIZED)


@pytest.mark.parametrize(
    ("error", "action", "refused"),
    [
        (RemoteError("bad report", code="invalid_report", remote_status=400), "report_usage", True),
        (RemoteError("stale", code="request_stale", remote_status=401), "renew_authorization", True),
        (RemoteError("busy", code="injected_fault", remote_status=503), "report_usage", False),
        (DOWN, "report_usage", False),
        (RemoteError("bad token", code="token_expired", remote_status=403), "register", False),
    ],
)
def test_a_refused_report_or_authorization_makes_the_entitlements_invalid(
    error: SmartLicensingError, action: str, refused: bool
) -> None:
    """Table 5 "Invalid" (error condition): the SSM refused (4xx) a request carrying the
    entitlements; the next one accepted clears it."""
    s = outcomes.on_failure(registered(), error, T0, action=action)
    assert (s.refused_at is not None) is refused
    assert outcomes.on_authorized(s, _authorization(), T0).refused_at is None


def _authorization() -> Authorization:
    return Authorization(in_reply_to="n", issued_at=epoch(T0), authorized_at=epoch(T0), expires_at=epoch(T0 + 90 * DAY))
