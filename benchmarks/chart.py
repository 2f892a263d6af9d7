"""The in-process results as an SVG bar chart, written with the standard library only.

One group of horizontal bars per scenario, one bar per framework: its µs per request as a
multiple of the raw ASGI app's (the floor, 1x). Lower is better. The axis is logarithmic,
since the multiples run from about 1x to several hundred.
"""

import math
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from benchmarks.apps import FRAMEWORKS, Framework
from benchmarks.inprocess import Results, Scenario

COLOURS: dict[Framework, str] = {
    "microasgi": "#d62728",
    "starlette": "#1f77b4",
    "fastapi": "#2ca02c",
    "litestar": "#9467bd",
    "falcon": "#ff7f0e",
    "blacksheep": "#7f7f7f",
}
BAR = 7  # bar height in pixels
GAP = 10  # space between scenario groups
LABEL_WIDTH = 330
PLOT_WIDTH = 560
TOP = 50


def multiples(results: Results, key: str) -> dict[Framework, float]:
    """Each timed framework's µs on ``key`` divided by the raw app's (none without raw)."""
    outcomes = results.get(key, {})
    raw = outcomes.get("raw")
    floor = raw.microseconds if raw is not None else None
    if not floor:
        return {}
    found: dict[Framework, float] = {}
    for name in FRAMEWORKS[1:]:
        outcome = outcomes.get(name)
        value = outcome.microseconds if outcome is not None else None
        if value is not None:
            found[name] = value / floor
    return found


def render(scenarios: Sequence[Scenario], results: Results, title: str) -> str:
    """The SVG document for these results."""
    frameworks = [name for name in FRAMEWORKS[1:] if name in COLOURS]
    rows = [(scenario.label, multiples(results, scenario.key)) for scenario in scenarios]
    rows = [(label, found) for label, found in rows if found]
    largest = max((value for _, found in rows for value in found.values()), default=10.0)
    decades = max(1, math.ceil(math.log10(max(largest, 1.0001))))

    def x_of(multiple: float) -> float:
        return LABEL_WIDTH + PLOT_WIDTH * math.log10(max(multiple, 1.0)) / decades

    group_height = BAR * len(frameworks) + GAP
    height = TOP + group_height * len(rows) + 30
    width = LABEL_WIDTH + PLOT_WIDTH + 60
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
    ]
    legend_x = 10
    for name in frameworks:
        parts.append(
            f'<rect x="{legend_x}" y="28" width="10" height="10" fill="{COLOURS[name]}"/>'
            f'<text x="{legend_x + 14}" y="37">{name}</text>'
        )
        legend_x += 24 + 7 * len(name)
    for decade in range(decades + 1):
        x = x_of(10.0**decade)
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP - 4}" x2="{x:.1f}" y2="{height - 24}" '
            f'stroke="#ccc"/><text x="{x:.1f}" y="{height - 10}" text-anchor="middle">'
            f"{10**decade:,}x raw</text>"
        )
    for index, (label, found) in enumerate(rows):
        top = TOP + index * group_height
        middle = top + BAR * len(frameworks) / 2 + 4
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{middle:.1f}" text-anchor="end">{escape(label)}</text>'
        )
        for slot, name in enumerate(frameworks):
            if name not in found:
                continue
            y = top + slot * BAR
            right = x_of(found[name])
            parts.append(
                f'<rect x="{LABEL_WIDTH}" y="{y}" width="{max(right - LABEL_WIDTH, 1):.1f}" '
                f'height="{BAR - 1}" fill="{COLOURS[name]}"><title>{name}: '
                f"{found[name]:.2f}x raw</title></rect>"
            )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def write_chart(path: Path, scenarios: Sequence[Scenario], results: Results, title: str) -> None:
    """Write the chart to ``path`` (its folder is created when missing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(scenarios, results, title), encoding="utf-8")
