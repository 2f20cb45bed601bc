"""Errors people can act on: the JSON body, statuses, and the remote error mapping."""

from __future__ import annotations

import pytest

from shared import errors
from shared.errors import (
    BadRequest,
    Conflict,
    CsrInvalid,
    RemoteError,
    SmartLicensingError,
    TokenRefused,
    error_for_status,
)


def test_to_dict_shape() -> None:
    """to_dict gives exactly error (the code), status, message and fix."""
    err = Conflict("already registered", code="already_registered", fix="reregister instead")
    assert err.to_dict() == {
        "error": "already_registered",
        "status": 409,
        "message": "already registered",
        "fix": "reregister instead",
    }


def test_to_dict_omits_an_empty_fix_and_adds_detail() -> None:
    """Without a fix the key is absent; a detail mapping is included when given."""
    assert BadRequest("nope").to_dict() == {"error": "bad_request", "status": 400, "message": "nope"}
    body = BadRequest("nope", detail={"field": "piid"}).to_dict()
    assert body["detail"] == {"field": "piid"}
    assert "fix" not in body


@pytest.mark.parametrize(
    ("cls", "code", "status"),
    [
        (errors.BadRequest, "bad_request", 400),
        (errors.CsrInvalid, "csr_invalid", 400),
        (errors.Unauthorized, "unauthorized", 401),
        (errors.Forbidden, "forbidden", 403),
        (errors.TokenRefused, "token_refused", 403),
        (errors.NotFound, "not_found", 404),
        (errors.Conflict, "conflict", 409),
        (errors.PayloadTooLarge, "body_too_large", 413),
        (errors.UnsupportedMediaType, "unsupported_media_type", 415),
        (errors.Unavailable, "unavailable", 503),
    ],
)
def test_default_codes_and_statuses(cls: type[SmartLicensingError], code: str, status: int) -> None:
    """Each error class has its default code and HTTP status; an explicit code overrides only the code."""
    assert (cls("m").code, cls("m").http_status) == (code, status)
    custom = cls("m", code="custom")
    assert (custom.code, custom.http_status, cls.code) == ("custom", status, code)


@pytest.mark.parametrize(
    ("remote_status", "status"),
    [(400, 400), (401, 401), (403, 403), (404, 404), (409, 409), (499, 499), (500, 502), (503, 502), (0, 502)],
)
def test_remote_error_status(remote_status: int, status: int) -> None:
    """A remote refusal (4xx) keeps its status; anything else becomes 502 Bad Gateway."""
    err = RemoteError("the SSM said no", code="token_expired", remote_status=remote_status)
    assert err.http_status == status
    assert err.to_dict()["status"] == status
    assert (err.code, err.remote_status) == ("token_expired", remote_status)
    assert RemoteError.http_status == 502


def test_str_includes_the_fix() -> None:
    """str() of an error reads as the message followed by the fix, or the bare message."""
    assert str(TokenRefused("expired", fix="create a new token")) == "expired (fix: create a new token)"
    assert str(CsrInvalid("bad csr")) == "bad csr"


def test_subclasses_are_caught_by_their_parents() -> None:
    """CsrInvalid is a BadRequest and TokenRefused a Forbidden, so handlers of the parent see them."""
    assert issubclass(CsrInvalid, BadRequest)
    assert issubclass(TokenRefused, errors.Forbidden)
    assert issubclass(RemoteError, SmartLicensingError)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequest),
        (401, errors.Unauthorized),
        (403, errors.Forbidden),
        (404, errors.NotFound),
        (409, errors.Conflict),
        (413, errors.PayloadTooLarge),
        (415, errors.UnsupportedMediaType),
        (503, errors.Unavailable),
        (500, SmartLicensingError),
        (418, SmartLicensingError),
    ],
)
def test_error_for_status(status: int, cls: type[SmartLicensingError]) -> None:
    """An HTTP status maps back to its error class; unknown statuses map to the base class."""
    assert error_for_status(status) is cls
