"""The device plane: Smart Transport (JSON / JWS) and Smart Call Home (the same inside XML).

- ``POST /licservice/license`` (Smart Transport, cloud): ``application/json`` carries a register
  request, ``application/jose`` a signed request; replies are ``application/jose``.
- ``POST /its/service/oddce/services/DDCEService`` (Smart Call Home, cloud) and
  ``POST /Transportgateway/services/DeviceRequestHandler`` (Smart Call Home, On-Prem path):
  ``application/xml`` Call Home envelopes (``shared.callhome``) with a ``json`` register payload
  or a ``jws`` signed payload; replies are envelopes of the signed reply.

Errors are JSON on every path.
"""

from __future__ import annotations

from aiohttp import web

from plumbing.web.body import read_body, require_type
from plumbing.web.routes import Plane, Route
from server import keys, mtls
from shared import callhome, envelope
from shared.errors import BadRequest
from shared.messages import Register, decode_request
from shared.transportsettings import CH_CLOUD_PATH, CH_ONPREM_PATH, ST_CLOUD_PATH, ST_ONPREM_PATH

JSON = "application/json"

#: The device endpoints of each mode: (Smart Transport, Smart Call Home). Each mode answers 404
#: on the other's paths, so a wrong URL is a real drill.
PATHS = {"cloud": (ST_CLOUD_PATH, CH_CLOUD_PATH), "onprem": (ST_ONPREM_PATH, CH_ONPREM_PATH)}


async def _dispatch(request: web.Request, *, signed: bool, payload: bytes) -> str:
    """Handle one device message; return the signed reply (a compact JWS)."""
    registry = request.app[keys.REGISTRY]
    if not signed:
        msg = decode_request(payload)
        if not isinstance(msg, Register):
            raise BadRequest(
                f"a {msg.__class__.__name__} request must be signed",
                code="signature_required",
                fix="send it as a compact JWS (Smart Transport: Content-Type application/jose; "
                "Call Home: Payload encoding jws)",
            )
        registered = await registry.register(msg)
        request[keys.PIID] = registered.piid
        return registry.sign(registered)
    try:
        text = payload.decode("ascii").strip()
    except UnicodeDecodeError:
        raise BadRequest(
            "a compact JWS is ASCII text", code="malformed_jws", fix="send the JWS as its compact serialization"
        ) from None
    reply, want_chain = await registry.handle_signed(text, presented=mtls.peer_certificate(request))
    return registry.sign(reply, include_chain=want_chain)


async def smart_transport(request: web.Request) -> web.Response:
    """Smart Transport: a register request (JSON) or a signed request (JWS)."""
    ctype = require_type(request, JSON, envelope.CONTENT_TYPE)
    body = await read_body(request, limit=request.app[keys.SETTINGS].max_device_body)
    jws = await _dispatch(request, signed=ctype != JSON, payload=body)
    return web.Response(text=jws, content_type=envelope.CONTENT_TYPE)


async def call_home(request: web.Request) -> web.Response:
    """Smart Call Home: the same messages inside an XML envelope."""
    require_type(request, *callhome.ACCEPTED_TYPES)
    body = await read_body(request, limit=request.app[keys.SETTINGS].max_device_body)
    env = callhome.decode(body, "request")
    jws = await _dispatch(request, signed=env.encoding is callhome.Encoding.JWS, payload=env.payload.encode())
    return web.Response(body=callhome.encode("reply", callhome.Encoding.JWS, jws), content_type=callhome.CONTENT_TYPE)


def routes(mode: str) -> list[Route]:
    """The device plane's routes of an SSM in ``mode`` (cloud or onprem)."""
    st_path, ch_path = PATHS[mode]
    return [
        Route("POST", st_path, smart_transport, Plane.DEVICE),
        Route("POST", ch_path, call_home, Plane.DEVICE),
    ]
