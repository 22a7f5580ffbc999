"""Report stage: ReportData -> one self-contained HTML page (inline CSS and SVG, no script).

The page loads nothing: a Content-Security-Policy of `default-src 'none'` forbids every
script, font, frame and remote image, and there is no script to forbid. Every string that
came from a log passes through `charts.esc`; the page has no event handler attributes and no
links built from data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Final

import polars as pl

from scraperwatch import __version__
from scraperwatch import investigate as inv
from scraperwatch import schema as s
from scraperwatch.detect import robots as rb
from scraperwatch.report import charts
from scraperwatch.report.charts import esc, human, human_bytes
from scraperwatch.report.report import (
    BUCKET,
    LABEL,
    NOT_BOTS,
    READ_BY,
    STATUS_TEXT,
    ReportData,
)

CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_STEPS: Final = {
    "1h": timedelta(hours=1),
    "6h": timedelta(hours=6),
    "1d": timedelta(days=1),
    "1w": timedelta(weeks=1),
}
_TICK_FORMAT: Final = {"1h": "%m-%d %H:00", "6h": "%m-%d %H:00", "1d": "%Y-%m-%d", "1w": "%Y-%m-%d"}
_ROBOTS_OK: Final = "#74c476"
_ROBOTS_UNREAD: Final = "#fd8d3c"
_ROBOTS_IGNORED: Final = "#cb181d"
_ROBOTS_NEVER: Final = "#bdbdbd"

CSS: Final = """
:root{color-scheme:light}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;background:#f6f6f4;color:#1d1d1d}
main{max-width:1200px;margin:0 auto;padding:16px 20px 40px}
h1{font-size:24px;margin:8px 0 4px}h2{font-size:18px;margin:0 0 10px}
section{background:#fff;border:1px solid #e2e2de;border-radius:8px;padding:16px;margin:16px 0}
.meta{color:#555;margin:0}.note{color:#666;font-size:13px}
.cards{display:flex;flex-wrap:wrap;gap:12px;background:none;border:0;padding:0}
.card{flex:1 1 150px;background:#fff;border:1px solid #e2e2de;border-radius:8px;padding:12px}
.card b{display:block;font-size:22px}.card span{color:#666;font-size:12px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eee;vertical-align:top}
th{background:#fafaf8;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
td.wrap{word-break:break-all;max-width:420px}
.chip{display:inline-block;padding:1px 7px;border-radius:10px;color:#fff;font-size:12px;white-space:nowrap}
.block{color:#b00020;font-weight:600}.watch{color:#8a6d00;font-weight:600}
.legend span{display:inline-block;margin:0 14px 4px 0;font-size:12px}
.legend i{display:inline-block;width:11px;height:11px;border-radius:2px;margin-right:5px;vertical-align:-1px}
details summary{cursor:pointer;color:#2358a8}details ul{margin:6px 0 4px 18px;padding:0}
code{font:12px ui-monospace,monospace;background:#f2f2ef;padding:0 3px;border-radius:3px;word-break:break-all}
.new{color:#b00020;font-weight:600}
"""


class Html(str):
    """A fragment built here, from escaped parts: the table helper leaves it as it is."""


def _cell(value: Any) -> str:
    if isinstance(value, Html):
        return value
    if isinstance(value, datetime):
        return esc(_when(value))
    if isinstance(value, float):
        return esc(f"{value:.3g}")
    return esc(value)


def _when(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M UTC")


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], numeric: Sequence[int] = ()
) -> str:
    head = "".join(
        f'<th class="n">{esc(h)}</th>' if i in numeric else f"<th>{esc(h)}</th>"
        for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        cells = []
        for i, value in enumerate(row):
            cls = (
                ' class="n"'
                if i in numeric
                else (' class="wrap"' if isinstance(value, str) and len(value) > 40 else "")
            )
            cells.append(f"<td{cls}>{_cell(value)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _chip(category: str) -> Html:
    return Html(
        f'<span class="chip" style="background:{charts.colour(category)}">{esc(category)}</span>'
    )


def _action(action: str) -> Html:
    cls = "block" if action == s.Action.BLOCK.value else "watch"
    return Html(f'<span class="{cls}">{esc(action)}</span>')


def render_html(data: ReportData) -> str:
    """The whole report page."""
    o = data.options
    t = data.totals
    first, last = t.get(s.FIRST_SEEN), t.get(s.LAST_SEEN)
    window = f"{_when(first)} to {_when(last)}" if first else "no requests"
    sources = ", ".join(o.sources) if o.sources else ""
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{esc(CSP)}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(o.title)}</title><style>{CSS}</style></head><body><main>",
        f"<header><h1>{esc(o.title)}</h1>",
        f'<p class="meta">{esc(window)}'
        + (f" &middot; read from {esc(sources)}" if sources else "")
        + f" &middot; generated {esc(data.generated.strftime('%Y-%m-%d %H:%M %Z'))}</p></header>",
        _cards(data),
        _over_time(data),
        _new_offenders(data),
        _offenders(data),
        _robots(data),
        _bytes(data),
        f'<footer class="note">scraperwatch {esc(__version__)}'
        + (f" &middot; rule set {esc(data.ruleset_digest[:16])}" if data.ruleset_digest else "")
        + "</footer></main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _cards(data: ReportData) -> str:
    t = data.totals
    share = t["bot_bytes"] / t[s.BYTES] if t.get(s.BYTES) else 0.0
    cards = [
        (human(t[s.REQUESTS]), "requests"),
        (human(t[inv.CLIENTS]), "client addresses"),
        (str(t["offenders"]), "offenders"),
        (str(t["blocked"]), "to block"),
        (human_bytes(t["bot_bytes"]), f"served to bots ({share:.0%} of bytes)"),
    ]
    if data.previous is not None:
        cards.append((str(data.new_offenders.height), "new since the last run"))
    inner = "".join(
        f'<div class="card"><b>{esc(v)}</b><span>{esc(k)}</span></div>' for v, k in cards
    )
    return f'<section class="cards" id="totals">{inner}</section>'


def _over_time(data: ReportData) -> str:
    title = "Requests over time by category"
    frame = data.over_time
    if frame.is_empty():
        return f'<section id="over-time"><h2>{esc(title)}</h2><p>No requests in the window.</p></section>'
    step = _STEPS[data.bucket]
    start, end = frame[BUCKET].min(), frame[BUCKET].max()
    assert isinstance(start, datetime)
    assert isinstance(end, datetime)
    buckets: list[datetime] = []
    at = start
    while at <= end:
        buckets.append(at)
        at += step
    index = {b: i for i, b in enumerate(buckets)}
    order = [c for c in charts.COLOURS if c in set(frame[s.CATEGORY].to_list())]
    order += sorted(set(frame[s.CATEGORY].to_list()) - set(order))
    series = {c: [0] * len(buckets) for c in order}
    for bucket, category, n in frame.select(BUCKET, s.CATEGORY, s.REQUESTS).iter_rows():
        i = index.get(bucket)
        if i is not None:
            series[category][i] += int(n)
    labels = [b.strftime(_TICK_FORMAT[data.bucket]) for b in buckets]
    svg = charts.stacked_columns(labels, series, title=f"{title}, per {data.bucket} (UTC)")
    legend = charts.legend([(c, charts.colour(c)) for c in order])
    rows = [
        (_chip(r[s.CATEGORY]), r[s.REQUESTS], human_bytes(r[s.BYTES] or 0), r[inv.CLIENTS])
        for r in data.categories.iter_rows(named=True)
    ]
    return (
        f'<section id="over-time"><h2>{esc(title)}</h2>'
        f'<p class="note">One column per {esc(data.bucket)}. A client takes the category of its '
        "verdict, else of the rule that names its user agent; unnamed user agents that claim "
        f"Mozilla count as browsers.</p>{svg}{legend}"
        + _table(["category", "requests", "bytes", "clients"], rows, numeric=(1, 2, 3))
        + "</section>"
    )


def _evidence(row: dict[str, Any]) -> Html:
    items = []
    for e in row[s.EVIDENCE] or []:
        figure = ""
        if e.get("value") is not None:
            figure = f" ({e['value']:.4g}"
            figure += f" against {e['threshold']:.4g})" if e.get("threshold") is not None else ")"
        items.append(
            f"<li><b>{esc(e.get('id'))}</b> <i>{esc(e.get('source'))}</i>: "
            f"{esc(e.get('detail'))}{esc(figure)}</li>"
        )
    uas = "".join(f"<li><code>{esc(u)}</code></li>" for u in row[s.USER_AGENTS] or [])
    paths = "".join(f"<li><code>{esc(p)}</code></li>" for p in row[s.PATHS] or [])
    place = ", ".join(
        str(x)
        for x in (
            f"AS{row[s.ASN]}" if row.get(s.ASN) is not None else None,
            row.get(s.AS_ORG),
            row.get(s.COUNTRY),
        )
        if x
    )
    body = (
        f"<ul>{''.join(items)}</ul>"
        + (f"<p>Terms: {esc(row[s.CLAUSE])}</p>" if row.get(s.CLAUSE) else "")
        + (f"<p>Network: {esc(place)}</p>" if place else "")
        + (f"<p>User agents:</p><ul>{uas}</ul>" if uas else "")
        + (f"<p>Paths:</p><ul>{paths}</ul>" if paths else "")
        + f"<p>Rules: {esc(', '.join(row[s.RULES] or []))}</p>"
    )
    count = len(row[s.EVIDENCE] or [])
    return Html(f"<details><summary>{count} items</summary>{body}</details>")


def _offenders(data: ReportData) -> str:
    off = data.offenders
    title = "Top offenders"
    if off.is_empty():
        return f'<section id="offenders"><h2>{esc(title)}</h2><p>No offenders in the window.</p></section>'
    new = set(data.new_offenders[s.IP].to_list()) if data.previous is not None else set()
    rows = []
    for r in off.head(data.options.top_offenders).iter_rows(named=True):
        ip = Html(esc(r[s.IP]) + (' <span class="new">new</span>' if r[s.IP] in new else ""))
        rows.append(
            (
                ip,
                _chip(r[s.CATEGORY]),
                _action(r[s.ACTION]),
                f"{r[s.CONFIDENCE]:.2f}",
                r[s.REQUESTS],
                human_bytes(r[s.BYTES] or 0),
                r[s.FIRST_SEEN],
                r[s.LAST_SEEN],
                r[s.WHY],
                _evidence(r),
            )
        )
    more = off.height - len(rows)
    note = f'<p class="note">{more} more offenders are not shown.</p>' if more > 0 else ""
    headers = [
        "client",
        "category",
        "action",
        "conf.",
        "requests",
        "bytes",
        "first seen",
        "last seen",
        "why",
        "evidence",
    ]
    return (
        f'<section id="offenders"><h2>{esc(title)}</h2>'
        + _table(headers, rows, numeric=(3, 4, 5))
        + note
        + "</section>"
    )


def _new_offenders(data: ReportData) -> str:
    title = "New offenders since the last run"
    if data.previous is None:
        return (
            f'<section id="new"><h2>{esc(title)}</h2><p class="note">No earlier list to compare '
            "with: give --state DIR (the list is kept there for the next run) or --previous "
            "FILE.json.</p></section>"
        )
    prev = data.previous
    since = f" of {prev.generated}" if prev.generated else ""
    new = data.new_offenders
    rows = [
        (r[s.IP], _chip(r[s.CATEGORY]), _action(r[s.ACTION]), r[s.REQUESTS], r[s.WHY])
        for r in new.iter_rows(named=True)
    ]
    table = (
        _table(["client", "category", "action", "requests", "why"], rows, numeric=(3,))
        if rows
        else "<p>None: every offender was already on the list.</p>"
    )
    gone = ""
    if data.gone:
        shown = ", ".join(data.gone[:40]) + (" ..." if len(data.gone) > 40 else "")
        gone = f'<p class="note">{len(data.gone)} earlier offenders are not seen in this window: {esc(shown)}</p>'
    return (
        f'<section id="new"><h2>{esc(title)}</h2><p class="note">Compared with the list{esc(since)} '
        f"in {esc(prev.source)} ({len(prev.ips)} offenders).</p>{table}{gone}</section>"
    )


def _robots(data: ReportData) -> str:
    title = "robots.txt compliance per agent"
    frame = data.robots
    if frame.is_empty():
        return f'<section id="robots"><h2>{esc(title)}</h2><p>No bots in the window.</p></section>'
    bars = []
    for r in frame.iter_rows(named=True):
        total = r[s.REQUESTS]
        if data.robots_measured:
            after, anyd = r[rb.R_DISALLOWED], r[rb.R_DISALLOWED_ANY]
            segs = [
                ("allowed requests", total - anyd, _ROBOTS_OK),
                ("disallowed, not after reading robots.txt", anyd - after, _ROBOTS_UNREAD),
                ("disallowed after reading robots.txt", after, _ROBOTS_IGNORED),
            ]
        else:
            fill = _ROBOTS_OK if r[READ_BY] else _ROBOTS_NEVER
            segs = [(r[STATUS_TEXT], total, fill)]
        bars.append((r[LABEL], segs))
    svg = charts.horizontal_bars(
        bars, title=title, value_text=[r[STATUS_TEXT] for r in frame.iter_rows(named=True)]
    )
    if data.robots_measured:
        legend = charts.legend(
            [
                ("allowed", _ROBOTS_OK),
                ("disallowed, not after reading", _ROBOTS_UNREAD),
                ("disallowed after reading robots.txt", _ROBOTS_IGNORED),
            ]
        )
        note = "Disallowed means disallowed for the agent's own user-agent group (RFC 9309)."
    else:
        legend = charts.legend([("read robots.txt", _ROBOTS_OK), ("never read it", _ROBOTS_NEVER)])
        note = (
            "Give --robots FILE (your robots.txt) to count the disallowed paths each agent fetched."
        )
    rows = [
        (
            r[LABEL],
            _chip(r[s.CATEGORY]),
            r[inv.CLIENTS],
            r[s.REQUESTS],
            f"{r[READ_BY]} of {r[inv.CLIENTS]}",
            r[rb.R_DISALLOWED] if data.robots_measured else "",
            r[rb.R_DISALLOWED_ANY] if data.robots_measured else "",
            r[rb.R_CRAWL_DELAY],
            r[rb.R_MEDIAN_GAP],
            r[STATUS_TEXT],
            r[rb.R_SAMPLE],
        )
        for r in frame.iter_rows(named=True)
    ]
    headers = [
        "agent",
        "category",
        "clients",
        "requests",
        "read robots.txt",
        "disallowed after reading",
        "disallowed in all",
        "crawl-delay (s)",
        "median gap (s)",
        "behaviour",
        "a disallowed URL",
    ]
    return (
        f'<section id="robots"><h2>{esc(title)}</h2><p class="note">{esc(note)}</p>{svg}{legend}'
        + _table(headers, rows, numeric=(2, 3, 5, 6, 7, 8))
        + "</section>"
    )


def _bytes(data: ReportData) -> str:
    title = "Bytes served to bots"
    cats = data.categories.filter(~pl.col(s.CATEGORY).is_in(list(NOT_BOTS)))
    if cats.is_empty():
        return f'<section id="bytes"><h2>{esc(title)}</h2><p>No bots in the window.</p></section>'
    cats = cats.sort([s.BYTES, s.CATEGORY], descending=[True, False], nulls_last=True)
    by_cat = charts.horizontal_bars(
        [
            (r[s.CATEGORY], [("bytes", float(r[s.BYTES] or 0), charts.colour(r[s.CATEGORY]))])
            for r in cats.iter_rows(named=True)
        ],
        title=f"{title}, by category",
        value_text=[human_bytes(r[s.BYTES] or 0) for r in cats.iter_rows(named=True)],
        label_width=200,
    )
    agents = data.bot_bytes
    by_agent = charts.horizontal_bars(
        [
            (r[LABEL], [("bytes", float(r[s.BYTES] or 0), charts.colour(r[s.CATEGORY]))])
            for r in agents.iter_rows(named=True)
        ],
        title=f"{title}, by agent",
        value_text=[human_bytes(r[s.BYTES] or 0) for r in agents.iter_rows(named=True)],
    )
    rows = [
        (
            r[LABEL],
            _chip(r[s.CATEGORY]),
            r[s.REQUESTS],
            human_bytes(r[s.BYTES] or 0),
            r[inv.CLIENTS],
        )
        for r in agents.iter_rows(named=True)
    ]
    return (
        f'<section id="bytes"><h2>{esc(title)}</h2>{by_cat}<h2>By agent</h2>{by_agent}'
        + _table(["agent", "category", "requests", "bytes", "clients"], rows, numeric=(2, 3, 4))
        + "</section>"
    )
