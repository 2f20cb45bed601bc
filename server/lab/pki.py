"""The lab CA's revocation service on the lab plane (issue 19), as a CA publishes it:

GET /_lab/pki/crl                 the issuing CA's CRL (DER, application/pkix-crl)
GET /_lab/pki/ocsp/{request}      an OCSP response (RFC 6960 appendix A.1: the DER request, base64
                                  and URL-encoded, in the path)
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import unquote

from aiohttp import web
from cryptography.hazmat.primitives import serialization

from server import keys, revocation
from shared.clock import real_now


async def crl(request: web.Request) -> web.Response:
    """The lab issuing CA's CRL, signed now (real time: revocation is transport time)."""
    signed = revocation.crl(request.app[keys.TLS].lab_pki, real_now())
    return web.Response(body=signed.public_bytes(serialization.Encoding.DER), content_type="application/pkix-crl")


async def ocsp(request: web.Request) -> web.Response:
    """The OCSP answer for the certificate the request names."""
    try:
        der = base64.b64decode(unquote(request.match_info["request"]), validate=True)
    except (binascii.Error, ValueError):
        der = b""
    answer = revocation.ocsp_answer(request.app[keys.TLS].lab_pki, der, real_now())
    return web.Response(body=answer, content_type="application/ocsp-response")
