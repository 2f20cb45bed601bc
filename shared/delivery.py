"""Outbound deliveries (notification e-mails, webhook events): their states, the retry rule and the
webhook signature. Pure: the caller passes domain time in; no IO, no clock.

A delivery is ``pending`` until its first attempt, ``failed`` after a failed attempt (with the
domain instant of the next one), ``delivered`` once the peer accepted it. It is never given up:
the backoff doubles from ``RETRY_INITIAL`` and stays at ``RETRY_MAX``, so a peer that comes back
gets everything it missed.

The signature is Stripe's scheme: header ``X-SSMlab-Signature: t=<unix>,v1=<hex>`` where ``hex``
is HMAC-SHA256 under the subscription's secret of ``"<t>.<body>"``; ``t`` is the SSM's domain time
of the attempt. A receiver recomputes it over the raw body and refuses a ``t`` too far from its
own now (a replayed request).
"""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum

from shared.errors import Unauthorized

SIGNATURE_HEADER = "X-SSMlab-Signature"
EVENT_HEADER = "X-SSMlab-Event"
DELIVERY_HEADER = "X-SSMlab-Delivery"
SCHEME = "v1"
#: How far (seconds) a signature's timestamp may be from the receiver's now (Stripe's default).
TOLERANCE = 300
#: Domain seconds before the first retry; each failure doubles it, up to ``RETRY_MAX``.
RETRY_INITIAL = 60
RETRY_MAX = 3600
#: The prefix of a webhook secret (shown once, when the subscription is created).
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    FAILED = "failed"
    DELIVERED = "delivered"


class Channel(StrEnum):
    MAIL = "mail"
    WEBHOOK = "webhook"


def retry_delay(attempts: int) -> int:
    """Domain seconds from a failed attempt (the ``attempts``-th, from 1) to the next one."""
    if attempts < 1:
        raise ValueError("attempts count from 1")
    return min(RETRY_MAX, RETRY_INITIAL << min(attempts - 1, 32))


def next_attempt(at: int, attempts: int) -> int:
    """The domain instant of the attempt after the ``attempts``-th, made at ``at``."""
    return at + retry_delay(attempts)


def _mac(secret: str, t: int, body: bytes) -> str:
    return hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(secret: str, t: int, body: bytes) -> str:
    """The signature header's value for ``body`` sent at domain time ``t``."""
    return f"t={t},{SCHEME}={_mac(secret, t, body)}"


def _parse(header: str) -> tuple[int, list[str]]:
    t: int | None = None
    macs: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            t = int(value)
        elif key == SCHEME and value:
            macs.append(value)
    if t is None or not macs:
        raise Unauthorized(
            f"malformed {SIGNATURE_HEADER} header",
            code="signature_malformed",
            fix=f"expected 't=<unix>,{SCHEME}=<hex>'",
        )
    return t, macs


def verify(header: str, body: bytes, secret: str, *, now: int, tolerance: int = TOLERANCE) -> int:
    """Check a signature header against the raw ``body``; the signed timestamp when it holds.

    Raises:
        Unauthorized: ``signature_malformed``, ``signature_mismatch`` (another secret or a changed
            body), ``signature_expired`` (timestamp further than ``tolerance`` from ``now``).
    """
    t, macs = _parse(header)
    expected = _mac(secret, t, body)
    if not any(hmac.compare_digest(expected, m) for m in macs):
        raise Unauthorized(
            "the signature does not match the body",
            code="signature_mismatch",
            fix="verify with the secret shown when the subscription was created, over the raw body",
        )
    if abs(now - t) > tolerance:
        raise Unauthorized(
            f"the signature's timestamp is {abs(now - t)} s from now (tolerance {tolerance} s)",
            code="signature_expired",
            fix="a replayed or delayed request: compare t against the SSM's domain time",
        )
    return t
