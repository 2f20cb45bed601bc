"""Playbooks of the product-instance machine (mitmproxy's ``Playbook``): an event in, the commands
expected out, without an SSM, a store or a clock. Each playbook is a table of steps; an outcome
step (``Ok`` / ``Failed``) answers the last ``Send``."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from server.pki_files import LabPki
from shared import lifecycle, outcomes, pki, slr, tokens
from shared.agent.commands import Answer, Command, DeregisterResult, Log, Persist, Send, WakeAt
from shared.agent.engine import ProtocolViolation
from shared.agent.events import (
    AddAgentsRequested,
    DeregisterRequested,
    Event,
    LicenseTypeRequested,
    RegisterRequested,
    RenewRequested,
    ReplyReceived,
    RequestFailed,
    ReservationCancelRequested,
    ReservationInstallRequested,
    ReservationRequested,
    ReservationReturnRequested,
    UsageSet,
    Woke,
)
from shared.agent.machine import InstanceMachine
from shared.catalog import LicenseKey
from shared.clock import epoch, real_now
from shared.errors import BadRequest, Conflict, RemoteError, SmartLicensingError, Unavailable
from shared.lifecycle import Due, InstanceState
from shared.messages import (
    Authorization,
    Authorize,
    Deregistered,
    EntitlementGrant,
    Registered,
    RegistrationRenewed,
    Reply,
    ReportUsage,
    Usage,
    UsageAccepted,
    UsageReport,
)
from shared.policy import DEFAULT_POLICY as P
from shared.states import (
    AuthorizationStatus,
    EntitlementStatus,
    ExportControl,
    LicenseType,
    RegistrationStatus,
    UsageMode,
)
from shared.usage import Profile, ProfileStep, UsageState

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
MIN = timedelta(minutes=1)
PEM = "-----BEGIN CERTIFICATE-----\n" + "A" * 64 + "\n-----END CERTIFICATE-----\n"
CSR = "-----BEGIN CERTIFICATE REQUEST-----\n" + "C" * 64 + "\n-----END CERTIFICATE REQUEST-----\n"
#: The ID key an instance registered with, and the one the fixed entropy hands out next.
OLD_KEY = pki.new_key()
NEW_KEY = pki.new_key()
TOKEN = tokens.mint(expires_at=T0 + 30 * DAY).text
PREMIUM = EntitlementGrant(tag="regid.premium", name="Premium Agent", status=EntitlementStatus.IN_COMPLIANCE)
DOWN = Unavailable("cannot connect", code="connection_failed", fix="check that the SSM is running")
REMOVED = RemoteError("no such product instance", code="instance_removed", fix="register it again", remote_status=404)


class FixedEntropy:
    """Numbered nonces, always NEW_KEY with the same CSR, a fixed request-code nonce."""

    def __init__(self) -> None:
        self.count = 0

    def nonce(self) -> str:
        self.count += 1
        return f"nonce-{self.count:04d}"

    def identity(self, *, common_name: str, serial_number: str) -> tuple[pki.PrivateKey, str]:
        return NEW_KEY, CSR

    def request_code(self, udi_pid: str, serial_number: str) -> slr.RequestCode:
        return slr.RequestCode(udi_pid, serial_number, "ABCDEFGHI")


def fresh() -> InstanceState:
    return lifecycle.new_instance(
        name="ucce-1",
        product="Unified CCE",
        udi_pid="UCCE",
        serial_number="FCH2233V0AB",
        hostname="ucce-1.lab",
        deployment_type="Unified CCE 2000 Agents",
        license_type=LicenseType.FLEX,
        usage_mode=UsageMode.PRODUCTION,
        now=T0,
    )


def registered(at: datetime = T0) -> Registered:
    return Registered(
        in_reply_to="nonce-0002",
        issued_at=epoch(at),
        piid="PI-1",
        id_cert=PEM,
        chain=[PEM],
        smart_account="Lab",
        smart_account_domain="lab.example",
        virtual_account="DEFAULT",
        export_controlled=ExportControl.NOT_ALLOWED,
        registered_at=epoch(at),
        cert_expires_at=epoch(at + P.id_cert_validity),
    )


def authorization(at: datetime = T0) -> Authorization:
    return Authorization(
        in_reply_to="nonce-0003",
        issued_at=epoch(at),
        authorized_at=epoch(at),
        expires_at=epoch(at + P.auth_expiry),
        entitlements=[PREMIUM],
    )


def accepted(*ids: str, duplicates: Sequence[str] = ()) -> UsageAccepted:
    return UsageAccepted(in_reply_to="nonce-0009", issued_at=epoch(T0), accepted=list(ids), duplicates=list(duplicates))


def authorized_state() -> InstanceState:
    """Registered and authorized at T0 (what the registration playbook ends in)."""
    s = outcomes.on_authorized(outcomes.on_registered(fresh(), registered(), T0), authorization(), T0)
    return lifecycle.tick(s, T0, P)[0]


def machine(state: InstanceState | None = None, **kw: object) -> InstanceMachine:
    usage_state = kw.pop("usage_state", UsageState())
    key = kw.pop("key", OLD_KEY if state is not None and state.piid else None)
    return InstanceMachine(
        state=state or fresh(),
        usage_state=usage_state,  # type: ignore[arg-type]
        key=key,  # type: ignore[arg-type]
        policy=kw.pop("policy", P),  # type: ignore[arg-type]
        entropy=FixedEntropy(),
    )


# -- the playbook ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Ok:
    """The SSM answered the last Send with ``reply``."""

    reply: Reply
    at: datetime = T0


@dataclasses.dataclass(frozen=True)
class Failed:
    """The last Send failed with ``error``."""

    error: SmartLicensingError
    at: datetime = T0


Step = tuple[Event | Ok | Failed, list[tuple[object, ...]]]


def summary(command: Command) -> tuple[object, ...]:
    """A command as a playbook expects it: what kind, and what matters of it."""
    match command:
        case Send(request=ReportUsage() as r):
            return ("send", "ReportUsage", len(r.reports))
        case Send():
            return ("send", type(command.request).__name__)
        case Persist():
            return ("persist", *(kind for _, kind, _ in command.records))
        case Log():
            return ("log", command.level, command.event, *(["smartlog"] if command.smartlog else []))
        case WakeAt():
            return ("wake", command.when)
        case Answer(error=None):
            return ("answer", type(command.result).__name__)
        case Answer():
            assert command.error is not None
            return ("answer", command.error.code)
    raise AssertionError(command)


def play(m: InstanceMachine, steps: Sequence[Step]) -> list[Command]:
    """Feed each step, compare the commands out; return every command, in order."""
    every: list[Command] = []
    sent: Send | None = None
    for step, expected in steps:
        event: Event
        if isinstance(step, Ok):
            assert sent is not None
            event = ReplyReceived(now=step.at, request_id=sent.request_id, reply=step.reply)
        elif isinstance(step, Failed):
            assert sent is not None
            event = RequestFailed(now=step.at, request_id=sent.request_id, error=step.error)
        else:
            event = step
        commands = m.handle(event)
        assert [summary(c) for c in commands] == expected, f"after {type(event).__name__}"
        sent = next((c for c in reversed(commands) if isinstance(c, Send)), sent)
        every += commands
    assert not m.busy
    return every


def of(commands: Sequence[Command], kind: type[Command]) -> list[Command]:
    return [c for c in commands if isinstance(c, kind)]


# -- registration ----------------------------------------------------------------------------------


REGISTRATION: list[Step] = [
    (RegisterRequested(now=T0, token=TOKEN), [("send", "Register")]),
    (Ok(registered()), [("persist", "registered"), ("log", "info", "registered"), ("send", "Authorize")]),
    (
        Ok(authorization()),
        [
            ("persist", "authorized", "authorization_authorized"),
            ("log", "info", "transition"),
            ("answer", "StatusView"),
        ],
    ),
]


def test_registration_sends_register_then_authorize_and_answers_the_status() -> None:
    """Register: an unsigned Register with a new key's CSR; the ID key and certificate are
    committed with the registration; the first authorization is signed with the new key."""
    m = machine()
    commands = play(m, REGISTRATION)
    register, authorize = of(commands, Send)
    assert isinstance(register, Send) and register.signer is None
    assert register.request.csr == CSR and register.request.token == TOKEN  # type: ignore[union-attr]
    assert isinstance(authorize, Send) and authorize.signer is NEW_KEY
    assert isinstance(authorize.request, Authorize) and authorize.request.piid == "PI-1"
    first = of(commands, Persist)[0]
    assert isinstance(first, Persist)
    # the ID certificate with the chain the SSM sent, as presented in mutual TLS
    assert (first.key_pem, first.cert_pem) == (pki.key_pem(NEW_KEY), PEM + PEM)
    assert first.usage == UsageState()  # reports of another registration are forgotten
    answer = commands[-1]
    assert isinstance(answer, Answer) and answer.result is not None
    assert answer.result.license_authorization_status is AuthorizationStatus.AUTHORIZED  # type: ignore[union-attr]
    assert m.key is NEW_KEY and m.state.piid == "PI-1"


def test_a_playbook_is_deterministic() -> None:
    """With the entropy fixed, the same events give the same commands, nonces and keys included."""
    assert play(machine(), REGISTRATION) == play(machine(), REGISTRATION)


def test_a_refused_registration_is_recorded_and_answered() -> None:
    """The SSM refusing a registration: the reason in status, the event log and SmartAgent.log."""
    refused = RemoteError("unknown token", code="token_unknown", fix="create a token", remote_status=403)
    m = machine()
    commands = play(
        m,
        [
            (RegisterRequested(now=T0, token=TOKEN), [("send", "Register")]),
            (
                Failed(refused),
                [
                    ("persist", "register_failed"),
                    ("log", "warning", "register_failed", "smartlog"),
                    ("answer", "token_unknown"),
                ],
            ),
        ],
    )
    log = commands[-2]
    assert isinstance(log, Log)
    assert log.fields == {
        "instance": "ucce-1",
        "action": "register",
        "at": epoch(T0),
        "code": "token_unknown",
        "error": "unknown token",
        "fix": "create a token",
    }
    assert m.state.last_failure is not None and m.state.last_failure.code == "token_unknown"
    assert m.key is None and m.state.registration is RegistrationStatus.UNREGISTERED


# -- renewal due, and its backoff after a failure ----------------------------------------------------


def test_renewal_due_backs_off_after_failures_then_restores() -> None:
    """At 30 days the authorization is renewed; unreachable, it is retried after 15 minutes, then
    30 (the delay doubles); the success records the renewal and "communication restored"."""
    due = T0 + 30 * DAY
    failed = [
        ("persist", "renew_authorization_failed"),
        ("log", "warning", "renew_authorization_failed", "smartlog"),
    ]
    m = machine(authorized_state())
    commands = play(
        m,
        [
            (Woke(now=T0), [("persist",), ("wake", due)]),
            (Woke(now=due), [("persist",), ("send", "Authorize")]),
            (Failed(DOWN, at=due), [*failed, ("wake", due + 15 * MIN)]),
            (Woke(now=due + 15 * MIN), [("persist",), ("send", "Authorize")]),
            (Failed(DOWN, at=due + 15 * MIN), [*failed, ("wake", due + 45 * MIN)]),
            (Woke(now=due + 45 * MIN), [("persist",), ("send", "Authorize")]),
            (
                Ok(authorization(due + 45 * MIN), at=due + 45 * MIN),
                [
                    ("persist", "authorization_renewed"),
                    ("log", "info", "communication_restored", "smartlog"),
                    ("wake", due + 45 * MIN + 30 * DAY),
                ],
            ),
        ],
    )
    logs = [c for c in of(commands, Log) if isinstance(c, Log) and c.level == "warning"]
    assert [(c.fields["attempts"], c.fields["next_in_minutes"]) for c in logs] == [(1, 15), (2, 30)]  # type: ignore[union-attr]
    assert m.state.auth_retry is None and m.state.last_failure is None


def test_a_manual_renewal_failure_is_answered_without_backoff() -> None:
    """Renew Authorization on demand, unreachable: the error is answered and recorded; the
    automatic schedule is not pushed back."""
    m = machine(authorized_state())
    play(
        m,
        [
            (RenewRequested(now=T0 + DAY, due=Due.RENEW_AUTHORIZATION), [("send", "Authorize")]),
            (
                Failed(DOWN, at=T0 + DAY),
                [
                    ("persist", "renew_authorization_failed"),
                    ("log", "warning", "renew_authorization_failed", "smartlog"),
                    ("answer", "connection_failed"),
                ],
            ),
        ],
    )
    assert m.state.auth_retry is None


def test_registration_renewal_rotates_the_id_key() -> None:
    """Renew Registration: the CSR of a new key, sent signed with the old one; the new key and
    certificate are committed with the renewal."""
    m = machine(authorized_state())
    renewed = RegistrationRenewed(
        in_reply_to="nonce-0001",
        issued_at=epoch(T0 + DAY),
        id_cert=PEM,
        chain=[],
        cert_expires_at=epoch(T0 + 400 * DAY),
    )
    commands = play(
        m,
        [
            (RenewRequested(now=T0 + DAY, due=Due.RENEW_REGISTRATION), [("send", "RenewRegistration")]),
            (Ok(renewed, at=T0 + DAY), [("persist", "registration_renewed"), ("answer", "StatusView")]),
        ],
    )
    send, persist = commands[0], commands[1]
    assert isinstance(send, Send) and send.signer is OLD_KEY
    assert isinstance(persist, Persist) and persist.key_pem == pki.key_pem(NEW_KEY)
    assert m.key is NEW_KEY


# -- usage reports -----------------------------------------------------------------------------------


def queued(n: int) -> UsageState:
    ends = [epoch(T0) + 900 * (k + 1) for k in range(n)]
    reports = [
        UsageReport(report_id=f"PI-1:{e}", interval_start=e - 900, interval_end=e, usage=[Usage(tag="t", peak=1)])
        for e in ends
    ]
    return UsageState(queue=reports, interval_end=ends[-1] + 900)


def test_a_report_queue_drains_in_batches() -> None:
    """Five queued reports, batches of two: three requests, oldest first, each acknowledged batch
    committed before the next is sent; duplicates count as delivered."""
    m = machine(authorized_state(), usage_state=queued(5), policy=dataclasses.replace(P, report_batch_max=2))
    ids = [r.report_id for r in m.usage.queue]
    at = T0 + 2 * timedelta(hours=1)
    commands = play(
        m,
        [
            (Woke(now=at), [("send", "ReportUsage", 2)]),
            (Ok(accepted(*ids[:2]), at=at), [("persist", "usage_reported"), ("send", "ReportUsage", 2)]),
            (
                Ok(accepted(ids[2], duplicates=[ids[3]]), at=at),
                [("persist", "usage_reported"), ("send", "ReportUsage", 1)],
            ),
            (Ok(accepted(ids[4]), at=at), [("persist", "usage_reported"), ("wake", T0 + 30 * DAY)]),
        ],
    )
    sent = [[r.report_id for r in c.request.reports] for c in of(commands, Send)]  # type: ignore[union-attr]
    assert sent == [ids[:2], ids[2:4], ids[4:]]
    persisted = [c for c in of(commands, Persist) if isinstance(c, Persist)]
    assert [len(c.usage.queue) for c in persisted if c.usage is not None] == [3, 1, 0]
    assert persisted[1].records[0][2].endswith("accepted (1 already stored)")


def test_a_failed_report_keeps_the_rest_queued_and_backs_off() -> None:
    """The second batch fails: the first stays acknowledged, the rest stays queued, and the next
    attempt waits for the backoff."""
    m = machine(authorized_state(), usage_state=queued(3), policy=dataclasses.replace(P, report_batch_max=2))
    at = T0 + timedelta(hours=1)
    play(
        m,
        [
            (Woke(now=at), [("send", "ReportUsage", 2)]),
            (
                Ok(accepted(*[r.report_id for r in m.usage.queue[:2]]), at=at),
                [("persist", "usage_reported"), ("send", "ReportUsage", 1)],
            ),
            (
                Failed(DOWN, at=at),
                [
                    ("persist", "report_usage_failed"),
                    ("log", "warning", "report_usage_failed", "smartlog"),
                    ("wake", at + 15 * MIN),
                ],
            ),
        ],
    )
    assert len(m.usage.queue) == 1 and m.usage.retry is not None and m.usage.retry.attempts == 1


# -- removed by the SSM, deregistration ---------------------------------------------------------------


def test_removed_by_the_ssm_unregisters_with_entitlements_disabled() -> None:
    """The due renewal learns the SSM removed the instance: unregistered, credentials forgotten,
    entitlements Disabled, the reason kept; no backoff, no SmartAgent.log line."""
    due = T0 + 30 * DAY
    m = machine(authorized_state(), usage_state=queued(2))
    commands = play(
        m,
        [
            (Woke(now=due), [("persist",), ("send", "Authorize")]),
            (
                Failed(REMOVED, at=due),
                [
                    ("persist", "removed_by_ssm", "authorization_evaluation"),
                    ("log", "info", "transition"),
                    ("wake", T0 + 90 * DAY),
                ],
            ),
        ],
    )
    removal = commands[2]
    assert isinstance(removal, Persist) and removal.clear_credentials
    assert removal.usage is not None and removal.usage.queue == []
    assert m.key is None and m.state.registration is RegistrationStatus.UNREGISTERED
    assert [e.status for e in m.state.entitlements] == [EntitlementStatus.DISABLED]
    assert m.state.last_failure is not None and m.state.last_failure.code == "instance_removed"


def test_removed_by_the_ssm_on_a_manual_renewal_is_answered() -> None:
    """Renew Authorization learns the removal: unregistered, and the caller gets the error."""
    m = machine(authorized_state())
    play(
        m,
        [
            (RenewRequested(now=T0 + DAY, due=Due.RENEW_AUTHORIZATION), [("send", "Authorize")]),
            (
                Failed(REMOVED, at=T0 + DAY),
                [
                    ("persist", "removed_by_ssm", "authorization_evaluation"),
                    ("log", "info", "transition"),
                    ("answer", "instance_removed"),
                ],
            ),
        ],
    )
    assert m.state.registration is RegistrationStatus.UNREGISTERED


@pytest.mark.parametrize(
    ("outcome", "removed_on_ssm", "says"),
    [
        (Ok(Deregistered(in_reply_to="nonce-0001", issued_at=epoch(T0))), True, "released to the virtual account"),
        (Failed(DOWN), False, "the SSM could not be reached (connection_failed)"),
        (Failed(RemoteError("busy", code="http_500", remote_status=500)), False, "the SSM refused (http_500: busy)"),
        (Failed(REMOVED), True, "released to the virtual account"),
    ],
)
def test_deregister_is_local_too_when_the_ssm_cannot_do_it(
    outcome: Ok | Failed, removed_on_ssm: bool, says: str
) -> None:
    """Deregister always ends the registration here; when the SSM did not release the instance,
    the message says how to remove it there by hand."""
    m = machine(authorized_state())
    commands = play(
        m,
        [
            (DeregisterRequested(now=T0), [("send", "Deregister")]),
            (
                outcome,
                [
                    ("persist", "deregistered", "authorization_evaluation"),
                    ("log", "info", "transition"),
                    ("answer", "DeregisterResult"),
                ],
            ),
        ],
    )
    answer = commands[-1]
    assert isinstance(answer, Answer) and isinstance(answer.result, DeregisterResult)
    assert answer.result.removed_on_ssm is removed_on_ssm and says in answer.result.message
    assert ("ssm-server instance remove PI-1" in answer.result.message) is not removed_on_ssm
    persist = commands[1]
    assert isinstance(persist, Persist) and persist.clear_credentials
    assert m.key is None and m.state.piid is None


# -- Specific License Reservation -------------------------------------------------------------------


PREMIUM_TAG = LicenseKey("Premium Agent", LicenseType.FLEX, UsageMode.PRODUCTION).tag
ENTS = [slr.Entitlement(PREMIUM_TAG, "Premium Agent (Flex, Production)", 5, "TERM")]


def test_reservation_request_then_install(lab_pki: LabPki) -> None:
    """Request a code (asked again: the same), install the SSM's signed authorization code:
    Registered - SLR, Authorized - Reserved, the entitlements ReservedInCompliance."""
    m = machine()
    play(
        m,
        [
            (ReservationRequested(now=T0), [("persist", "reservation_requested"), ("answer", "StatusView")]),
            (ReservationRequested(now=T0 + MIN), [("answer", "StatusView")]),
        ],
    )
    assert m.state.reservation is not None
    request = slr.parse_request_code(m.state.reservation.request_code)
    chain = [lab_pki.signing.cert, *lab_pki.signing.chain]
    code = slr.authorize(request, ENTS, now=T0, key=lab_pki.signing.key, chain=chain)
    install = ReservationInstallRequested(now=T0 + DAY, code=code.text, roots=(lab_pki.root,), verified_at=real_now())
    commands = play(m, [(install, [("persist", "reservation_installed"), ("answer", "StatusView")])])
    assert m.state.registration is RegistrationStatus.REGISTERED_SLR
    assert m.state.authorization is AuthorizationStatus.AUTHORIZED_RESERVED
    assert [(g.name, g.reported, g.status) for g in m.state.entitlements] == [
        ("Premium Agent", 5, EntitlementStatus.RESERVED_IN_COMPLIANCE)
    ]
    persist = commands[0]
    assert isinstance(persist, Persist) and code.confirmation_code in persist.records[0][2]
    play(
        m,
        [
            (
                ReservationReturnRequested(now=T0 + 2 * DAY),
                [
                    ("persist", "reservation_returned", "authorization_evaluation"),
                    ("log", "info", "transition"),
                    ("answer", "ReservationReturned"),
                ],
            )
        ],
    )
    assert m.state.registration is RegistrationStatus.UNREGISTERED


def test_a_reservation_code_for_another_request_is_recorded_and_answered(lab_pki: LabPki) -> None:
    """A code issued for another request code is refused (authorization_code_foreign), recorded."""
    m = machine()
    play(m, [(ReservationRequested(now=T0), [("persist", "reservation_requested"), ("answer", "StatusView")])])
    other = slr.RequestCode("UCCE", "FCH2233V0AB", "ZZZZZZZZZ")
    chain = [lab_pki.signing.cert, *lab_pki.signing.chain]
    code = slr.authorize(other, ENTS, now=T0, key=lab_pki.signing.key, chain=chain)
    install = ReservationInstallRequested(now=T0, code=code.text, roots=(lab_pki.root,), verified_at=real_now())
    play(
        m,
        [
            (
                install,
                [
                    ("persist", "reservation_install_failed"),
                    ("log", "warning", "reservation_install_failed", "smartlog"),
                    ("answer", "authorization_code_foreign"),
                ],
            )
        ],
    )
    assert m.state.registration is RegistrationStatus.RESERVATION_IN_PROGRESS


# -- time, refusals, the shell's mistakes -------------------------------------------------------------


def test_time_is_a_command() -> None:
    """An idle unregistered instance wakes next at the end of its evaluation period; then it
    records Evaluation Expired and Enforcement at that instant."""
    m = machine()
    end = T0 + P.evaluation_period
    play(
        m,
        [
            (Woke(now=T0), [("persist",), ("wake", end)]),
            (
                Woke(now=end),
                [
                    ("persist", "authorization_evaluation_expired", "enforcement"),
                    ("log", "info", "transition"),
                    ("log", "info", "transition"),
                    ("wake", end + timedelta(days=365)),
                ],
            ),
        ],
    )
    assert m.initialized


@pytest.mark.parametrize(
    ("state", "event", "code"),
    [
        (fresh(), DeregisterRequested(now=T0), "not_registered"),
        (
            authorized_state(),
            LicenseTypeRequested(now=T0, license_type=LicenseType.PERPETUAL, usage_mode=UsageMode.PRODUCTION),
            "deregister_first",
        ),
        (authorized_state(), ReservationRequested(now=T0), "deregister_first"),
        (fresh(), ReservationReturnRequested(now=T0), "no_reservation"),
        (fresh(), ReservationCancelRequested(now=T0), "no_reservation"),
        (fresh(), ReservationInstallRequested(now=T0, code="x", roots=(), verified_at=T0), "no_reservation"),
    ],
)
def test_a_refused_action_raises_and_changes_nothing(state: InstanceState, event: Event, code: str) -> None:
    """An action the instance's status does not permit raises its Conflict; no command, no change."""
    m = machine(state)
    with pytest.raises(Conflict) as exc:
        m.handle(event)
    assert exc.value.code == code and exc.value.fix
    assert m.state == state and not m.busy


