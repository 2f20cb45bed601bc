"""The bounds every plane checks at its edge, declared once.

The msgspec Structs of request bodies, queries, device messages and sync files annotate their
fields with these types, so msgspec refuses what is out of bounds while decoding (with the path
of the field) and the OpenAPI documents show the same bounds:

- **integers** agree with the message codec and with SQLite (64-bit): a license count or
  quantity never exceeds ``COUNT_MAX`` on either side of a synchronization; nothing reaches the
  store past ``INT64_MAX``;
- **names** follow one grammar each (``Name`` for virtual accounts and Smart Accounts,
  ``Domain``, ``SnapshotName``), **free text** (``Text``: descriptions) has no control
  characters;
- **domain time** stays in a sane window (``EPOCH_MIN`` .. ``EPOCH_MAX``) and a duration is at
  most ``DURATION_MAX``: a clock cannot be moved to 9999 or by 99999999999y.

``check`` applies a declared type to a value that does not come through a Struct (a command-line
argument, a path segment). Pure: no IO, no clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

import msgspec

from shared.errors import BadRequest

T = TypeVar("T")

# -- integers ------------------------------------------------------------------------------------

#: SQLite's INTEGER is a signed 64-bit value.
INT64_MAX = 2**63 - 1
#: A license count or quantity: in-use peaks, purchases, pools, entitlements. One constant for the
#: device codec, the sync files and the store, so a pool the cloud holds always fits a sync response.
COUNT_MAX = 10_000_000

Int64 = Annotated[int, msgspec.Meta(ge=-INT64_MAX - 1, le=INT64_MAX)]
Count = Annotated[int, msgspec.Meta(ge=0, le=COUNT_MAX)]
#: A quantity asked for in a batch item; its sign is judged per item (a transfer of 0 is refused
#: for that item only), its size here.
SignedCount = Annotated[int, msgspec.Meta(ge=-COUNT_MAX, le=COUNT_MAX)]
#: Licenses purchased at once.
Quantity = Annotated[int, msgspec.Meta(ge=1, le=COUNT_MAX)]
#: A page size (0: everything) and a page offset.
PageLimit = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
PageOffset = Annotated[int, msgspec.Meta(ge=0, le=1_000_000_000)]
#: Uses of a registration token.
Uses = Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
#: A synchronization's sequence number (grows by one each time).
SyncSequence = Annotated[int, msgspec.Meta(ge=1, le=INT64_MAX)]
#: Days of a registration token (the policy narrows it: 1..365 by default).
Days = Annotated[int, msgspec.Meta(ge=-100_000, le=100_000)]

# -- names and text ------------------------------------------------------------------------------

#: Virtual accounts and Smart Accounts: a letter or digit first, then letters, digits, spaces and
#: ``_ . , & ( ) + -``. No ``/``, no control characters, no leading dot: a name is always a
#: valid path segment and a single line.
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.,&()+-]*$"
NAME_MAX = 64
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_MAX, pattern=NAME_PATTERN)]
#: A Smart Account domain (DNS-like).
DOMAIN_PATTERN = r"^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$"
Domain = Annotated[str, msgspec.Meta(min_length=1, max_length=253, pattern=DOMAIN_PATTERN)]
#: Free text people type (token and virtual-account descriptions): one line, no control characters.
TEXT_PATTERN = r"^[^\x00-\x1f\x7f]*$"
TEXT_MAX = 512
Text = Annotated[str, msgspec.Meta(max_length=TEXT_MAX, pattern=TEXT_PATTERN)]
#: A lab snapshot: a folder name.
SNAPSHOT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
SnapshotName = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=SNAPSHOT_PATTERN)]

NAME_FIX = f"use 1 to {NAME_MAX} characters: a letter or digit first, then letters, digits, spaces and _ . , & ( ) + -"
TEXT_FIX = f"use at most {TEXT_MAX} characters on one line, without control characters"
SNAPSHOT_FIX = "use 1 to 64 characters: a letter or digit first, then letters, digits, '.', '_' and '-'"

# -- domain time ---------------------------------------------------------------------------------

#: The window domain time lives in: a clock is never set or advanced outside it, and every
#: deadline computed from it (a year-long certificate, a 90-day grace) still fits the codec.
EPOCH_MIN = int(datetime(2000, 1, 1, tzinfo=UTC).timestamp())
EPOCH_MAX = int(datetime(2200, 1, 1, tzinfo=UTC).timestamp())
#: The latest instant a device message may carry (deadlines beyond the clock's window).
WIRE_EPOCH_MAX = 32503680000  # 3000-01-01
#: The longest duration anyone may ask for (an advance, a policy period, a fault's ttl).
DURATION_MAX = timedelta(days=100 * 365)

Epoch = Annotated[int, msgspec.Meta(ge=0, le=WIRE_EPOCH_MAX)]
WINDOW_FIX = "use an instant from 2000-01-01 to 2199-12-31 (UTC)"


def in_window(when: datetime) -> bool:
    """Whether ``when`` lies in the domain-time window."""
    return EPOCH_MIN <= when.timestamp() < EPOCH_MAX


def check_instant(when: datetime, what: str = "the instant") -> datetime:
    """``when`` if it lies in the domain-time window.

    Raises:
        BadRequest: ``instant_out_of_range``.
    """
    if not in_window(when):
        raise BadRequest(f"{what} {when.isoformat()} is out of range", code="instant_out_of_range", fix=WINDOW_FIX)
    return when


def check(value: Any, type_: Any, *, what: str, code: str, fix: str) -> Any:
    """``value`` checked against a declared type (e.g. ``Name``) outside a Struct.

    Raises:
        BadRequest: ``code`` naming ``what`` and the value.
    """
    try:
        return msgspec.convert(value, type_)
    except msgspec.ValidationError:
        shown = value if not isinstance(value, str) or len(value) <= 80 else value[:80] + "..."
        raise BadRequest(f"{what} {shown!r} is not allowed", code=code, fix=fix) from None


def check_name(value: str, what: str = "the name") -> str:
    """A virtual-account or account name by the grammar of ``Name``.

    Raises:
        BadRequest: ``invalid_name``.
    """
    return str(check(value, Name, what=what, code="invalid_name", fix=NAME_FIX))


def check_text(value: str, what: str = "the description") -> str:
    """Free text by ``Text``.

    Raises:
        BadRequest: ``invalid_text``.
    """
    return str(check(value, Text, what=what, code="invalid_text", fix=TEXT_FIX))


def check_count(value: int, what: str, *, minimum: int = 0) -> int:
    """A license count or quantity in ``minimum`` .. ``COUNT_MAX``.

    Raises:
        BadRequest: ``quantity_out_of_range``.
    """
    if not minimum <= value <= COUNT_MAX:
        raise BadRequest(
            f"{what} {value} is out of range",
            code="quantity_out_of_range",
            fix=f"use a whole number from {minimum} to {COUNT_MAX}",
        )
    return value
