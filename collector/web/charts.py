"""SVG geometry for the dashboard's pictures: scales, line and area paths, thresholds, axis ticks, status band.

Pure: plain numbers in, plain numbers and strings out; the templates draw them as inline SVG
(no JavaScript, no chart library). Times are unix seconds; tick labels are Hanoi time.
"""

from __future__ import annotations

import functools
import html
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence

from markupsafe import Markup

from collector.history import STATUS_LEVEL, Point
from collector.web.messages import check_text

HANOI_TICK_STEPS = (3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 2 * 86400, 7 * 86400)
HANOI_OFFSET_S = 7 * 3600  # UTC+7 all year, as collector.web.pages.HANOI
HANOI = timezone(timedelta(seconds=HANOI_OFFSET_S))
LEVEL_STATUS = {v: k for k, v in STATUS_LEVEL.items()}
# The dashboard's colours (base.html .s-*) so a picture reads like the badges.
STATUS_COLOURS = {"ok": "#2e7d32", "warn": "#b26a00", "fail": "#c62828", "offline": "#555b66"}
SEVERITY_ORDER = {"ok": 0, "warn": 1, "fail": 2, "offline": 3}


@dataclass(frozen=True)
class Scale:
    """Linear map from a domain (d0, d1) to a pixel range (r0, r1); r1 < r0 for a y axis."""
    d0: float
    d1: float
    r0: float
    r1: float

    def __call__(self, v: float) -> float:
        if self.d1 == self.d0:
            return self.r0
        return self.r0 + (v - self.d0) * (self.r1 - self.r0) / (self.d1 - self.d0)


def nice_max(v: float) -> float:
    """The smallest 1, 2, 2.5 or 5 × 10^k at least ``v`` (1 for nothing measured)."""
    if v <= 0:
        return 1.0
    base = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if m * base >= v - 1e-12:
            return m * base
    return 10 * base


def value_ticks(top: float, n: int = 4) -> list[float]:
    """0, top/n, ..., top."""
    return [top * i / n for i in range(n + 1)]


def segments(points: Sequence[Point], gap_s: float) -> list[list[Point]]:
    """Points split where two neighbours are more than ``gap_s`` apart: no line across a silence."""
    out: list[list[Point]] = []
    for p in points:
        if out and p.at - out[-1][-1].at <= gap_s:
            out[-1].append(p)
        else:
            out.append([p])
    return out


def polyline(points: Sequence[Point], x: Scale, y: Scale) -> str:
    """The ``points`` attribute of an SVG polyline through each point's average."""
    return " ".join(f"{x(p.at):.1f},{y(p.avg):.1f}" for p in points)


def area_path(points: Sequence[Point], x: Scale, y: Scale) -> str:
    """The ``d`` of a closed path from each point's max (left to right) back along its min."""
    if not points:
        return ""
    top = [f"{x(p.at):.1f},{y(p.max):.1f}" for p in points]
    bottom = [f"{x(p.at):.1f},{y(p.min):.1f}" for p in reversed(points)]
    return "M" + " L".join(top + bottom) + " Z"


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str


def time_ticks(start: float, end: float, x: Scale, most: int = 8) -> list[Tick]:
    """Ticks on whole Hanoi hours/days, at most ``most`` of them; labels HH:MM within a day, else dd/mm."""
    span = end - start
    step = next((s for s in HANOI_TICK_STEPS if span / s <= most), HANOI_TICK_STEPS[-1])
    # Align on Hanoi midnight: (t + offset) divisible by the step.
    first = math.ceil((start + HANOI_OFFSET_S) / step) * step - HANOI_OFFSET_S
    fmt = "%H:%M" if step < 86400 else "%d/%m"
    out = []
    t = first
    while t <= end:
        out.append(Tick(x(t), datetime.fromtimestamp(t, HANOI).strftime(fmt)))
        t += step
    return out


@dataclass(frozen=True)
class Rect:
    x: float
    width: float
    status: str
    start: float
    end: float

    @property
    def colour(self) -> str:
        return STATUS_COLOURS[self.status]


def status_spans(points: Sequence[Point], hold: float, start: float, end: float,
                 gaps: Iterable[tuple[float, float]] = ()) -> list[tuple[float, float, str]]:
    """(from, to, status) covering start..end: each point's worst status, "offline" where none was heard.

    ``points`` are the ``status`` metric's (max is the worst level of the step). A point holds
    until the next one, but at most ``hold`` seconds (the room's offline limit, and at least the
    step): after that the room was silent. ``gaps`` are the collector's own downtime, cut out so
    it is not blamed on the room.
    """
    spans: list[tuple[float, float, str]] = []

    def add(a: float, b: float, s: str) -> None:
        a, b = max(a, start), min(b, end)
        if b <= a:
            return
        if spans and spans[-1][2] == s and abs(spans[-1][1] - a) < 1e-6:
            spans[-1] = (spans[-1][0], b, s)
        else:
            spans.append((a, b, s))

    cursor = start
    for i, p in enumerate(points):
        if p.at > cursor:
            add(cursor, p.at, "offline")
        until = p.at + hold
        if i + 1 < len(points):
            until = min(until, points[i + 1].at)
        add(max(p.at, cursor), until, LEVEL_STATUS.get(int(round(p.max)), "fail"))
        cursor = max(cursor, until)
    if cursor < end:
        add(cursor, end, "offline")
    for g0, g1 in gaps:
        spans = [piece for s in spans for piece in _cut(s, g0, g1)]
    return spans