def test_refused_person_actions_that_are_recorded() -> None:
    """Register and the renewals record their refusal (status reason, SmartAgent.log); adding
    agents in Enforcement commits the verdict of now, then answers the refusal."""
    m = machine()
    play(
        m,
        [
            (
                RenewRequested(now=T0, due=Due.RENEW_AUTHORIZATION),
                [
                    ("persist", "renew_authorization_failed"),
                    ("log", "warning", "renew_authorization_failed", "smartlog"),
                    ("answer", "not_registered"),
                ],
            ),
            (
                RegisterRequested(now=T0, token="garbage-token-text"),
                [
                    ("persist", "register_failed"),
                    ("log", "warning", "register_failed", "smartlog"),
                    ("answer", "token_malformed"),
                ],
            ),
        ],
    )
    late = T0 + P.evaluation_period + DAY
    play(
        m,
        [
            (
                AddAgentsRequested(now=late, count=1),
                [
                    ("persist", "authorization_evaluation_expired", "enforcement"),
                    ("log", "info", "transition"),
                    ("log", "info", "transition"),
                    ("answer", "enforcement"),
                ],
            )
        ],
    )


def test_bad_usage_is_refused_when_the_event_is_built() -> None:
    """UsageSet validates itself: an unknown license never reaches the machine."""
    with pytest.raises(BadRequest) as exc:
        UsageSet(now=T0, values={"Quantum Agent": 1})
    assert exc.value.code == "unknown_license"
    m = machine()
    play(m, [(UsageSet(now=T0, values={"Premium Agent": 3}), [("persist", "usage_set"), ("answer", "list")])])
    assert m.usage.current == {"Premium Agent": 3}


