"""Each admin operation's refusals in the shape and with the statuses Cisco's OpenAPI document
gives for that operation ("Software APIs" 1.0.2, research/cisco-software-apis-1.0.2.json).

Cisco's document names one error schema per operation and status (``ErrorResponse {status,
statusMessage}`` for most licensing and accounts operations, ``ErrorResponseV1`` for the user
search, ``V2`` for device search, ``V3``/``V5`` for get-summary, ...) and lists the statuses each
operation answers (400, 401, 403, 404, 422, 500 for nearly all; the default virtual account has
406 and 422 but no 400). A refusal keeps its status when the operation lists it; otherwise it is
answered as 400 (or 422 when 400 is not listed): a state conflict (ssmlab's 409), a body over the
limit (413) or of the wrong type (415). 404 is documented without a body; it is answered in the
operation's 400 (else 422) shape.

Every refusal also carries ssmlab's stable ``error`` code and its ``fix``, and a human ``message``
(Cisco's schemas allow more properties). The legacy API, which Cisco's document does not cover,
answers Cisco's ``ErrorResponse`` envelope with any status (COVERAGE.md).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from plumbing.web.routes import Route
from shared.errors import SmartLicensingError


def _schema(*fields: str) -> dict[str, Any]:
    """An error schema: Cisco's fields (all required here) plus ssmlab's code, fix and message."""
    props: dict[str, Any] = {name: {"type": "string"} for name in fields}
    props |= {"error": {"type": "string", "minLength": 1}, "fix": {"type": "string", "minLength": 1}}
    props["message"] = {"type": "string", "minLength": 1}
    return {"type": "object", "properties": props, "required": sorted(props)}


@dataclass(frozen=True)
class Family:
    """One of Cisco's error schemas: its name, how a refusal is written in it, its OpenAPI schema."""

    name: str
    fields: Callable[[SmartLicensingError], dict[str, object]]
    schema: dict[str, Any]

    def body(self, err: SmartLicensingError) -> dict[str, object]:
        out = self.fields(err)
        out.setdefault("message", err.message)
        out["error"] = err.code
        out["fix"] = err.fix or "COVERAGE.md lists what the operation accepts"
        return out


ERROR_RESPONSE = Family(
    "ErrorResponse",
    lambda e: {"status": "ERROR", "statusMessage": e.message},
    _schema("status", "statusMessage"),
)
ERROR_V1 = Family(
    "ErrorResponseV1",
    lambda e: {"status": "FAILED", "messageCode": e.code, "message": e.message},
    _schema("status", "messageCode"),
)
ERROR_V2 = Family(
    "ErrorResponseV2",
    lambda e: {"status": "FAILED", "message_code": e.code, "message": e.message},
    _schema("status", "message_code"),
)
ERROR_V3 = Family(
    "ErrorResponseV3",
    lambda e: {"status": "FAILED", "localized_message": e.message, "message": e.message},
    _schema("status", "localized_message"),
)
ERROR_V4 = Family("ErrorResponseV4", lambda e: {"status": "FAILURE", "message": e.message}, _schema("status"))
ERROR_V5 = Family(
    "ErrorResponseV5",
    lambda e: {"status": "FAILED", "message": e.message, "localized_message": e.message, "message_code": e.code},
    _schema("status", "localized_message", "message_code"),
)
ERROR_COMMON = Family(
    "ErrorCommonResponse",
    lambda e: {"status": "FAILED", "message": e.message, "messageCode": e.code, "localizedMessage": e.message},
    _schema("status", "messageCode", "localizedMessage"),
)


@dataclass(frozen=True)
class Errors:
    """The refusals of one operation: the statuses it answers, each with its schema (``None``:
    any status, in Cisco's ``ErrorResponse`` envelope, as the legacy API)."""

    statuses: Mapping[int, Family] | None = None

    def status(self, wanted: int) -> int:
        if self.statuses is None or wanted in self.statuses:
            return wanted
        return 400 if 400 in self.statuses else 422

    def family(self, status: int) -> Family:
        if self.statuses is None:
            return ERROR_RESPONSE
        return self.statuses[status]

    def answer(self, err: SmartLicensingError) -> web.Response:
        status = self.status(err.http_status)
        return web.json_response(self.family(status).body(err), status=status)


def cisco(bad: Family = ERROR_RESPONSE, unprocessable: Family | None = None, *, no_400: bool = False) -> Errors:
    """An operation of Cisco's document: 400 (``bad``), 404 (in the 400 shape) and 422."""
    statuses = {422: unprocessable or bad}
    if not no_400:
        statuses[400] = bad
    statuses[404] = statuses.get(400, statuses[422])
    return Errors(dict(sorted(statuses.items())))


LEGACY = Errors()
#: Most licensing and accounts operations: ErrorResponse for 400 and 422.
SOFTWARE = cisco()
#: Plug & Play Connect's account listings: ErrorResponse for 400, ErrorCommonResponse for 422.
PNP = cisco(ERROR_RESPONSE, ERROR_COMMON)
#: GET accounts/v1/virtual-account/default: no 400, but 406 and 422 (ErrorResponse).
DEFAULT_VA = Errors({404: ERROR_RESPONSE, 406: ERROR_RESPONSE, 422: ERROR_RESPONSE})

_DECLARED: dict[tuple[str, str], Errors] = {}


def declare(route: Route, errors: Errors) -> Route:
    """Record the refusals of ``route`` (the API middleware and the OpenAPI document read them)."""
    _DECLARED[(route.method, route.path)] = errors
    return route


def of(route: Route | None) -> Errors:
    if route is None:
        return LEGACY
    return _DECLARED.get((route.method, route.path), LEGACY)
