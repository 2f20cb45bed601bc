"""The License Consumption report of one license over a period, as SVG geometry: the actual peak
(solid) and the reported usage (dashed: the locked quantity while Out of Compliance) summed over
the instances per interval, the intervals Out of Compliance shaded. Pure: no IO, no clock (the
period is given). Same frame and axes as ``chart`` (the pool's usage against purchased)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from server.web.chart import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, Frame, anchor, label, nice, steps_for
from shared.licenseconsumption import Point

#: Intervals are 15 minutes.
INTERVAL = 900


@dataclass(frozen=True, slots=True)
class ConsumptionChart(Frame):
    title: str
    summary: str
    actual: str
    reported: str
    #: the intervals Out of Compliance (shaded, as the usage chart shades its overage)
    over: list[tuple[float, float]]
    xticks: list[tuple[float, str, str]]
    yticks: list[tuple[float, str]]


def draw(title: str, points: Sequence[Point], *, start: int, end: int) -> ConsumptionChart:
    """The chart of ``points`` (interval ends, oldest first) over ``[start, end]``."""
    span = max(end - start, 3600)
    top = nice(max([max(p.actual, p.reported) for p in points] + [1]) * 1.1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: int) -> float:
        return round(LEFT + (min(max(t, start), end) - start) / span * plot_w, 1)

    def y(v: int) -> float:
        return round(TOP + plot_h - v / top * plot_h, 1)

    def line(value: str) -> str:
        out: list[str] = []
        for p in points:
            v = getattr(p, value)
            out += [f"{x(p.at - INTERVAL)},{y(v)}", f"{x(p.at)},{y(v)}"]
        return " ".join(out)

    over = [
        (x(p.at - INTERVAL), max(round(x(p.at) - x(p.at - INTERVAL), 1), 0.5)) for p in points if p.out_of_compliance
    ]
    step = steps_for(span)
    first = -(-start // step) * step
    xticks = [(x(t), label(t, span), anchor(x(t))) for t in range(first, end + 1, step)]
    yticks = [(y(v), str(v)) for v in (0, top // 2, top)]
    peak = max((p.actual for p in points), default=0)
    high = max((p.reported for p in points), default=0)
    summary = (
        f"{title}: highest actual peak {peak}, highest reported usage {high} over "
        f"{label(start, span)} to {label(end, span)}"
        + (f"; {len(over)} interval(s) Out of Compliance (usage locked)" if over else "")
    )
    return ConsumptionChart(title, summary, line("actual"), line("reported"), over, xticks, yticks)
