"""The License Consumption report's rows and CSV, pure."""

from __future__ import annotations

import csv

from shared import licenseconsumption as lc

Q = 900


def iv(start: int, *lines: dict[str, object], name: str = "ucce-1") -> lc.Interval:
    return lc.Interval("p-" + name, name, "DEFAULT", start, start + Q, list(lines))


def test_rows_of_the_period_with_reported_locked_and_status() -> None:
    intervals = [
        iv(0, {"name": "Premium Agent", "peak": 130, "reported": 130, "ooc": False}),
        iv(Q, {"name": "Premium Agent", "peak": 90, "reported": 130, "ooc": True}),
        iv(Q, {"name": "Premium Agent", "peak": 4}, name="cvp-1"),  # stored before the SSM kept more
        iv(2 * Q, {"name": "Premium Agent", "peak": 1, "reported": 1, "ooc": False}),
    ]
    rows = lc.rows(intervals, start=Q, end=2 * Q)  # the period is [start, end)
    assert [(r.instance, r.actual_peak, r.reported_usage, r.locked, r.compliance_status) for r in rows] == [
        ("cvp-1", 4, 4, False, lc.UNKNOWN),
        ("ucce-1", 90, 130, True, lc.OUT_OF_COMPLIANCE),
    ]
    assert lc.rows(intervals, start=0, end=Q)[0].compliance_status == lc.IN_COMPLIANCE


def test_csv_parses_back_with_its_header_and_quotes() -> None:
    rows = lc.rows(
        [iv(0, {"name": 'Agent, "Premium"', "peak": 3, "reported": 5, "ooc": True}, name="a,b")], start=0, end=Q
    )
    text = lc.to_csv(rows)
    parsed = list(csv.DictReader(text.splitlines()))
    assert list(parsed[0]) == list(lc.COLUMNS)
    assert parsed == [
        {
            "instance": "a,b",
            "piid": "p-a,b",
            "virtual_account": "DEFAULT",
            "license": 'Agent, "Premium"',
            "interval_start": "1970-01-01T00:00:00Z",
            "interval_end": "1970-01-01T00:15:00Z",
            "actual_peak": "3",
            "reported_usage": "5",
            "locked": "yes",
            "compliance_status": "Out of Compliance",
        }
    ]
    assert lc.to_csv([]) == ",".join(lc.COLUMNS) + "\r\n"


def test_series_sums_the_instances_per_interval() -> None:
    rows = lc.rows(
        [
            iv(0, {"name": "P", "peak": 70, "reported": 70, "ooc": False}),
            iv(0, {"name": "P", "peak": 45, "reported": 50, "ooc": True}, name="cvp-1"),
        ],
        start=0,
        end=Q,
    )
    assert lc.series(rows) == {"P": [lc.Point(Q, 115, 120, True)]}
