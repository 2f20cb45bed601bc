"""The product instance as a person sees it (seed Table 2): a new instance, registration and
authorization replies, failures, and the refusal to register twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from shared import lifecycle, outcomes, permits, statusview
from shared.clock import epoch
from shared.errors import Conflict, RemoteError, Unavailable
from shared.lifecycle import InstanceState
from shared.messages import Authorization, EntitlementGrant, Registered
from shared.permits import PersonAction
from shared.policy import DEFAULT_POLICY as P
from shared.states import (
    AuthorizationStatus,
    EntitlementStatus,
    ExportControl,
    LicenseType,
    RegistrationStatus,
    UsageMode,
)

T0 = datetime(2026, 2, 1, 9, 30, tzinfo=UTC)
DAY = timedelta(days=1)
PEM = "-----BEGIN CERTIFICATE-----\n" + "A" * 64 + "\n-----END CERTIFICATE-----\n"
GRANT = EntitlementGrant(tag="regid.tag", name="Premium Agent", status=EntitlementStatus.IN_COMPLIANCE, requested=5)


def fresh(deployment: str = "Unified CCE 2000 Agents", now: datetime = T0) -> InstanceState:
    return lifecycle.new_instance(
        name="ucce-1",
        product="Unified CCE",
        udi_pid="UCCE",
        serial_number="FCH2233V0AB",
        hostname="ucce-1.lab",
        deployment_type=deployment,
        license_type=LicenseType.FLEX,
        usage_mode=UsageMode.PRODUCTION,
        now=now,
    )


def registered_and_authorized(at: datetime) -> InstanceState:
    s = fresh()
    reply = Registered(
        in_reply_to="nonce-0001",
        issued_at=epoch(at),
        piid="piid-42",
        id_cert=PEM,
        chain=[PEM],
        smart_account="Lab Smart Account",
        smart_account_domain="lab.example",
        virtual_account="Contact Center",
        export_controlled=ExportControl.NOT_ALLOWED,
        registered_at=epoch(at),
        cert_expires_at=epoch(at + P.id_cert_validity),
    )
    s = outcomes.on_registered(s, reply, at)
    auth = Authorization(
        in_reply_to="nonce-0002",
        issued_at=epoch(at),
        authorized_at=epoch(at),
        expires_at=epoch(at + P.auth_expiry),
        entitlements=[GRANT],
    )
    s = outcomes.on_authorized(s, auth, at)
    s, _ = lifecycle.tick(s, at, P)  # the shell applies the time rules after every event
    return s


def test_new_instance_starts_unregistered_in_evaluation() -> None:
    """A new instance is Unregistered, in Evaluation Mode, first started (and checked) at now."""
    s = fresh()
    assert (s.registration, s.authorization, s.enforcement) == (
        RegistrationStatus.UNREGISTERED,
        AuthorizationStatus.EVALUATION,
        None,
    )
    assert s.first_started_at == s.checked_at == epoch(T0)
    assert (s.piid, s.smart_account, s.export_controlled) == (None, None, ExportControl.NOT_ALLOWED)


def test_status_of_an_unregistered_instance() -> None:
    """Table 2 'On Unsuccessful Registration': Unregistered, Evaluation, Not Allowed, no account, 90 days left."""
    view = statusview.status_view(fresh(), T0, P)
    assert view.registration_status == "Unregistered"
    assert view.license_authorization_status == "Evaluation Mode"
    assert view.export_controlled_functionality == "Not Allowed"
    assert (view.smart_account, view.virtual_account, view.piid) == (None, None, None)
    assert (view.registration_time, view.authorization_time) == (None, None)
    assert view.evaluation_remaining == "90 days"
    assert view.evaluation_expires == (T0 + 90 * DAY).isoformat()
    assert (view.product_instance_name, view.serial_number) == ("ucce-1", "FCH2233V0AB")
    assert view.reason is None


@pytest.mark.parametrize(
    ("elapsed", "remaining"),
    [
        (timedelta(0), "90 days"),
        (timedelta(hours=1), "89 days 23 hours"),
        (89 * DAY, "1 day"),
        (90 * DAY - timedelta(minutes=1), "1 minute"),
    ],
)
def test_evaluation_remaining_counts_down(elapsed: timedelta, remaining: str) -> None:
    """The remaining evaluation time is measured from the first start to the status time."""
    assert statusview.status_view(fresh(), T0 + elapsed, P).evaluation_remaining == remaining


def test_status_after_registration_and_authorization() -> None:
    """Table 2 'On Successful Registration': Registered and Authorized with their times, the accounts and
    the serial number, and the renewal schedule of the policy."""
    at = T0 + 3 * DAY
    view = statusview.status_view(registered_and_authorized(at), at + timedelta(hours=1), P)
    assert view.registration_status == "Registered"
    assert view.registration_time == at.isoformat()
    assert view.license_authorization_status == "Authorized"
    assert view.authorization_time == at.isoformat()
    assert view.export_controlled_functionality == "Not Allowed"
    assert (view.smart_account, view.virtual_account) == ("Lab Smart Account", "Contact Center")
    assert (view.product_instance_name, view.serial_number, view.piid) == ("ucce-1", "FCH2233V0AB", "piid-42")
    assert view.evaluation_remaining is None
    assert view.next_authorization_renewal == (at + 30 * DAY).isoformat()
    assert view.authorization_expires == (at + 90 * DAY).isoformat()
    assert view.next_registration_renewal == (at + 180 * DAY).isoformat()
    assert view.registration_expires == (at + 365 * DAY).isoformat()
    assert view.last_contact == at.isoformat()
    assert view.entitlements == [GRANT]


def test_registration_alone_is_not_yet_authorized() -> None:
    """Between the registration and the first authorization the instance is Registered but Unauthorized."""
    s = registered_and_authorized(T0)
    s = msgspec.structs.replace(s, authorized_at=None)
    s, _ = lifecycle.tick(s, T0 + timedelta(minutes=1), P)
    view = statusview.status_view(s, T0 + timedelta(minutes=1), P)
    assert (view.registration_status, view.license_authorization_status) == ("Registered", "Unauthorized")
    assert view.authorization_time is None


def test_status_shows_the_effective_license_type() -> None:
    """A Rogger/Logger configured as Flex shows Perpetual, and still shows what was configured."""
    view = statusview.status_view(fresh("Unified CCE Rogger/Logger"), T0, P)
    assert (view.license_type, view.configured_license_type) == (LicenseType.PERPETUAL, LicenseType.FLEX)
    assert fresh("Unified CCE Rogger/Logger").identity().license_type is LicenseType.PERPETUAL


@pytest.mark.parametrize(
    "error",
    [
        Unavailable("the SSM could not be reached", code="ssm_unreachable", fix="check the network"),
        RemoteError("the token expired", code="token_expired", fix="create a new token", remote_status=403),
    ],
    ids=["unreachable", "refused"],
)
def test_failure_is_shown_as_the_reason(error: Unavailable | RemoteError) -> None:
    """A failure records its code, message and fix with its time and action, and changes no status."""
    s = outcomes.on_failure(fresh(), error, T0 + DAY, action="register")
    view = statusview.status_view(s, T0 + DAY, P)
    assert view.reason == lifecycle.Failure(
        code=error.code, message=error.message, fix=error.fix, at=epoch(T0 + DAY), action="register"
    )
    assert (view.registration_status, view.license_authorization_status) == ("Unregistered", "Evaluation Mode")


def test_success_clears_the_reason() -> None:
    """A successful authorization after a failure clears the shown reason."""
    s = registered_and_authorized(T0)
    s = outcomes.on_failure(s, Unavailable("down", code="ssm_unreachable"), T0 + DAY, action="renew")
    assert statusview.status_view(s, T0 + DAY, P).reason is not None
    auth = Authorization(
        in_reply_to="nonce-0003",
        issued_at=epoch(T0 + 2 * DAY),
        authorized_at=epoch(T0 + 2 * DAY),
        expires_at=epoch(T0 + 92 * DAY),
    )
    s = outcomes.on_authorized(s, auth, T0 + 2 * DAY)
    assert statusview.status_view(s, T0 + 2 * DAY, P).reason is None


def test_check_can_register_passes_when_unregistered() -> None:
    """An unregistered instance may register."""
    permits.permit(fresh(), PersonAction.REGISTER)


@pytest.mark.parametrize("registration", [RegistrationStatus.REGISTERED, RegistrationStatus.REGISTRATION_EXPIRED])
def test_check_can_register_refuses_a_registered_instance(registration: RegistrationStatus) -> None:
    """A registered (or expired-registration) instance is refused with Conflict already_registered (409)."""
    s = msgspec.structs.replace(registered_and_authorized(T0), registration=registration)
    with pytest.raises(Conflict) as caught:
        permits.permit(s, PersonAction.REGISTER)
    assert (caught.value.code, caught.value.http_status) == ("already_registered", 409)
    assert "Contact Center" in caught.value.message
    assert "reregister" in caught.value.fix


def test_deregistering_returns_to_evaluation_of_the_first_start() -> None:
    """After deregistration the account fields are gone and evaluation counts from the first start."""
    s = registered_and_authorized(T0 + 10 * DAY)
    s = outcomes.on_deregistered(s, T0 + 20 * DAY)
    s, _ = lifecycle.tick(s, T0 + 20 * DAY, P)
    view = statusview.status_view(s, T0 + 20 * DAY, P)
    assert (view.registration_status, view.license_authorization_status) == ("Unregistered", "Evaluation Mode")
    assert (view.smart_account, view.piid, view.entitlements) == (None, None, [])
    assert view.evaluation_remaining == "70 days"
