"""Bar charts drawn on the server as inline SVG: no script, no library, nothing fetched (the admin works offline).

One chart is a row of columns; a column is a stack of segments (one per series, e.g. call status) and links to the
calls it counts. Each column carries a <title>, which browsers show on hover and screen readers read.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

WIDTH, HEIGHT = 640, 180
TOP, BOTTOM, LEFT = 14, 22, 44  # room for the top value, the column labels and the scale
PALETTE = ("#2e7d32", "#f9a825", "#c62828", "#6a1b9a", "#1565c0", "#ef6c00", "#546e7a", "#00838f", "#8d6e63")


@dataclass(frozen=True)
class Column:
    label: str
    url: str
    segments: tuple[tuple[str, float | Decimal], ...]  # (series name, value), bottom first

    @property
    def total(self) -> float:
        return float(sum(value for _, value in self.segments))


def bar_chart(columns: list[Column], *, title: str, unit: str = "", label_every: int = 1,
              colours: dict[str, str] | None = None) -> SafeString:
    """An SVG of `columns` scaled to the tallest; a series keeps its colour across columns: the one given in
    `colours`, else the palette's in order of first use."""
    colours = _colours(columns, colours or {})
    peak = max((column.total for column in columns), default=0.0) or 1.0
    step = (WIDTH - LEFT) / max(len(columns), 1)
    bars = [_column(column, index, step, peak, colours, unit, index % label_every == 0)
            for index, column in enumerate(columns)]
    legend = format_html_join(" ", '<span class="chart-key"><i style="background:{}"></i>{}</span>',
                              ((colour, name) for name, colour in colours.items())) if len(colours) > 1 else ""
    return format_html(
        '<figure class="dashboard-chart"><figcaption>{}</figcaption>'
        '<svg viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">'
        '<text x="0" y="{}" class="chart-scale">{}</text><line x1="{}" y1="{}" x2="{}" y2="{}" class="chart-axis"/>'
        '{}</svg><div class="chart-legend">{}</div></figure>',
        title, WIDTH, HEIGHT, title, TOP, _number(peak, unit), LEFT, HEIGHT - BOTTOM, WIDTH, HEIGHT - BOTTOM,
        SafeString("".join(bars)), legend,
    )


def _colours(columns: list[Column], fixed: dict[str, str]) -> dict[str, str]:
    names: dict[str, None] = {}
    for column in columns:
        names.update(dict.fromkeys(name for name, value in column.segments if value))
    return {name: fixed.get(name) or PALETTE[index % len(PALETTE)] for index, name in enumerate(names)}


def _column(column: Column, index: int, step: float, peak: float, colours: dict[str, str], unit: str,
            labelled: bool) -> str:
    x, width, base = LEFT + index * step + step * 0.1, step * 0.8, HEIGHT - BOTTOM
    rects, y = [], float(base)
    for name, value in column.segments:
        height = (HEIGHT - TOP - BOTTOM) * float(value) / peak
        if height <= 0:
            continue
        y -= height
        rects.append(format_html('<rect x="{}" y="{}" width="{}" height="{}" fill="{}"/>',
                                 *map(_at, (x, y, width, height)), colours.get(name, PALETTE[0])))
    detail = ", ".join(f"{name} {_number(value, unit)}" for name, value in column.segments if value)
    label = format_html('<text x="{}" y="{}" class="chart-label">{}</text>', _at(x + width / 2), HEIGHT - 6,
                        column.label) if labelled else ""
    return format_html('<a href="{}" class="chart-column"><title>{}: {}</title>{}{}</a>', column.url, column.label,
                       detail or _("none"), SafeString("".join(rects)), label)


def _at(coordinate: float) -> str:
    return f"{coordinate:.1f}"


def _number(value: float | Decimal, unit: str) -> str:
    value = float(value)
    text = f"{value:,.2f}" if unit else f"{value:,.0f}"
    return f"{text} {unit}".strip()
