"""Reading request bodies: a size limit, a content-type check, and the one JSON decoder."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web

from shared import wire
from shared.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType

T = TypeVar("T")
JSON = "application/json"
#: What ``curl -d`` sends when told nothing else: the lab plane reads it as JSON all the same.
FORM = "application/x-www-form-urlencoded"

#: The body once read (a middleware may read it first, e.g. to match faults by signer).
BODY = web.RequestKey("body", bytes)


async def read_body(request: web.Request, *, limit: int) -> bytes:
    """The body, refused with 413 when larger than ``limit`` bytes (declared or actual)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise PayloadTooLarge(
            f"the request body has {declared} bytes; this endpoint accepts at most {limit}",
            fix="send a smaller request",
        )
    if BODY in request:
        return request[BODY]
    chunks: list[bytes] = []
    size = 0
    while True:  # StreamReader.read(n) returns what is buffered: read until the end, or past the limit
        try:
            chunk = await request.content.read(limit + 1 - size)
        except web.RequestPayloadError as exc:  # a body that does not decode (Content-Encoding)
            raise BadRequest(
                f"the request body cannot be read: {exc}",
                code="body_unreadable",
                fix="send the body as its Content-Encoding says (or without one)",
            ) from None
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the request body exceeds {limit} bytes", fix="send a smaller request")
    data = b"".join(chunks)
    request[BODY] = data
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


async def decode_body(
    request: web.Request,
    type_: type[T],
    *,
    limit: int,
    types: tuple[str, ...] | None = (JSON,),
    empty: bytes | None = None,
    what: str = "request body",
    fix: str = "send one JSON object of the documented shape",
    malformed: str = "malformed_json",
    invalid: str = "invalid_body",
    strict: bool = True,
) -> T:
    """The request's body read (within ``limit`` bytes), its media type checked (``types``; None
    accepts any) and decoded into ``type_`` by ``shared.wire`` — the one decoder of every plane.
    An empty body reads as ``empty`` when given (e.g. ``b"{}"`` for all-optional fields), whatever
    its declared media type (a client that sends nothing often declares nothing); a body with no
    Content-Type at all reads as JSON where JSON is accepted. A declared type that is not accepted
    (``text/plain``) is refused 415.

    Raises:
        PayloadTooLarge, UnsupportedMediaType, BadRequest: each naming the problem and the fix.
    """
    raw = await read_body(request, limit=limit)
    if empty is not None and not raw.strip():
        raw = empty
    elif types is not None and not (JSON in types and "Content-Type" not in request.headers):
        require_type(request, *types)
    return wire.decode(raw, type_, what=what, fix=fix, malformed=malformed, invalid=invalid, strict=strict)