def test_the_shell_cannot_answer_a_request_not_in_flight() -> None:
    """An outcome of no request in flight, or a new event while one is, is a ProtocolViolation."""
    m = machine()
    with pytest.raises(ProtocolViolation):
        m.handle(ReplyReceived(now=T0, request_id=1, reply=registered()))
    commands = m.handle(RegisterRequested(now=T0, token=TOKEN))
    send = commands[-1]
    assert isinstance(send, Send) and m.busy
    with pytest.raises(ProtocolViolation):
        m.handle(Woke(now=T0))
    with pytest.raises(ProtocolViolation):
        m.handle(RequestFailed(now=T0, request_id=send.request_id + 1, error=DOWN))
    with pytest.raises(ProtocolViolation):  # a reply of the wrong kind
        m.handle(ReplyReceived(now=T0, request_id=send.request_id, reply=authorization()))
    assert not m.busy and m.state == fresh()


def test_abort_returns_to_what_the_store_holds() -> None:
    """The shell could not run a command: the machine drops the work and takes the committed state."""
    m = machine()
    m.handle(RegisterRequested(now=T0, token=TOKEN))
    m.handle(ReplyReceived(now=T0, request_id=1, reply=registered()))
    assert m.busy and m.state.piid == "PI-1"
    m.abort(state=fresh(), usage_state=UsageState(), key=None)
    assert not m.busy and m.state == fresh() and m.key is None
    assert msgspec.json.encode(m.status(T0)) == msgspec.json.encode(machine().status(T0))


