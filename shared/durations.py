"""Parsing and printing durations for people: ``90d``, ``36h``, ``15m``, ``P1DT2H``, ``1y``.

Pure: no IO, no clock.
"""

from __future__ import annotations

import re
from datetime import timedelta

from shared.limits import DURATION_MAX

_UNITS = {
    "s": 1,
    "sec": 1,
    "m": 60,
    "min": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "mo": 30 * 86400,
    "y": 365 * 86400,
}
_SIMPLE = re.compile(r"([0-9]+(?:\.[0-9]+)?)\s*(mo|min|sec|[smhdwy])", re.IGNORECASE)
_SECONDS = re.compile(r"^[0-9]+(\.[0-9]+)?$")
_ISO = re.compile(
    r"^P(?:(?P<y>\d+)Y)?(?:(?P<mo>\d+)M)?(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?"
    r"(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def parse_duration(text: str) -> timedelta:
    """Parse ``90d``, ``1d12h``, ``15m``, ``45s``, ``6mo``, ``1y`` or ISO 8601 ``P90DT1H``.

    A month is 30 days and a year 365 days, the way the licensing rules count them.

    Raises:
        ValueError: with the accepted forms, when ``text`` is none of them, or when it is longer
            than ``shared.limits.DURATION_MAX`` (100 years).
    """
    return _bounded(text, _parse(text))


def _bounded(text: str, seconds: float) -> timedelta:
    if not seconds <= DURATION_MAX.total_seconds():  # also refuses inf
        raise ValueError(f"the duration {text.strip()[:40]!r} is longer than {DURATION_MAX.days // 365} years")
    return timedelta(seconds=seconds)


def _parse(text: str) -> float:
    raw = text.strip()
    iso = _ISO.match(raw.upper()) if raw.isascii() else None
    if iso and raw.upper() not in ("P", "PT") and not raw.upper().endswith("T"):
        parts = {k: float(v) for k, v in iso.groupdict().items() if v}
        return sum(parts.get(k, 0.0) * _UNITS[k] for k in ("y", "mo", "w", "d", "h", "m", "s"))
    pos, seconds = 0, 0.0
    compact = raw.replace(" ", "")
    for m in _SIMPLE.finditer(compact):
        if m.start() != pos:
            break
        seconds += float(m.group(1)) * _UNITS[m.group(2).lower()]
        pos = m.end()
    if pos == len(compact) and pos > 0:
        return seconds
    if _SECONDS.match(compact):
        return float(compact)
    raise ValueError(
        f"cannot read the duration {text!r}: use a number of seconds, units like 90d, 36h, 15m, "
        "1d12h, 6mo, 1y, or ISO 8601 like P90D"
    )


def format_duration(delta: timedelta) -> str:
    """``timedelta(days=89, hours=23)`` -> ``"89 days 23 hours"``; negative -> ``"0 minutes"``."""
    total = int(delta.total_seconds())
    if total <= 0:
        return "0 minutes"
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = []
    if days:
        parts.append(f"{days} day{'s' if days != 1 else ''}")
    if hours:
        parts.append(f"{hours} hour{'s' if hours != 1 else ''}")
    if minutes and not days:
        parts.append(f"{minutes} minute{'s' if minutes != 1 else ''}")
    if not parts:
        parts.append(f"{total} second{'s' if total != 1 else ''}")
    return " ".join(parts)