def _cut(span: tuple[float, float, str], g0: float, g1: float) -> list[tuple[float, float, str]]:
    a, b, s = span
    if g1 <= a or g0 >= b:
        return [span]
    return [piece for piece in ((a, g0, s), (g1, b, s)) if piece[1] > piece[0]]


def status_band(spans: Sequence[tuple[float, float, str]], x: Scale) -> list[Rect]:
    """One coloured rect per span (at least a pixel wide, so a short fault stays visible)."""
    return [Rect(x(a), max(1.0, x(b) - x(a)), s, a, b) for a, b, s in spans]


@dataclass
class Line:
    metric: str
    colour: str
    polylines: list[str]
    area: list[str]


@dataclass
class Chart:
    """Everything a template needs to draw one chart of one or more metrics."""
    id: str
    unit: str
    width: int
    height: int
    left: int
    top: int
    right: int
    bottom: int
    y_max: float
    lines: list[Line] = field(default_factory=list)
    thresholds: list[tuple[str, float, float]] = field(default_factory=list)  # metric, value, y
    x_ticks: list[Tick] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not any(line.polylines for line in self.lines)


PALETTE = ("#1565c0", "#8e24aa", "#00897b", "#ef6c00")
PLOT_W, PLOT_H = 900, 180
MARGIN_L, MARGIN_R, MARGIN_T, MARGIN_B = 48, 10, 8, 22


def plot_x(start: float, end: float) -> Scale:
    return Scale(start, end, MARGIN_L, PLOT_W - MARGIN_R)


def build_chart(chart_id: str, unit: str, series: dict[str, list[Point]], thresholds: dict[str, float],
                start: float, end: float, step: int) -> Chart:
    """A chart of ``series`` (metric -> points) from ``start`` to ``end``, the thresholds as lines."""
    highest = max([p.max for pts in series.values() for p in pts] + list(thresholds.values()) + [0.0])
    top = nice_max(highest * 1.05)
    x = plot_x(start, end)
    y = Scale(0.0, top, PLOT_H - MARGIN_B, MARGIN_T)
    chart = Chart(chart_id, unit, PLOT_W, PLOT_H, MARGIN_L, MARGIN_T, PLOT_W - MARGIN_R, PLOT_H - MARGIN_B, top)
    for i, (metric, pts) in enumerate(series.items()):
        parts = segments(pts, 3 * step)
        chart.lines.append(Line(metric, PALETTE[i % len(PALETTE)],
                                [polyline(s, x, y) for s in parts], [area_path(s, x, y) for s in parts if len(s) > 1]))
    chart.thresholds = [(m, v, y(v)) for m, v in thresholds.items()]
    chart.x_ticks = time_ticks(start, end, x)
    chart.y_ticks = [Tick(y(v), f"{v:g}") for v in value_ticks(top)]
    return chart


# Bounded: twice the ids and names of a 10,000-room city, and then some.
_escaped = functools.lru_cache(maxsize=32768)(html.escape)


def city_tiles(city: Sequence[tuple[str, Sequence[Any]]], labels: Mapping[str, str], lang: str) -> Markup:
    """The overview's tiles: a label per unit, then one link per room coloured by its status.

    Built here rather than in a template loop: at 10,000 rooms the loop was most of the
    page's rendering time (about 250 ms against 20 ms for this join). The rooms' ids and
    names go through a cache of ``html.escape`` (the same 10,000 strings every refresh;
    markupsafe's escape makes a Markup object per call, 2.5 times slower here); the unit,
    status and label parts are escaped once per unit.
    """
    out: list[str] = []
    said = {s: html.escape(labels[s]) for s in STATUS_LEVEL.keys() | {"offline"}}
    for unit, rooms in city:
        shown = html.escape(unit or "—")
        out.append(f'<span class="unit-label" data-unit="{html.escape(unit)}">{shown}</span>')
        for r in rooms:
            rid = _escaped(r.room_id)
            hint = f" ({html.escape(check_text(r.failing[0], lang))})" if r.failing else ""
            name = _escaped(r.name) if r.name else rid
            out.append(f'<a class="tile s-{r.status}" href="/rooms/{rid}?lang={lang}"'
                       f' title="{name} — {shown}: {said[r.status]}{hint}"></a>')
    return Markup("".join(out))