def test_a_profile_step_on_a_boundary_counts_in_the_interval_it_opens() -> None:
    """Issue 16.6: a step at 09:15:00 (80 -> 130) is not the peak of 09:00-09:15; a step down at
    09:30:00 (130 -> 80) is not the peak of 09:30-09:45."""
    profile = Profile.build(
        [
            ProfileStep(after="0m", set={"Premium Agent": 80}),
            ProfileStep(after="15m", set={"Premium Agent": 130}),
            ProfileStep(after="30m", set={"Premium Agent": 80}),
        ]
    )
    m = InstanceMachine(
        state=authorized_state(),
        usage_state=UsageState(),
        key=OLD_KEY,
        policy=P,
        profile=profile,
        entropy=FixedEntropy(),
    )
    m.handle(Woke(now=T0))
    peaks = []
    for k in (1, 2, 3):
        at = T0 + k * 15 * MIN
        sent = of(m.handle(Woke(now=at)), Send)
        assert len(sent) == 1
        request = sent[0].request  # type: ignore[union-attr]
        assert isinstance(request, ReportUsage)
        peaks += [u.peak for r in request.reports for u in r.usage]
        m.handle(
            ReplyReceived(
                now=at, request_id=sent[0].request_id, reply=accepted(*(r.report_id for r in request.reports))
            )
        )  # type: ignore[union-attr]
    assert peaks == [80, 130, 80]
