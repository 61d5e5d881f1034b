"""Server-rendered inline SVG charts for the admin dashboard (no JavaScript, no CDN).

Each function returns one ``<svg>`` that scales to its container. Hovering a point or a bar shows
its exact value (SVG ``<title>``). Missing values (an hour without data) leave a gap in a line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Drawn at about the size they are shown (half the admin's content width), so text stays legible.
WIDTH = 620
HEIGHT = 250
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 60, 12, 34, 30
PALETTE = {
    "blue": "#1f77b4",
    "orange": "#ff7f0e",
    "green": "#2ca02c",
    "red": "#d62728",
    "purple": "#9467bd",
    "grey": "#8c8c8c",
    "teal": "#17becf",
}


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]
    colour: str = PALETTE["blue"]


Formatter = Callable[[float], str]


def _plain(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.2g}"


def nice_scale(low: float, high: float, *, integer: bool = False, most: int = 5) -> list[float]:
    """Return evenly spaced round tick values from ``low`` up to at least ``high``.

    The step is 1, 2, 2.5 or 5 × 10^n (never below 1, and never 2.5, for counts), chosen so that
    at most ``most`` intervals cover the range.
    """
    span = high - low
    if span <= 0:
        span = 1.0
    exponent = math.floor(math.log10(span / most))
    steps = [m * 10.0**e for e in (exponent, exponent + 1) for m in (1, 2, 2.5, 5)]
    if integer:
        steps = [step for step in steps if step >= 1 and step == int(step)] or [1.0]
    step = next((step for step in steps if span / step <= most), steps[-1])
    count = max(1, math.ceil(span / step - 1e-9))
    return [low + step * i for i in range(count + 1)]


class _Frame:
    """Maps data to the plot area and draws axes, grid, ticks and the legend."""

    def __init__(self, count: int, ticks: list[float], height: int) -> None:
        self.count, self.y_ticks, self.height = count, ticks, height
        self.y_min, self.y_max = ticks[0], ticks[-1]
        self.left, self.right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
        self.top, self.bottom = MARGIN_TOP, height - MARGIN_BOTTOM

    def slot(self) -> float:
        return (self.right - self.left) / max(self.count, 1)

    def x(self, index: int) -> float:
        return self.left + self.slot() * (index + 0.5)

    def y(self, value: float) -> float:
        span = (self.y_max - self.y_min) or 1.0
        clamped = min(max(value, self.y_min), self.y_max)
        return self.bottom - (clamped - self.y_min) / span * (self.bottom - self.top)

    def axes(self, ticks: Sequence[tuple[int, str]], fmt: Formatter) -> list[str]:
        parts = []
        for value in self.y_ticks:
            y = self.y(value)
            parts.append(
                f'<line x1="{self.left}" x2="{self.right}" y1="{y:.1f}" y2="{y:.1f}" class="grid"/>'
                f'<text x="{self.left - 6}" y="{y + 4:.1f}" text-anchor="end">{escape(fmt(value))}</text>'
            )
        for index, label in ticks:
            x = self.x(index)
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{self.bottom}" y2="{self.bottom + 4}" class="axis"/>'
                f'<text x="{x:.1f}" y="{self.bottom + 17}" text-anchor="middle">{escape(label)}</text>'
            )
        parts.append(
            f'<line x1="{self.left}" x2="{self.right}" y1="{self.bottom}" y2="{self.bottom}" class="axis"/>'
        )
        return parts

    def legend(self, series: Sequence[Series]) -> list[str]:
        parts, x = [], float(self.left)
        for item in series:
            parts.append(
                f'<rect x="{x:.1f}" y="9" width="11" height="11" rx="2" fill="{item.colour}"/>'
                f'<text x="{x + 15:.1f}" y="19">{escape(item.name)}</text>'
            )
            x += 30 + 6.6 * len(item.name)
        return parts


def _svg(parts: list[str], height: int, label: str) -> SafeString:
    body = "".join(parts)
    return mark_safe(  # noqa: S308 - every interpolated text above went through escape()
        f'<svg class="obs-chart" viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(label)}" '
        f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">{body}</svg>'
    )


def _empty(label: str, height: int) -> SafeString:
    where = f'x="{WIDTH / 2}" y="{height / 2}" text-anchor="middle"'
    return _svg([f'<text {where} class="empty">Nothing in this period</text>'], height, label)


def line_chart(
    *,
    label: str,
    categories: Sequence[str],
    ticks: Sequence[tuple[int, str]],
    series: Sequence[Series],
    fmt: Formatter = _plain,
    y_min: float = 0.0,
    y_max: float | None = None,
    height: int = HEIGHT,
) -> SafeString:
    """Draw one polyline per series over the categories; None values break the line."""
    values = [v for item in series for v in item.values if v is not None]
    if not values:
        return _empty(label, height)
    top = y_max if y_max is not None else max(values)
    frame = _Frame(len(categories), nice_scale(y_min, max(top, y_min + 1e-9)), height)
    parts = [*frame.axes(ticks, fmt), *frame.legend(series)]
    for item in series:
        runs: list[list[str]] = [[]]
        for index, value in enumerate(item.values):
            if value is None:
                runs.append([])
                continue
            runs[-1].append(f"{frame.x(index):.1f},{frame.y(value):.1f}")
            parts.append(
                f'<circle cx="{frame.x(index):.1f}" cy="{frame.y(value):.1f}" r="2.2" fill="{item.colour}">'
                f"<title>{escape(categories[index])} · {escape(item.name)}: {escape(fmt(value))}</title>"
                "</circle>"
            )
        for run in runs:
            if len(run) > 1:
                parts.append(
                    f'<polyline points="{" ".join(run)}" fill="none" stroke="{item.colour}" '
                    'stroke-width="1.8" stroke-linejoin="round"/>'
                )
    return _svg(parts, height, label)


def bar_chart(
    *,
    label: str,
    categories: Sequence[str],
    ticks: Sequence[tuple[int, str]],
    series: Sequence[Series],
    fmt: Formatter = _plain,
    height: int = HEIGHT,
) -> SafeString:
    """Draw stacked bars, one stack per category, one segment per series."""
    totals = [sum(item.values[i] or 0 for item in series) for i in range(len(categories))]
    if not any(totals):
        return _empty(label, height)
    frame = _Frame(len(categories), nice_scale(0.0, max(totals), integer=True), height)
    parts = [*frame.axes(ticks, fmt), *frame.legend(series)]
    width = max(frame.slot() * 0.78, 1.0)
    for index, category in enumerate(categories):
        base = 0.0
        for item in series:
            value = item.values[index] or 0
            if not value:
                continue
            top, bottom = frame.y(base + value), frame.y(base)
            parts.append(
                f'<rect x="{frame.x(index) - width / 2:.1f}" y="{top:.1f}" width="{width:.1f}" '
                f'height="{max(bottom - top, 0.5):.1f}" fill="{item.colour}">'
                f"<title>{escape(category)} · {escape(item.name)}: {escape(fmt(value))}</title></rect>"
            )
            base += value
    return _svg(parts, height, label)


def hbar_chart(
    *, label: str, items: Sequence[tuple[str, float]], colour: str = PALETTE["red"], fmt: Formatter = _plain
) -> SafeString:
    """Draw one labelled horizontal bar per item (largest first, as given)."""
    row, label_width = 24, 220
    height = MARGIN_TOP + row * max(len(items), 1) + 10
    if not items:
        return _empty(label, 120)
    top = max(value for _, value in items) or 1.0
    parts = []
    for index, (name, value) in enumerate(items):
        y = MARGIN_TOP + index * row
        length = (WIDTH - label_width - 60) * value / top
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 15}" text-anchor="end">{escape(name)}</text>'
            f'<rect x="{label_width}" y="{y + 3}" width="{max(length, 1):.1f}" height="{row - 8}" '
            f'rx="2" fill="{colour}"><title>{escape(name)}: {escape(fmt(value))}</title></rect>'
            f'<text x="{label_width + length + 6:.1f}" y="{y + 15}">{escape(fmt(value))}</text>'
        )
    return _svg(parts, height, label)
