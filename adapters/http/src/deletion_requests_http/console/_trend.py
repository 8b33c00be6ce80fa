"""The trend chart, drawn on the server as SVG: tasks created, cancelled, actioned, completed
and marked overdue a day."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup

from deletion_requests.stores import DayCount

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 52, 16, 14, 34
SERIES = (
    # (field, label, class): each line has its own colour and dash pattern; the page's
    # legend draws the same line beside each label.
    ("created", "Created", "created"),
    ("cancelled", "Cancelled", "cancelled"),
    ("actioned", "Actioned", "actioned"),
    ("completed", "Completed", "completed"),
    ("overdue", "Overdue", "overdue"),
)


def _nice_ceiling(value: int) -> int:
    """The smallest of 2, 4, 10, 20, 40, 100, ... at or above *value*: even, so that the
    middle tick is a whole number too."""
    step = 1
    while True:
        for factor in (2, 4, 10):
            if step * factor >= value:
                return step * factor
        step *= 10


def trend_svg(days: Sequence[DayCount]) -> Markup:
    """An SVG line chart of *days* (oldest first), one line per `SERIES`, with axes, and a
    title and description for screen readers. Every number in it is computed here, none is
    the user's. Its text is sized for the chart's smallest width in the stylesheet."""
    peak = max([1, *(getattr(d, field) for d in days for field, _, _ in SERIES)])
    top = _nice_ceiling(peak)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(days) - 1)

    def x(i: int) -> float:
        return LEFT + i * step

    def y(value: int) -> float:
        return TOP + plot_h - value / top * plot_h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'role="img" aria-labelledby="trend-title trend-desc" class="trend">',
        '<title id="trend-title">Tasks a day</title>',
        f'<desc id="trend-desc">Tasks created, cancelled, actioned, completed and marked '
        f"overdue on each of the last {len(days)} days; the table below gives every number."
        "</desc>",
    ]
    for tick in (0, top // 2, top):
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(tick):.1f}" '
            f'y2="{y(tick):.1f}"/><text class="axis" x="{LEFT - 8}" y="{y(tick) + 5:.1f}" '
            f'text-anchor="end">{tick}</text>'
        )
    for i, day in enumerate(days):
        if i % 10 == 0 or i == len(days) - 1:
            anchor = "end" if i == len(days) - 1 else "start" if i == 0 else "middle"
            parts.append(
                f'<text class="axis" x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 24}" '
                f'text-anchor="{anchor}">{day.day.strftime("%d %b")}</text>'
            )
    for field, _, css in SERIES:
        points = " ".join(f"{x(i):.1f},{y(getattr(d, field)):.1f}" for i, d in enumerate(days))
        parts.append(f'<polyline class="series {css}" points="{points}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (built from numbers, dates and fixed text)
