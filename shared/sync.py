"""SSM On-Prem synchronization with the cloud SSM, sans-IO: the file format of Disconnected mode,
its checks, and the cloud's watch over On-Prem instances.

Connected and Disconnected modes carry the same signed messages (``SyncRequest`` up, signed by
the On-Prem's ID key; ``SyncResponse`` down, signed by the cloud): over the device plane, or in a
file a person carries. A file says its direction and sequence; the receiver refuses a file meant
for the other side, one older than the last it applied (a replay), one for another account, one
that does not parse (truncated), and one whose signature fails (tampered).

Cloud-side deadlines (CSSM's Smart Account alerts): "Synchronization Overdue" after
``sync_overdue``; "Upcoming Satellite Sync Deadline (30 Day)" ``sync_deadline_warning`` before the
deadline; at ``sync_deadline`` (90 days) the On-Prem instance is removed: "Satellite expired and
removed (90 Days of no sync)".

Pure: no IO, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec

from shared import wire
from shared.errors import BadRequest, Conflict
from shared.limits import SyncSequence
from shared.messages import Name, Piid
from shared.policy import Policy

FORMAT = "ssmlab-sync/1"
Direction = Literal["request", "response"]

SYNC_OVERDUE = "Synchronization Overdue"
SYNC_DEADLINE = "Upcoming Satellite Sync Deadline (30 Day)"
SYNC_REMOVED = "Satellite expired and removed (90 Days of no sync)"

#: The product an SSM On-Prem registers to the cloud as.
ONPREM_PRODUCT = "SSM On-Prem"
ONPREM_PID = "SSM-ONPREM"


#: The largest sync file read (100,000 product instances fit several times over).
MAX_FILE = 64 * 1024 * 1024


class SyncFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A Disconnected-mode file: a signed message and what it is for. Every field outside ``jws``
    repeats what the signed message says, and the receiver compares them (``check_envelope``)."""

    format: Annotated[str, msgspec.Meta(max_length=32)]
    direction: Direction
    account_domain: Name
    onprem: Piid  # the On-Prem instance's piid at the cloud
    sequence: SyncSequence
    jws: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_FILE)]


def write_file(*, direction: Direction, account_domain: str, onprem: str, sequence: int, jws: str) -> bytes:
    return msgspec.json.format(
        msgspec.json.encode(
            SyncFile(
                format=FORMAT,
                direction=direction,
                account_domain=account_domain,
                onprem=onprem,
                sequence=sequence,
                jws=jws,
            )
        ),
        indent=2,
    )


def read_file(data: bytes, *, expect: Direction) -> SyncFile:
    """Parse a sync file and check it goes this way.

    Raises:
        BadRequest: ``sync_file_malformed`` (truncated, not JSON, wrong shape or format, too large).
        Conflict: ``sync_file_wrong_direction``.
    """
    if len(data) > MAX_FILE:
        raise BadRequest(
            f"the file has {len(data)} bytes; a sync file has at most {MAX_FILE}",
            code="sync_file_malformed",
            fix="carry the file exactly as written by 'ssm-server sync export' (or by the cloud's import)",
        )
    f = wire.decode(
        data,
        SyncFile,
        what="sync file (it is not a complete ssmlab sync file)",
        fix="carry the whole file as written by 'ssm-server sync export' (or by the cloud's import)",
        malformed="sync_file_malformed",
        invalid="sync_file_malformed",
    )
    if f.format != FORMAT:
        raise BadRequest(f"unknown sync file format {f.format!r}", code="sync_file_malformed", fix=f"expected {FORMAT}")
    if f.direction != expect:
        other = (
            "the cloud SSM ('ssm-server sync import FILE --out response.json')"
            if f.direction == "request"
            else "the On-Prem SSM ('ssm-server sync import FILE')"
        )
        raise Conflict(
            f"this is a sync {f.direction} file; it is imported on {other}",
            code="sync_file_wrong_direction",
            fix=f"import it on {other}",
        )
    return f


def check_envelope(f: SyncFile, *, account_domain: str, onprem: str, sequence: int) -> None:
    """The file's outer fields must say what its signed message says (they are not signed).

    Raises:
        BadRequest: ``sync_file_tampered``.
    """
    if (f.account_domain, f.onprem, f.sequence) != (account_domain, onprem, sequence):
        raise BadRequest(
            "the file's envelope does not match its signed content",
            code="sync_file_tampered",
            fix="carry the file exactly as it was written",
        )


def check_sequence(sequence: int, last: int | None) -> None:
    """A synchronization must be newer than the last one applied.

    Raises:
        Conflict: ``sync_replayed``.
    """
    if last is not None and sequence <= last:
        raise Conflict(
            f"sync sequence {sequence} is not newer than the last one applied ({last}): an old or replayed file",
            code="sync_replayed",
            fix="export a new request ('ssm-server sync export') and carry the files of that round",
        )


def check_account(found: str, expected: str) -> None:
    """Raises Conflict ``sync_wrong_account`` when a file belongs to another Smart Account."""
    if found != expected:
        raise Conflict(
            f"the file is for Smart Account {found!r}, not {expected!r}",
            code="sync_wrong_account",
            fix="import it on the SSM of that account (each On-Prem is bound to one cloud account)",
        )


@dataclass(frozen=True, slots=True)
class Deadlines:
    """The cloud's view of one On-Prem instance: what to raise at ``t``, whether to remove it."""

    alerts: list[str]
    remove: bool
    next_check: int | None


def check_deadlines(last_sync: int, alerted: frozenset[str], t: int, p: Policy) -> Deadlines:
    overdue = last_sync + int(p.sync_overdue.total_seconds())
    deadline = last_sync + int(p.sync_deadline.total_seconds())
    warning = deadline - int(p.sync_deadline_warning.total_seconds())
    alerts = []
    if t >= overdue and SYNC_OVERDUE not in alerted:
        alerts.append(SYNC_OVERDUE)
    if t >= warning and SYNC_DEADLINE not in alerted:
        alerts.append(SYNC_DEADLINE)
    remove = t >= deadline
    if remove:
        alerts.append(SYNC_REMOVED)
    done = alerted | set(alerts)
    future = [d for d, kind in ((overdue, SYNC_OVERDUE), (warning, SYNC_DEADLINE)) if kind not in done and d > t]
    if not remove:
        future.append(deadline)
    return Deadlines(alerts, remove, min(future) if future else None)
