"""A license pool's usage against its purchased quantity over domain time, as SVG geometry.

The pool's history (``Pools.history``: a sample each time its books changed) is a step function;
``draw`` turns it, with the pool as it stands now, into the polylines and labels ``_chart.html``
draws: In Use (solid), Purchased (dashed), and the spans where usage exceeded the purchase
shaded. Pure: no IO, no clock (``now`` is given).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from server.store.rows import PoolSample
from shared.clock import utc

WIDTH, HEIGHT = 640, 200
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 12, 26
DAY = 86400
#: Tick spacings of the time axis (at most five ticks, on round instants).
_STEPS = (900, 1800, 3600, 2 * 3600, 3 * 3600, 6 * 3600, 12 * 3600, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 90 * DAY)


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """The plot area every chart of the portal shares (``_chartsvg.html`` draws it)."""

    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    right: int = WIDTH - RIGHT
    top: int = TOP
    bottom: int = HEIGHT - BOTTOM


@dataclass(frozen=True, slots=True)
class Chart(Frame):
    title: str
    summary: str
    in_use: str
    purchased: str
    over: list[tuple[float, float]]
    xticks: list[tuple[float, str, str]]
    yticks: list[tuple[float, str]]


def nice(value: float) -> int:
    """The smallest of 1, 2, 5 x 10^k at least ``value``."""
    if value <= 1:
        return 1
    exp = 10 ** math.floor(math.log10(value))
    return next(int(m * exp) for m in (1, 2, 5, 10) if m * exp >= value)


def label(t: int, span: int) -> str:
    return utc(t).strftime("%b %d" if span >= 2 * DAY else "%b %d %H:%M" if span >= DAY // 2 else "%H:%M")


def anchor(at: float) -> str:
    """Labels near an edge are anchored to stay inside the chart."""
    return "start" if at < LEFT + 40 else "end" if at > WIDTH - RIGHT - 40 else "middle"


def steps_for(span: int) -> int:
    """The tick spacing of a time axis ``span`` seconds long."""
    return next((s for s in _STEPS if span / s <= 5), _STEPS[-1])


def draw(title: str, samples: Sequence[PoolSample], *, now: int, in_use: int, purchased: int) -> Chart:
    """The chart of ``samples`` followed by the pool as it is at ``now``."""
    points = [s for s in samples if s.at <= now] + [PoolSample(now, in_use, purchased)]
    t0 = points[0].at if len(points) > 1 else now - DAY
    span = max(now - t0, 3600)
    top = nice(max(max(p.in_use for p in points), max(p.purchased for p in points)) * 1.1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: int) -> float:
        return round(LEFT + (t - t0) / span * plot_w, 1)

    def y(v: int) -> float:
        return round(TOP + plot_h - v / top * plot_h, 1)

    def steps(value: str) -> str:
        out: list[str] = []
        prev: int | None = None
        for p in points:
            v = getattr(p, value)
            if prev is not None:
                out.append(f"{x(p.at)},{y(prev)}")
            out.append(f"{x(p.at)},{y(v)}")
            prev = v
        return " ".join(out)

    over = [
        (x(a.at), round(x(b.at) - x(a.at), 1))
        for a, b in itertools.pairwise(points)
        if a.in_use > a.purchased and b.at > a.at
    ]
    step = steps_for(span)
    first = -(-t0 // step) * step
    xticks = [(x(t), label(t, span), anchor(x(t))) for t in range(first, now + 1, step)]
    yticks = [(y(v), str(v)) for v in (0, top // 2, top)]
    last = points[-1]
    summary = (
        f"{title}: {last.in_use} in use of {last.purchased} purchased now; "
        f"from {label(t0, span)} to {label(now, span)}"
        + (f", usage above the purchase in {len(over)} period(s)" if over else "")
    )
    return Chart(title, summary, steps("in_use"), steps("purchased"), over, xticks, yticks)
