"""The Smart Call Home XML envelope: round trips, and malicious or broken documents refused with
their own codes (entity expansion, XXE, external DTDs, oversized, malformed, wrong shape)."""

from __future__ import annotations

import pytest

from shared import callhome
from shared.callhome import Encoding
from shared.errors import BadRequest, PayloadTooLarge
from tests.payloads import BILLION_LAUGHS, EXTERNAL_DTD, PARAMETER_XXE, XXE


def test_round_trip_escapes_the_payload() -> None:
    """A JSON payload with XML-special characters survives encode and decode unchanged."""
    text = '{"type": "register", "note": "<b>&amp; \' \\" </b>"}'
    doc = callhome.encode("request", Encoding.JSON, text)
    assert doc.startswith(b"<?xml") and b'xmlns="urn:ssmlab:callhome:1"' in doc
    env = callhome.decode(doc, "request")
    assert (env.kind, env.encoding, env.payload) == ("request", Encoding.JSON, text)


PLAIN_DTD = b'<?xml version="1.0"?><!DOCTYPE r><r/>'


@pytest.mark.parametrize(
    ("doc", "code"),
    [
        (BILLION_LAUGHS, "xml_entity_expansion"),
        (XXE, "xml_external_entity"),
        (PARAMETER_XXE, "xml_external_entity"),
        (EXTERNAL_DTD, "xml_external_entity"),
        (PLAIN_DTD, "xml_dtd_forbidden"),
        (b"<CallHome", "xml_malformed"),
        (b"\xff\xfe\x00<", "xml_malformed"),
        (b"<a>&undefined;</a>", "xml_malformed"),
        (b"", "xml_malformed"),
    ],
)
def test_malicious_and_malformed_documents_are_refused(doc: bytes, code: str) -> None:
    """Each attack is refused before any entity is expanded or fetched, with its own code."""
    with pytest.raises(BadRequest) as exc:
        callhome.decode(doc, "request")
    assert exc.value.code == code
    assert exc.value.http_status == 400 and exc.value.fix
    assert "root:" not in exc.value.message  # nothing of /etc/passwd leaks into the message


def test_oversized_document_is_refused_before_parsing() -> None:
    """A document over the cap is xml_too_large (413), whatever it holds."""
    doc = callhome.encode("request", Encoding.JWS, "a" * callhome.MAX_DOCUMENT)
    with pytest.raises(PayloadTooLarge) as exc:
        callhome.decode(doc, "request")
    assert exc.value.code == "xml_too_large" and exc.value.http_status == 413


def _doc(inner: str, attrs: str = 'version="1" kind="request"', ns: str = callhome.NS) -> bytes:
    return f'<CallHome xmlns="{ns}" {attrs}>{inner}</CallHome>'.encode()


@pytest.mark.parametrize(
    "doc",
    [
        _doc('<Payload encoding="json">{}</Payload>', ns="urn:other"),
        _doc('<Payload encoding="json">{}</Payload>', attrs='version="2" kind="request"'),
        _doc('<Payload encoding="json">{}</Payload>', attrs='version="1" kind="reply"'),
        _doc(""),
        _doc('<Payload encoding="json">{}</Payload><Payload encoding="json">{}</Payload>'),
        _doc('<Payload encoding="xml">{}</Payload>'),
        _doc('<Payload encoding="jws">  </Payload>'),
        _doc('<Payload encoding="jws"><x/></Payload>'),
    ],
)
def test_wrong_envelope_shapes_are_invalid(doc: bytes) -> None:
    """Well-formed XML that is not a Call Home request envelope: xml_invalid_envelope."""
    with pytest.raises(BadRequest) as exc:
        callhome.decode(doc, "request")
    assert exc.value.code == "xml_invalid_envelope"
