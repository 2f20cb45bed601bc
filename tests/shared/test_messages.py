"""Device-plane messages: one strict codec. Every message type round-trips; malformed or invalid
input is refused with a code and the path of the offending field."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from shared import messages as m
from shared.errors import BadRequest
from shared.states import EntitlementStatus, ExportControl, LicenseType, UsageMode

PEM = "-----BEGIN CERTIFICATE-----\n" + "A" * 64 + "\n-----END CERTIFICATE-----\n"
NONCE = "nonce-abc_123"
TOKEN = "T" * 40
IDENTITY = m.Identity(
    instance_name="ucce-1",
    product="Unified CCE",
    udi_pid="UCCE",
    serial_number="SN-1",
    hostname="ucce-1.lab",
    deployment_type="Unified CCE 2000 Agents",
    license_type=LicenseType.FLEX,
    usage_mode=UsageMode.PRODUCTION,
    software_version="12.6",
)
USAGE = m.Usage(tag="regid.tag", peak=7, name="Premium Agent")
REPORT = m.UsageReport(report_id="r-2026-01-01T00:15", interval_start=1_000, interval_end=1_900, usage=[USAGE])
GRANT = m.EntitlementGrant(tag="regid.tag", name="Premium Agent", status=EntitlementStatus.IN_COMPLIANCE, requested=3)

SIGNED_REQUESTS: list[msgspec.Struct] = [
    m.Authorize(sent_at=100, nonce=NONCE, piid="p-1", entitlements=[m.EntitlementRequest(tag="regid.tag", count=3)]),
    m.RenewRegistration(sent_at=100, nonce=NONCE, piid="p-1", csr=PEM),
    m.ReportUsage(sent_at=100, nonce=NONCE, piid="p-1", reports=[REPORT]),
    m.Deregister(sent_at=100, nonce=NONCE, piid="p-1"),
    m.SyncRequest(
        sent_at=100,
        nonce=NONCE,
        piid="onprem-1",
        sequence=3,
        account_domain="lab.example",
        instances=[
            m.SatelliteInstance(
                piid="p-1",
                name="ucce-1",
                product="Unified CCE",
                udi_pid="UCCE",
                serial_number="SN-1",
                virtual_account="DEFAULT",
                status="Authorized",
                last_contact_at=90,
            )
        ],
        usage=[USAGE],
    ),
]
REQUESTS: list[msgspec.Struct] = [
    m.Register(sent_at=100, nonce=NONCE, token=TOKEN, identity=IDENTITY, csr=PEM, force=True),
    *SIGNED_REQUESTS,
]
REPLIES: list[msgspec.Struct] = [
    m.Registered(
        in_reply_to=NONCE,
        issued_at=100,
        piid="p-1",
        id_cert=PEM,
        chain=[PEM, PEM],
        smart_account="Lab Account",
        smart_account_domain="lab.example",
        virtual_account="DEFAULT",
        export_controlled=ExportControl.NOT_ALLOWED,
        registered_at=100,
        cert_expires_at=100 + 365 * 86400,
    ),
    m.Authorization(
        in_reply_to=NONCE,
        issued_at=100,
        authorized_at=100,
        expires_at=100 + 90 * 86400,
        entitlements=[GRANT],
        out_of_compliance_since=50,
        compliance_reason="over by 3",
    ),
    m.RegistrationRenewed(in_reply_to=NONCE, issued_at=100, id_cert=PEM, chain=[PEM], cert_expires_at=200),
    m.UsageAccepted(in_reply_to=NONCE, issued_at=100, accepted=["r1"], duplicates=["r0"], entitlements=[GRANT]),
    m.Deregistered(in_reply_to=NONCE, issued_at=100, released=["regid.tag"]),
    m.SyncResponse(
        in_reply_to=NONCE,
        issued_at=100,
        piid="onprem-1",
        sequence=3,
        account_domain="lab.example",
        virtual_account="DEFAULT",
        deadline=100 + 90 * 86400,
        entitlements=[
            m.Entitlement(
                tag="regid.tag",
                name="Premium Agent",
                license_type=LicenseType.FLEX,
                usage_mode=UsageMode.PRODUCTION,
                purchased=10,
                in_use=4,
            )
        ],
    ),
]


def _id(msg: msgspec.Struct) -> str:
    return type(msg).__name__


@pytest.mark.parametrize("msg", REQUESTS, ids=_id)
def test_requests_round_trip(msg: msgspec.Struct) -> None:
    """Every request decodes from its canonical JSON to an equal message of the same type."""
    data = m.encode(msg)
    assert json.loads(data)["type"] == msg.__struct_config__.tag
    decoded = m.decode_request(data)
    assert type(decoded) is type(msg) and decoded == msg


@pytest.mark.parametrize("msg", SIGNED_REQUESTS, ids=_id)
def test_signed_requests_round_trip(msg: msgspec.Struct) -> None:
    """Every signed request type decodes as a signed payload too."""
    assert m.decode_signed_request(m.encode(msg)) == msg


def test_register_is_not_a_signed_request() -> None:
    """A register payload is refused where a signed request is expected."""
    with pytest.raises(BadRequest) as caught:
        m.decode_signed_request(m.encode(REQUESTS[0]))
    assert caught.value.code == "invalid_message"
    assert "$.type" in caught.value.message


@pytest.mark.parametrize("msg", REPLIES, ids=_id)
def test_replies_round_trip(msg: msgspec.Struct) -> None:
    """Every reply decodes from its canonical JSON to an equal message of the same type."""
    decoded = m.decode_reply(m.encode(msg))
    assert type(decoded) is type(msg) and decoded == msg


def test_requests_and_replies_do_not_mix() -> None:
    """A reply is not a request and a request is not a reply."""
    with pytest.raises(BadRequest):
        m.decode_request(m.encode(REPLIES[0]))
    with pytest.raises(BadRequest):
        m.decode_reply(m.encode(REQUESTS[1]))


@pytest.mark.parametrize("data", [b"{", b"not json", b"\xff\xfe", b"", b'{"type": "authorize",}'])
def test_malformed_json_is_refused(data: bytes) -> None:
    """Bytes that are not JSON are refused as malformed_json (400)."""
    with pytest.raises(BadRequest) as caught:
        m.decode_request(data)
    assert (caught.value.code, caught.value.http_status) == ("malformed_json", 400)


def _authorize(**changes: Any) -> bytes:
    raw: dict[str, Any] = msgspec.to_builtins(SIGNED_REQUESTS[0])
    for key, value in changes.items():
        if value is ...:
            del raw[key]
        else:
            raw[key] = value
    return json.dumps(raw).encode()


def _register(**identity_changes: Any) -> bytes:
    raw: dict[str, Any] = msgspec.to_builtins(REQUESTS[0])
    raw["identity"].update(identity_changes)
    return json.dumps(raw).encode()


@pytest.mark.parametrize(
    ("data", "path"),
    [
        pytest.param(_authorize(extra=1), "unknown field `extra`", id="unknown-field"),
        pytest.param(_register(shoe_size=44), "unknown field `shoe_size` - at `$.identity`", id="unknown-nested"),
        pytest.param(
            _authorize(entitlements=[{"tag": "t", "count": 1, "x": 2}]), "at `$.entitlements[0]`", id="unknown-deep"
        ),
        pytest.param(_authorize(sent_at="now"), "at `$.sent_at`", id="wrong-type"),
        pytest.param(_authorize(entitlements={"tag": "t"}), "at `$.entitlements`", id="object-for-list"),
        pytest.param(_register(license_type="Lifetime"), "at `$.identity.license_type`", id="bad-enum"),
        pytest.param(_authorize(piid=...), "missing required field `piid`", id="missing-field"),
        pytest.param(_authorize(type=...), "missing required field `type`", id="missing-tag"),
        pytest.param(_authorize(type="bogus"), "at `$.type`", id="unknown-type"),
        pytest.param(
            _authorize(entitlements=[{"tag": "t", "count": -1}]), "at `$.entitlements[0].count`", id="negative-count"
        ),
        pytest.param(_authorize(sent_at=-1), "at `$.sent_at`", id="negative-time"),
        pytest.param(
            _authorize(entitlements=[{"tag": "t" * 1025, "count": 1}]), "at `$.entitlements[0].tag`", id="long-text"
        ),
        pytest.param(_register(hostname="h" * 129), "at `$.identity.hostname`", id="long-name"),
        pytest.param(_authorize(piid="x" * 65), "at `$.piid`", id="long-piid"),
        pytest.param(_authorize(nonce="short"), "at `$.nonce`", id="short-nonce"),
        pytest.param(_authorize(piid="p 1; drop"), "at `$.piid`", id="piid-pattern"),
        pytest.param(b"[]", "Expected `object`", id="array"),
    ],
)
def test_invalid_messages_are_refused_naming_the_field(data: bytes, path: str) -> None:
    """Unknown fields, wrong types, missing fields, unknown tags and out-of-range values are refused as
    invalid_message, and the message names the offending field path."""
    with pytest.raises(BadRequest) as caught:
        m.decode_request(data)
    assert caught.value.code == "invalid_message"
    assert path in caught.value.message
    assert caught.value.fix


def test_report_usage_needs_at_least_one_report() -> None:
    """A usage report request with no interval is refused at its reports field."""
    raw = msgspec.to_builtins(SIGNED_REQUESTS[2])
    raw["reports"] = []
    with pytest.raises(BadRequest, match=r"\$\.reports"):
        m.decode_request(json.dumps(raw).encode())
