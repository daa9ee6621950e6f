"""Maps drawn by the console itself: villages and other places as points, flows and postings as
lines, on an equirectangular projection fitted to what is drawn (no tiles, no network)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT, MARGIN = 640, 420, 28


@dataclass(frozen=True)
class Point:
    key: str
    label: str
    lat: float
    lng: float
    kind: str = "village"  # village, buyer, cadre: a CSS class


@dataclass(frozen=True)
class Line:
    start: str
    end: str
    weight: float = 1.0  # drawn width, relative to the heaviest line
    title: str = ""


def svg(points: list[Point], lines: list[Line], title: str) -> str:
    """An <svg> scaled to its container's width (viewBox), with a <title> for screen readers."""
    if not points:
        return ""
    lats = [p.lat for p in points]
    lngs = [p.lng for p in points]
    mid = math.cos(math.radians((min(lats) + max(lats)) / 2))
    span_x = max((max(lngs) - min(lngs)) * mid, 1e-3)
    span_y = max(max(lats) - min(lats), 1e-3)
    scale = min((WIDTH - 2 * MARGIN) / span_x, (HEIGHT - 2 * MARGIN) / span_y)

    def xy(p: Point) -> tuple[float, float]:
        x = MARGIN + (p.lng - min(lngs)) * mid * scale
        y = HEIGHT - MARGIN - (p.lat - min(lats)) * scale
        return round(x, 1), round(y, 1)

    at = {p.key: xy(p) for p in points}
    heaviest = max((line.weight for line in lines), default=1.0) or 1.0
    parts = [
        f'<svg class="map" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
        f'<rect class="sea" width="{WIDTH}" height="{HEIGHT}"/>',
    ]
    for line in lines:
        if line.start in at and line.end in at:
            (x1, y1), (x2, y2) = at[line.start], at[line.end]
            width = 1 + 5 * line.weight / heaviest
            parts.append(
                f'<line class="flow" x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" '
                f'stroke-width="{width:.1f}"><title>{escape(line.title)}</title></line>'
            )
    for p in points:
        x, y = at[p.key]
        parts.append(
            f'<circle class="{p.kind}" cx="{x}" cy="{y}" r="5"><title>{escape(p.label)}</title>'
            "</circle>"
        )
        if p.label:  # a point without a label is drawn bare
            parts.append(f'<text x="{x + 7}" y="{y + 4}">{escape(p.label[:16])}</text>')
    parts.append("</svg>")
    return "".join(parts)
