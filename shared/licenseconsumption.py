"""The License Consumption report, sans-IO (seed "License Consumption Calculation": "Reported Usage
... displays the locked usage quantity. However, the actual license usage is available in the
License Consumption report"; "Before purchasing your licenses, run the License Consumption report
... to understand the consumption pattern").

One row per product instance, license and reporting interval of a period: the actual peak the
instance reported, the usage the SSM counted for it (the peak, or the locked quantity while the
pool was Out of Compliance) and the pool's compliance status once that interval was judged.
Reports stored before the SSM kept what it counted show their peak and an ``Unknown`` status.

Pure: no IO, no clock. The CSV is written through the ``csv`` module into a list of strings.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

IN_COMPLIANCE = "In Compliance"
OUT_OF_COMPLIANCE = "Out of Compliance"
UNKNOWN = "Unknown"

COLUMNS = (
    "instance",
    "piid",
    "virtual_account",
    "license",
    "interval_start",
    "interval_end",
    "actual_peak",
    "reported_usage",
    "locked",
    "compliance_status",
)


@dataclass(frozen=True, slots=True)
class Interval:
    """A stored usage report: one instance's interval with its lines as stored (``tag``, ``name``,
    ``peak``, and ``reported`` / ``ooc`` when the SSM judged it)."""

    piid: str
    instance: str
    virtual_account: str
    interval_start: int
    interval_end: int
    lines: Sequence[Mapping[str, object]]


@dataclass(frozen=True, slots=True)
class Row:
    instance: str
    piid: str
    virtual_account: str
    license: str
    interval_start: int
    interval_end: int
    actual_peak: int
    reported_usage: int
    #: the reported usage is the quantity locked while the pool was Out of Compliance
    locked: bool
    compliance_status: str


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def rows(intervals: Iterable[Interval], *, start: int, end: int) -> list[Row]:
    """Every (instance, license, interval) whose interval starts in ``[start, end)``, by interval
    then instance and license."""
    out = []
    for iv in intervals:
        if not start <= iv.interval_start < end:
            continue
        for line in iv.lines:
            peak = _int(line.get("peak"))
            ooc = line.get("ooc")
            out.append(
                Row(
                    instance=iv.instance,
                    piid=iv.piid,
                    virtual_account=iv.virtual_account,
                    license=str(line.get("name") or line.get("tag") or "?"),
                    interval_start=iv.interval_start,
                    interval_end=iv.interval_end,
                    actual_peak=peak,
                    reported_usage=_int(line.get("reported"), peak),
                    locked=ooc is True,
                    compliance_status=UNKNOWN if ooc is None else OUT_OF_COMPLIANCE if ooc else IN_COMPLIANCE,
                )
            )
    out.sort(key=lambda r: (r.interval_start, r.instance, r.piid, r.license))
    return out


def iso(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def as_dict(row: Row) -> dict[str, object]:
    """A row as the admin API answers it (instants in ISO 8601 UTC)."""
    return {
        "instance": row.instance,
        "piid": row.piid,
        "virtual_account": row.virtual_account,
        "license": row.license,
        "interval_start": iso(row.interval_start),
        "interval_end": iso(row.interval_end),
        "actual_peak": row.actual_peak,
        "reported_usage": row.reported_usage,
        "locked": row.locked,
        "compliance_status": row.compliance_status,
    }


class _Collect:
    """What ``csv.writer`` writes to: the text, kept in memory."""

    def __init__(self) -> None:
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        self.parts.append(text)
        return len(text)


def to_csv(report: Iterable[Row]) -> str:
    """The report as CSV (RFC 4180, a header row first; ``locked`` is yes or no)."""
    sink = _Collect()
    w = csv.writer(sink, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for r in report:
        d = as_dict(r)
        d["locked"] = "yes" if r.locked else "no"
        w.writerow([d[c] for c in COLUMNS])
    return "".join(sink.parts)


@dataclass(frozen=True, slots=True)
class Point:
    """One interval of a license over the period, summed over the instances."""

    at: int
    actual: int
    reported: int
    out_of_compliance: bool


def series(report: Iterable[Row]) -> dict[str, list[Point]]:
    """Per license, the actual and the reported usage of each interval summed over the instances
    (the portal's chart), oldest first."""
    sums: dict[str, dict[int, tuple[int, int, bool]]] = {}
    for r in report:
        per = sums.setdefault(r.license, {})
        a, rep, ooc = per.get(r.interval_end, (0, 0, False))
        per[r.interval_end] = (a + r.actual_peak, rep + r.reported_usage, ooc or r.locked)
    return {
        name: [Point(at, a, rep, ooc) for at, (a, rep, ooc) in sorted(per.items())]
        for name, per in sorted(sums.items())
    }
