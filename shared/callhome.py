"""The Smart Call Home envelope: the device plane's logical messages inside an XML document.

Smart Call Home (deprecated by Cisco, still offered) carries the same messages as Smart
Transport — a register request as JSON, every later request and every reply as the compact JWS
of ``shared.envelope`` — wrapped in XML::

    <?xml version="1.0" encoding="UTF-8"?>
    <CallHome xmlns="urn:ssmlab:callhome:1" version="1" kind="request">
      <Payload encoding="json">{"type": "register", ...}</Payload>
    </CallHome>

``kind`` is ``request`` or ``reply``; ``encoding`` is ``json`` (register only) or ``jws``.
Errors stay JSON, as on every plane.

The parser is hardened (defusedxml): no DTD, no entity declarations (entity expansion,
"billion laughs"), no external references (XXE), and a size cap, each refused with its own code:

    xml_too_large (413)  xml_malformed  xml_dtd_forbidden  xml_entity_expansion
    xml_external_entity  xml_invalid_envelope

Pure: no IO, no clock.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, cast

import defusedxml
import defusedxml.ElementTree as SafeET

from shared.errors import BadRequest, PayloadTooLarge

NS = "urn:ssmlab:callhome:1"
VERSION = "1"
CONTENT_TYPE = "application/xml"
#: Media types a Call Home endpoint accepts.
ACCEPTED_TYPES = (CONTENT_TYPE, "text/xml")
#: The largest document parsed (the SSM's device body limit).
MAX_DOCUMENT = 64 * 1024

Kind = Literal["request", "reply"]


class Encoding(StrEnum):
    JSON = "json"
    JWS = "jws"


@dataclass(frozen=True, slots=True)
class Envelope:
    kind: Kind
    encoding: Encoding
    payload: str


ET.register_namespace("", NS)  # serialize as the default namespace, not ns0:


def _tag(name: str) -> str:
    return f"{{{NS}}}{name}"


def encode(kind: Kind, encoding: Encoding, payload: str) -> bytes:
    """An XML Call Home document carrying ``payload``."""
    root = ET.Element(_tag("CallHome"), {"version": VERSION, "kind": kind})
    ET.SubElement(root, _tag("Payload"), {"encoding": str(encoding)}).text = payload
    return cast(bytes, ET.tostring(root, encoding="UTF-8", xml_declaration=True))


def _refused(code: str, message: str, fix: str) -> BadRequest:
    return BadRequest(message, code=code, fix=fix)


_NO_DTD_FIX = "send the Call Home envelope without a DOCTYPE; ssmlab never needs one"


def parse_document(data: bytes) -> ET.Element:
    """Parse untrusted XML: size capped, no DTD, no entities, no external references.

    Raises:
        PayloadTooLarge: ``xml_too_large``.
        BadRequest: ``xml_malformed``, ``xml_dtd_forbidden``, ``xml_entity_expansion``,
            ``xml_external_entity``.
    """
    if len(data) > MAX_DOCUMENT:
        raise PayloadTooLarge(
            f"the XML document has {len(data)} bytes; at most {MAX_DOCUMENT} are parsed",
            code="xml_too_large",
            fix="send one Call Home message per request",
        )
    try:
        return cast(ET.Element, SafeET.fromstring(data, forbid_dtd=True))
    except defusedxml.DTDForbidden as exc:
        if exc.sysid or exc.pubid:
            raise _refused(
                "xml_external_entity",
                f"the document references an external DTD ({exc.sysid or exc.pubid}); external references are refused",
                _NO_DTD_FIX,
            ) from None
        dtd_error = exc
    except SafeET.ParseError as exc:
        raise _refused("xml_malformed", f"the body is not well-formed XML: {exc}", "send UTF-8 XML") from None
    # A DTD: say what it tried (entity bombs and XXE live in DTDs), parsing it with entities off.
    try:
        SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.EntitiesForbidden as exc:
        if exc.sysid or exc.pubid:
            raise _refused(
                "xml_external_entity",
                f"the document declares the external entity {exc.name!r} ({exc.sysid or exc.pubid}): "
                "XML external entities (XXE) are refused",
                _NO_DTD_FIX,
            ) from None
        raise _refused(
            "xml_entity_expansion",
            f"the document declares the entity {exc.name!r}: entity declarations (entity expansion, "
            "'billion laughs') are refused",
            _NO_DTD_FIX,
        ) from None
    except (defusedxml.ExternalReferenceForbidden, defusedxml.NotSupportedError) as exc:
        raise _refused("xml_external_entity", f"the document uses an external reference: {exc}", _NO_DTD_FIX) from None
    except SafeET.ParseError as exc:
        raise _refused("xml_malformed", f"the body is not well-formed XML: {exc}", "send UTF-8 XML") from None
    raise _refused("xml_dtd_forbidden", f"the document has a DOCTYPE ({dtd_error.name})", _NO_DTD_FIX)


def _invalid(message: str) -> BadRequest:
    return _refused(
        "xml_invalid_envelope",
        f"not a Call Home envelope: {message}",
        f'send <CallHome xmlns="{NS}" version="{VERSION}" kind="request"><Payload encoding="json|jws">'
        "...</Payload></CallHome>",
    )


def decode(data: bytes, kind: Kind) -> Envelope:
    """The payload of a Call Home document of ``kind``.

    Raises:
        BadRequest: the codes of ``parse_document``, and ``xml_invalid_envelope``.
    """
    root = parse_document(data)
    if root.tag != _tag("CallHome"):
        raise _invalid(f"the root element is {root.tag}, expected CallHome in namespace {NS}")
    if root.get("version") != VERSION or root.get("kind") != kind:
        raise _invalid(f"version={root.get('version')!r} kind={root.get('kind')!r}, expected {VERSION!r} and {kind!r}")
    children = list(root)
    if len(children) != 1 or children[0].tag != _tag("Payload"):
        raise _invalid("CallHome must hold exactly one Payload element")
    payload = children[0]
    if len(payload):
        raise _invalid("Payload holds text only")
    try:
        encoding = Encoding(payload.get("encoding", ""))
    except ValueError:
        raise _invalid(f"Payload encoding {payload.get('encoding')!r}; use json or jws") from None
    text = (payload.text or "").strip()
    if not text:
        raise _invalid("the Payload is empty")
    return Envelope(kind, encoding, text)
