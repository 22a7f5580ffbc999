"""Report stage: charts as inline SVG, drawn in Python (no script, no external resource).

Every text that reaches the SVG goes through `esc` (html.escape with quote=True); numbers are
formatted by us, and attribute values are never taken from a log.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Final

from scraperwatch.schema import Category

# One colour per category, stable from report to report; bots warm, allowed kinds cool.
COLOURS: Final[dict[str, str]] = {
    Category.SPOOFED_CRAWLER.value: "#7f0000",
    Category.AI_TRAINING.value: "#d62728",
    Category.AI_SEARCH.value: "#ff7f0e",
    Category.AI_USER.value: "#e6a100",
    Category.SCRAPER.value: "#8c2d04",
    Category.SEO_CRAWLER.value: "#bc5090",
    Category.ARCHIVER.value: "#9467bd",
    Category.SCRAPING_TOOL.value: "#e377c2",
    Category.FAKE_BROWSER.value: "#a05195",
    Category.OTHER_BOT.value: "#b5a642",
    Category.SEARCH_ENGINE.value: "#2ca02c",
    Category.FEDERATION.value: "#17becf",
    Category.LINK_PREVIEW.value: "#6baed6",
    Category.MONITORING.value: "#7f7f7f",
    Category.FEED_READER.value: "#9ecae1",
    Category.BROWSER.value: "#1f77b4",
    "unclassified": "#c7c7c7",
}
OTHER_COLOUR: Final = "#999999"
FONT: Final = 'font-family="system-ui, sans-serif" font-size="12"'


def esc(value: object) -> str:
    """Text for HTML and SVG: every string from a log passes here."""
    return html.escape("" if value is None else str(value), quote=True)


def colour(category: str) -> str:
    return COLOURS.get(category, OTHER_COLOUR)


def human(n: float) -> str:
    """1234 -> 1.2k, 5600000 -> 5.6M."""
    value = float(n)
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.1f}{unit}"
    return f"{value:.0f}"


def human_bytes(n: float) -> str:
    value = float(n)
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value:.0f} B"


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return float(step * exp)
    return float(10 * exp)  # pragma: no cover


def stacked_columns(
    labels: Sequence[str],
    series: Mapping[str, Sequence[int]],
    *,
    title: str,
    width: int = 1160,
    height: int = 320,
) -> str:
    """Columns over time, one stack per label, one coloured layer per category (series key)."""
    left, right, top, bottom = 64, 12, 12, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    n = max(1, len(labels))
    totals = [sum(values[i] for values in series.values()) for i in range(len(labels))]
    ymax = _nice_max(max(totals, default=0))
    slot = plot_w / n
    bar = max(1.0, slot * 0.85)
    parts = [
        f'<svg class="chart" role="img" aria-label="{esc(title)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="100%" {FONT}>',
        f"<title>{esc(title)}</title>",
    ]
    for k in range(5):
        value = ymax * k / 4
        y = top + plot_h - plot_h * k / 4
        parts.append(
            f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#ddd"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#555">{esc(human(value))}</text>'
        )
    for i, label in enumerate(labels):
        x = left + i * slot + (slot - bar) / 2
        y = top + plot_h
        for category, values in series.items():
            v = values[i]
            if not v:
                continue
            h = plot_h * v / ymax
            y -= h
            parts.append(
                f'<rect class="bar" x="{x:.2f}" y="{y:.2f}" width="{bar:.2f}" height="{h:.2f}" '
                f'fill="{colour(category)}"><title>{esc(label)}: {esc(category)} {v}</title></rect>'
            )
    step = max(1, math.ceil(n / 10))
    for i in range(0, len(labels), step):
        x = left + i * slot + slot / 2
        anchor = "end" if x > width - right - 40 else "middle"  # keep the last one inside
        parts.append(
            f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="{anchor}" fill="#555">'
            f"{esc(labels[i])}</text>"
        )
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#888"/>'
    )
    parts.append("</svg>")
    return "".join(parts)


def horizontal_bars(
    rows: Sequence[tuple[str, Sequence[tuple[str, float, str]]]],
    *,
    title: str,
    value_text: Sequence[str] | None = None,
    width: int = 1160,
    label_width: int = 300,
) -> str:
    """One bar per row, made of (name, value, colour) segments; the label on the left."""
    row_h, top = 24, 8
    height = top * 2 + row_h * max(1, len(rows))
    longest = max((len(v) for v in value_text or ()), default=8)
    plot_w = width - label_width - min(360, max(80, 7 * longest + 16))
    vmax = max((sum(v for _, v, _ in segs) for _, segs in rows), default=0) or 1
    parts = [
        f'<svg class="chart" role="img" aria-label="{esc(title)}" xmlns="http://www.w3.org/2000/svg" '
        f'viewBox="0 0 {width} {height}" width="100%" {FONT}>',
        f"<title>{esc(title)}</title>",
    ]
    for i, (label, segments) in enumerate(rows):
        y = top + i * row_h
        shown = label if len(label) <= 48 else label[:47] + "…"
        parts.append(
            f'<text x="{label_width - 8}" y="{y + 16}" text-anchor="end" fill="#222">'
            f"<title>{esc(label)}</title>{esc(shown)}</text>"
        )
        x = float(label_width)
        for name, value, fill in segments:
            if value <= 0:
                continue
            w = max(1.0, plot_w * value / vmax)
            parts.append(
                f'<rect class="bar" x="{x:.2f}" y="{y + 4}" width="{w:.2f}" height="{row_h - 8}" '
                f'fill="{esc(fill)}"><title>{esc(label)}: {esc(name)} {esc(human(value))}</title></rect>'
            )
            x += w
        text = value_text[i] if value_text else human(sum(v for _, v, _ in segments))
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 16}" fill="#555">{esc(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def legend(items: Sequence[tuple[str, str]]) -> str:
    """An HTML legend: (name, colour) swatches."""
    return (
        '<p class="legend">'
        + "".join(
            f'<span><i style="background:{esc(fill)}"></i>{esc(name)}</span>'
            for name, fill in items
        )
        + "</p>"
    )
