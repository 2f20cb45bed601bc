"""One JSON decoder for every message and body of every plane, in both processes.

``decode(data, type_, ...)`` turns bytes into a typed value (a msgspec Struct, a mapping...) or
raises ``BadRequest`` naming the problem and the fix: malformed JSON (with msgspec's position),
a value of the wrong shape (with the path of the field, e.g. ``$.licenses[0].quantity``), and
nesting deeper than any message needs (msgspec stops with a RecursionError near a thousand
levels: answered 400, never a 500). Decoders are built once per (type, strictness).

Pure: no IO, no clock.
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar, cast

import msgspec

from shared.errors import BadRequest

T = TypeVar("T")


@functools.lru_cache(maxsize=256)
def _decoder(type_: Any, strict: bool) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(type_, strict=strict)


def decode(
    data: bytes,
    type_: type[T],
    *,
    what: str = "request body",
    fix: str = "send one JSON object of the documented shape",
    malformed: str = "malformed_json",
    invalid: str = "invalid_body",
    strict: bool = True,
) -> T:
    """``data`` decoded as ``type_``.

    ``strict=False`` accepts what lenient clients send (``"365"`` for 365). ``malformed`` and
    ``invalid`` are the codes of the plane (a script may compare them).

    Raises:
        BadRequest: ``malformed`` (not JSON), ``invalid`` (not of the shape), ``json_too_deep``.
    """
    try:
        return cast(T, _decoder(cast(Any, type_), strict).decode(data))
    except msgspec.ValidationError as exc:
        raise BadRequest(f"invalid {what}: {exc}", code=invalid, fix=fix) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"malformed JSON in the {what}: {exc}", code=malformed, fix=fix) from None
    except RecursionError:
        raise BadRequest(
            f"the {what} nests JSON arrays or objects too deeply",
            code="json_too_deep",
            fix="send a flat JSON object of the documented shape (no message nests more than a few levels)",
        ) from None
