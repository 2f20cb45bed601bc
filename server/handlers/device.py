"""The device plane: ``POST /licservice/license`` (Smart Transport, cloud).

``application/json`` carries a register request; ``application/jose`` a signed request.
Successful replies are ``application/jose``; errors are JSON.
"""

from __future__ import annotations

from aiohttp import web

from plumbing.body import read_body, require_type
from server import keys
from shared import envelope
from shared.errors import BadRequest
from shared.messages import Register, decode_request

JSON = "application/json"


def _reply(jws: str) -> web.Response:
    return web.Response(text=jws, content_type=envelope.CONTENT_TYPE)


async def smart_transport(request: web.Request) -> web.Response:
    registry = request.app[keys.REGISTRY]
    settings = request.app[keys.SETTINGS]
    ctype = require_type(request, JSON, envelope.CONTENT_TYPE)
    body = await read_body(request, limit=settings.max_device_body)
    if ctype == JSON:
        msg = decode_request(body)
        if not isinstance(msg, Register):
            raise BadRequest(
                f"a {msg.__class__.__name__} request must be signed",
                code="signature_required",
                fix=f"send it as a compact JWS with Content-Type: {envelope.CONTENT_TYPE}",
            )
        registered = await registry.register(msg)
        request[keys.PIID] = registered.piid
        return _reply(registry.sign(registered))
    try:
        text = body.decode("ascii").strip()
    except UnicodeDecodeError:
        raise BadRequest(
            "a compact JWS is ASCII text", code="malformed_jws", fix="send the JWS as its compact serialization"
        ) from None
    reply, want_chain = await registry.handle_signed(text)
    return _reply(registry.sign(reply, include_chain=want_chain))
