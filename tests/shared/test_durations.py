"""Durations as people write them (``90d``, ``P90D``, ``45``) and as status prints them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shared.durations import format_duration, parse_duration

DAY = timedelta(days=1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", 90 * DAY),
        ("36h", timedelta(hours=36)),
        ("15m", timedelta(minutes=15)),
        ("45s", timedelta(seconds=45)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1d 12h", timedelta(days=1, hours=12)),
        ("1m30s", timedelta(minutes=1, seconds=30)),
        ("2w", 14 * DAY),
        ("6mo", 180 * DAY),
        ("1y", 365 * DAY),
        ("1.5h", timedelta(minutes=90)),
        ("10min", timedelta(minutes=10)),
        ("90D", 90 * DAY),
        ("P90D", 90 * DAY),
        ("PT15M", timedelta(minutes=15)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("P1M", 30 * DAY),
        ("P1Y", 365 * DAY),
        ("p90d", 90 * DAY),
        ("45", timedelta(seconds=45)),
        ("  30d  ", 30 * DAY),
    ],
)
def test_parse_duration_table(text: str, expected: timedelta) -> None:
    """Each accepted form reads as the duration the licensing rules mean (month 30 d, year 365 d)."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "   ", "abc", "d", "90x", "-5", "-5d", "10ms", "1e3", "P", "PT", "PXD", "90d!", "d90", "1d-2h", "ninety days"],
)
def test_parse_duration_rejects_garbage(text: str) -> None:
    """Text that is none of the accepted forms raises ValueError naming the accepted forms."""
    with pytest.raises(ValueError, match="cannot read the duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("delta", "expected"),
    [
        (timedelta(days=89, hours=23), "89 days 23 hours"),
        (90 * DAY, "90 days"),
        (DAY, "1 day"),
        (timedelta(days=1, hours=1), "1 day 1 hour"),
        (timedelta(days=2, minutes=5), "2 days"),
        (timedelta(hours=1, minutes=30), "1 hour 30 minutes"),
        (timedelta(minutes=1), "1 minute"),
        (timedelta(seconds=45), "45 seconds"),
        (timedelta(seconds=1), "1 second"),
        (timedelta(0), "0 minutes"),
        (timedelta(seconds=-30), "0 minutes"),
        (-DAY, "0 minutes"),
    ],
)
def test_format_duration_examples(delta: timedelta, expected: str) -> None:
    """Durations print in days and hours (minutes only under a day, seconds only under a minute)."""
    assert format_duration(delta) == expected


@pytest.mark.parametrize("text", ["90d", "36h", "15m", "1d12h"])
def test_format_reads_back_what_parse_reads(text: str) -> None:
    """For whole hours or minutes, the printed form names the same duration as the parsed text."""
    delta = parse_duration(text)
    words = format_duration(delta).split()
    units = {"day": "d", "days": "d", "hour": "h", "hours": "h", "minute": "m", "minutes": "m"}
    compact = "".join(n + units[u] for n, u in zip(words[::2], words[1::2], strict=True))
    assert parse_duration(compact) == delta
