"""Charts drawn by the console itself, as web/maps.py draws maps: horizontal bars in an <svg>
scaled to its container's width (viewBox), each bar labelled with its name and its value, so
a phone shows the same figures a desktop does (no script, no network)."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

WIDTH, ROW, LABEL_W, VALUE_W, PAD = 640, 30, 200, 130, 8


@dataclass(frozen=True)
class Bar:
    key: str  # a data-key attribute: tests and styles find the bar by it
    label: str
    value: float
    text: str  # the value as the page prints it
    kind: str = "bar"  # a CSS class


def bars(items: list[Bar], title: str) -> str:
    """One bar per item, as long as its value against the largest (negative values as 0)."""
    if not items:
        return ""
    height = PAD * 2 + ROW * len(items)
    room = WIDTH - LABEL_W - VALUE_W - 2 * PAD
    largest = max((max(b.value, 0.0) for b in items), default=0.0) or 1.0
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>',
    ]
    for i, b in enumerate(items):
        y = PAD + i * ROW
        length = round(room * max(b.value, 0.0) / largest, 1)
        parts.append(
            f'<g data-key="{escape(b.key)}" data-value="{b.value}">'
            f'<text class="label" x="{PAD}" y="{y + 19}">{escape(b.label[:28])}</text>'
            f'<rect class="{escape(b.kind)}" x="{PAD + LABEL_W}" y="{y + 5}" width="{length}" '
            f'height="{ROW - 10}"><title>{escape(b.label)}: {escape(b.text)}</title></rect>'
            f'<text class="value" x="{PAD + LABEL_W + length + 6}" y="{y + 19}">'
            f"{escape(b.text)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)
