"""Bar charts drawn on the server as inline SVG: no script, no chart library, nothing from a CDN.

Colours come from the admin's own CSS variables (idp/static/idp/activity.css),
so a chart follows the admin's light or dark theme; the SVG scales to its
box's width, so it reads on a phone. A chart is an image to screen readers
(role="img" with a title and a description); its numbers are in the table
the template puts beside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

WIDTH = 600
HEIGHT = 160
TOP = 16  # room for the highest value's label
BOTTOM = 20  # room for the first and last labels
GAP = 2


@dataclass(frozen=True)
class Bar:
    label: str  # e.g. "14:00" or "2 Dec"
    value: int


def _nice_max(value: int) -> int:
    """The axis top: 1, 2 or 5 times a power of ten, at least the largest value."""
    if value <= 0:
        return 1
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale >= value:
                return step * scale
        scale *= 10


def bar_chart(*, chart_id: str, title: str, bars: list[Bar]) -> SafeString:
    top = _nice_max(max((bar.value for bar in bars), default=0))
    plot = HEIGHT - TOP - BOTTOM
    width = WIDTH / max(len(bars), 1)
    rects = []
    for index, bar in enumerate(bars):
        height = round(plot * bar.value / top, 1)
        rects.append(
            (
                round(index * width + GAP / 2, 1),
                round(TOP + plot - height, 1),
                round(max(width - GAP, 1), 1),
                height,
                f"{bar.label}: {bar.value}",
            )
        )
    total = sum(bar.value for bar in bars)
    first, last = (bars[0].label, bars[-1].label) if bars else ("", "")
    return format_html(
        '<svg class="activity-chart" viewBox="0 0 {w} {h}" role="img" aria-labelledby="{id}-title {id}-desc" '
        'focusable="false">'
        '<title id="{id}-title">{title}</title><desc id="{id}-desc">{total} in all, at most {max} in one bar, '
        "from {first} to {last}.</desc>"
        '<line class="axis" x1="0" y1="{base}" x2="{w}" y2="{base}"></line>'
        '<text class="label" x="2" y="11">{top}</text>'
        "{rects}"
        '<text class="label" x="2" y="{h_label}">{first}</text>'
        '<text class="label" x="{w_end}" y="{h_label}" text-anchor="end">{last}</text>'
        "</svg>",
        w=WIDTH,
        h=HEIGHT,
        id=chart_id,
        title=title,
        total=total,
        max=max((bar.value for bar in bars), default=0),
        first=first,
        last=last,
        base=TOP + plot,
        top=top,
        h_label=HEIGHT - 5,
        w_end=WIDTH - 2,
        rects=format_html_join(
            "",
            '<rect class="bar" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
            rects,
        ),
    )
