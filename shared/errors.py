"""Errors people can act on: a stable ``code``, an HTTP status, a message and a fix.

The tree::

    SmartLicensingError            code, http_status, message, fix
    ├── BadRequest                 400  malformed or invalid input
    │   └── CsrInvalid             400  a CSR that does not verify
    ├── Unauthorized               401  unknown signer, bad signature, stale or replayed request
    ├── Forbidden                  403  refused by policy (export control, token not usable)
    │   └── TokenRefused           403  unknown, expired, revoked or used-up registration token
    ├── NotFound                   404  no such path, account, instance
    ├── Conflict                   409  already registered, action not allowed in this state
    ├── PayloadTooLarge            413
    ├── UnsupportedMediaType       415
    ├── Unavailable                503  the peer could not be reached (agent side)
    └── RemoteError                the SSM answered with an error (agent side; keeps its code)

Everything else raised is a builtin or a bug. Pure: no IO, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping


class SmartLicensingError(Exception):
    """Base of every error with a stable code that a person or a script can act on."""

    code: str = "error"
    http_status: int = 400

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        fix: str = "",
        detail: Mapping[str, str | int | float | bool | None] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.fix = fix
        self.detail = dict(detail or {})

    def to_dict(self) -> dict[str, object]:
        """The JSON error body: ``{"error": code, "status": ..., "message": ..., "fix": ...}``."""
        body: dict[str, object] = {
            "error": self.code,
            "status": self.http_status,
            "message": self.message,
        }
        if self.fix:
            body["fix"] = self.fix
        if self.detail:
            body["detail"] = self.detail
        return body

    def __str__(self) -> str:
        return f"{self.message} (fix: {self.fix})" if self.fix else self.message


class BadRequest(SmartLicensingError):
    code = "bad_request"
    http_status = 400


class CsrInvalid(BadRequest):
    code = "csr_invalid"


class Unauthorized(SmartLicensingError):
    code = "unauthorized"
    http_status = 401


class Forbidden(SmartLicensingError):
    code = "forbidden"
    http_status = 403


class TokenRefused(Forbidden):
    code = "token_refused"


class NotFound(SmartLicensingError):
    code = "not_found"
    http_status = 404


class Conflict(SmartLicensingError):
    code = "conflict"
    http_status = 409


class PayloadTooLarge(SmartLicensingError):
    code = "body_too_large"
    http_status = 413


class UnsupportedMediaType(SmartLicensingError):
    code = "unsupported_media_type"
    http_status = 415


class Unavailable(SmartLicensingError):
    code = "unavailable"
    http_status = 503


class RemoteError(SmartLicensingError):
    """An error the SSM answered; ``remote_status`` is the HTTP status it used."""

    code = "remote_error"
    http_status = 502

    def __init__(self, message: str, *, code: str, fix: str = "", remote_status: int = 0) -> None:
        super().__init__(message, code=code, fix=fix)
        self.remote_status = remote_status
        # A refusal (4xx) passes through as is; anything else is a bad gateway.
        if 400 <= remote_status < 500:
            self.http_status = remote_status


_BY_STATUS: dict[int, type[SmartLicensingError]] = {
    cls.http_status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        Unavailable,
    )
}


def error_for_status(status: int) -> type[SmartLicensingError]:
    """The error class that a given HTTP status maps to (for decoding error bodies)."""
    return _BY_STATUS.get(status, SmartLicensingError)
