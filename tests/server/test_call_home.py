"""Smart Call Home on the SSM: the XML envelope on the cloud path and the On-Prem path registers
a product instance like Smart Transport does, and malicious or wrong XML is refused with its own
code, never a 500, and changes nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared import callhome, envelope
from shared.callhome import Encoding
from shared.messages import Registered, decode_reply
from shared.transportsettings import CH_CLOUD_PATH
from tests.conftest import RunningSSM
from tests.payloads import BILLION_LAUGHS, EXTERNAL_DTD, XXE


async def test_register_over_call_home_answers_an_xml_envelope(ssm: RunningSSM, pki_dir: Path) -> None:
    """A register request inside a Call Home envelope gets a Call Home reply whose JWS payload is
    the same signed Registered message Smart Transport returns. (The On-Prem path
    /Transportgateway/services/DeviceRequestHandler is tested on an On-Prem in test_onprem.)"""
    path = CH_CLOUD_PATH
    doc = callhome.encode("request", Encoding.JSON, ssm.register_body(await ssm.token()).decode())
    status, text = await ssm.post(doc, ctype="application/xml", path=path)
    assert status == 200, text
    assert isinstance(text, str)
    env = callhome.decode(text.encode(), "reply")
    assert env.encoding is Encoding.JWS
    chain = envelope.reply_chain(env.payload)
    reply = decode_reply(envelope.verify(env.payload, chain[0].public_key()))  # type: ignore[arg-type]
    assert isinstance(reply, Registered) and reply.virtual_account == "DEFAULT"
    assert [i.piid for i in await ssm.store.read(lambda u: u.instances.page())] == [reply.piid]


@pytest.mark.parametrize(
    ("body", "ctype", "status", "code"),
    [
        (BILLION_LAUGHS, "application/xml", 400, "xml_entity_expansion"),
        (XXE, "application/xml", 400, "xml_external_entity"),
        (EXTERNAL_DTD, "text/xml", 400, "xml_external_entity"),
        (b"<CallHome", "application/xml", 400, "xml_malformed"),
        (b"<Other/>", "application/xml", 400, "xml_invalid_envelope"),
        (callhome.encode("request", Encoding.JSON, '{"type": "authorize"}'), "application/xml", 400, "invalid_message"),
        (callhome.encode("request", Encoding.JWS, "not.a.jws"), "application/xml", 400, "malformed_jws"),
        (b"<a>" + b"x" * (70 * 1024) + b"</a>", "application/xml", 413, "body_too_large"),
        (b"{}", "application/json", 415, "unsupported_media_type"),
    ],
)
async def test_bad_call_home_bodies_are_refused_and_change_nothing(
    ssm: RunningSSM, pki_dir: Path, body: bytes, ctype: str, status: int, code: str
) -> None:
    """Each bad body gets its JSON error code and status; the store is as before."""
    before = ssm.snapshot()
    got, err = await ssm.post(body, ctype=ctype, path=CH_CLOUD_PATH)
    assert (got, err["error"] if isinstance(err, dict) else err) == (status, code)
    assert ssm.snapshot() == before
