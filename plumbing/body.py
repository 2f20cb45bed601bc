"""Reading request bodies with a size limit and a content-type check."""

from __future__ import annotations

from aiohttp import web

from shared.errors import PayloadTooLarge, UnsupportedMediaType


async def read_body(request: web.Request, *, limit: int) -> bytes:
    """The body, refused with 413 when larger than ``limit`` bytes (declared or actual)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(
            f"the request body has {declared} bytes; this endpoint accepts at most {limit}",
            fix="send a smaller request",
        )
    data = await request.content.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"the request body exceeds {limit} bytes", fix="send a smaller request")
    return data


def require_type(request: web.Request, *allowed: str) -> str:
    """The request's media type if it is one of ``allowed``; else 415 naming them."""
    ctype = request.content_type
    if ctype not in allowed:
        raise UnsupportedMediaType(
            f"Content-Type {ctype or '(none)'} is not accepted here",
            fix=f"send Content-Type: {' or '.join(allowed)}",
        )
    return ctype
