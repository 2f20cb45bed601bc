"""The lab's HTTP client names the error whatever the shape of the answer."""

from __future__ import annotations

import json

import pytest

from plumbing.clients.lab import _error


@pytest.mark.parametrize(
    ("body", "message", "code"),
    [
        ({"error": "x_code", "message": "ssmlab says", "fix": "do y"}, "ssmlab says", "x_code"),
        (
            {"status": "ERROR", "statusMessage": "Cisco's envelope says", "error": "insufficient_licenses"},
            "Cisco's envelope says",
            "insufficient_licenses",
        ),
        ({"error": "invalid_client", "error_description": "OAuth2 says"}, "OAuth2 says", "invalid_client"),
        ([1, 2], "HTTP 400", ""),
    ],
)
def test_error_message_from_every_shape(body: object, message: str, code: str) -> None:
    err = _error(400, json.dumps(body).encode())
    assert (err.message, err.code) == (message, code)
