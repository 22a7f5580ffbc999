"""Report stage: the figures of one window (verdicts, categories over time, robots.txt, bytes).

`collect_report` judges the requests with the scan's own judge and gathers what the HTML
report shows; `render_html` (report/html.py) turns it into one self-contained file.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import polars as pl

from scraperwatch import investigate as inv
from scraperwatch import schema as s
from scraperwatch.console import Reporter
from scraperwatch.detect import robots as rb
from scraperwatch.errors import InputError, OutputError
from scraperwatch.schema import Category

if TYPE_CHECKING:
    from scraperwatch.pipeline import Context

BUCKET: Final = "bucket"
LABEL: Final = "label"
READ_BY: Final = "read_by"  # clients of the agent that fetched robots.txt
STATUS_TEXT: Final = "behaviour"
STATE_FILE: Final = "report-offenders.json"
STATE_VERSION: Final = 1
NOT_BOTS: Final = frozenset({Category.BROWSER.value, inv.UNCLASSIFIED})
ALLOWED_KINDS: Final = frozenset(
    {
        Category.SEARCH_ENGINE.value,
        Category.FEDERATION.value,
        Category.LINK_PREVIEW.value,
        Category.MONITORING.value,
        Category.FEED_READER.value,
    }
)
_UA_LABEL_CHARS: Final = 60


@dataclass(frozen=True)
class ReportOptions:
    title: str = "scraperwatch report"
    top_offenders: int = 50
    top_agents: int = 25
    sources: tuple[str, ...] = ()  # what was read, for the header


@dataclass(frozen=True)
class Previous:
    """The offender list of the last run, to tell which offenders are new."""

    ips: frozenset[str]
    source: str
    generated: str | None = None


@dataclass
class ReportData:
    options: ReportOptions
    generated: datetime
    totals: dict[str, Any]
    bucket: str  # the width of a column of the time chart: 1h, 6h, 1d, 1w
    over_time: pl.DataFrame  # BUCKET, CATEGORY, REQUESTS
    categories: pl.DataFrame  # CATEGORY, REQUESTS, BYTES, CLIENTS
    offenders: pl.DataFrame  # OFFENDER_SCHEMA, most harmful first
    robots: pl.DataFrame  # per agent: LABEL, CATEGORY, CLIENTS, REQUESTS, READ_BY, disallowed ...
    robots_measured: bool
    bot_bytes: pl.DataFrame  # per agent: LABEL, CATEGORY, REQUESTS, BYTES, CLIENTS
    previous: Previous | None = None
    new_offenders: pl.DataFrame = field(default_factory=s.empty_offenders)
    gone: list[str] = field(default_factory=list)
    ruleset_digest: str = ""


def bucket_for(span: timedelta) -> str:
    """A column width that keeps the time chart between about 24 and 170 columns."""
    if span <= timedelta(days=7):
        return "1h"
    if span <= timedelta(days=28):
        return "6h"
    if span <= timedelta(days=170):
        return "1d"
    return "1w"


def _label() -> pl.Expr:
    """An agent's name: its rule's token, else the verdict's category, else its user agent."""
    ua = pl.col(s.USER_AGENT).fill_null("(no user agent)").str.head(_UA_LABEL_CHARS)
    return pl.coalesce(
        pl.col(inv.AGENT),
        pl.when(
            pl.col(inv.RULE_CATEGORY).is_null() & ~pl.col(s.CATEGORY).is_in(list(NOT_BOTS))
        ).then(pl.format("{} (by behaviour)", pl.col(s.CATEGORY))),
        ua,
    )


def collect_report(
    frame: pl.LazyFrame,
    ctx: Context,
    *,
    options: ReportOptions = ReportOptions(),
    previous: Previous | None = None,
    reporter: Reporter | None = None,
    now: datetime | None = None,
) -> ReportData:
    """Judge the requests and gather every figure of the report."""
    judged = inv.judge_window(frame, ctx, reporter=reporter)
    pairs = judged.pairs.with_columns(_label().alias(LABEL))
    result = judged.result
    totals_df = frame.select(
        pl.len().cast(pl.Int64).alias(s.REQUESTS),
        pl.col(s.BYTES_SENT).sum().cast(pl.Int64).alias(s.BYTES),
        pl.col(s.CLIENT_IP).n_unique().alias(inv.CLIENTS),
        pl.col(s.TS).min().alias(s.FIRST_SEEN),
        pl.col(s.TS).max().alias(s.LAST_SEEN),
    ).collect(engine="streaming")
    totals = totals_df.row(0, named=True)
    first, last = totals[s.FIRST_SEEN], totals[s.LAST_SEEN]
    bucket = bucket_for(last - first) if first and last else "1h"
    over_time = (
        inv.with_category(frame.select(s.TS, s.CLIENT_IP, s.USER_AGENT), judged.pairs)
        .group_by(pl.col(s.TS).dt.truncate(bucket).alias(BUCKET), s.CATEGORY)
        .agg(pl.len().cast(pl.Int64).alias(s.REQUESTS))
        .sort(BUCKET, s.CATEGORY)
        .collect(engine="streaming")
    )
    categories = (
        pairs.group_by(s.CATEGORY)
        .agg(
            pl.col(s.REQUESTS).sum(),
            pl.col(s.BYTES).sum(),
            pl.col(s.CLIENT_IP).n_unique().alias(inv.CLIENTS),
        )
        .sort([s.REQUESTS, s.CATEGORY], descending=[True, False])
    )
    bots = pairs.filter(~pl.col(s.CATEGORY).is_in(list(NOT_BOTS)))
    bot_bytes = (
        bots.group_by(LABEL)
        .agg(
            pl.col(s.CATEGORY).sort_by(s.REQUESTS, descending=True).first(),
            pl.col(s.REQUESTS).sum(),
            pl.col(s.BYTES).sum(),
            pl.col(s.CLIENT_IP).n_unique().alias(inv.CLIENTS),
        )
        .sort([s.BYTES, LABEL], descending=[True, False], nulls_last=True)
        .head(options.top_agents)
    )
    offenders = result.offenders
    totals.update(
        {
            "offenders": offenders.height,
            "blocked": offenders.filter(pl.col(s.ACTION) == s.Action.BLOCK.value).height,
            "bot_requests": int(bots[s.REQUESTS].sum()),
            "bot_bytes": int(bots[s.BYTES].sum() or 0),
        }
    )
    robots = robots_by_agent(frame, pairs, ctx.robots, limit=options.top_agents)
    data = ReportData(
        options=options,
        generated=now or datetime.now().astimezone(),
        totals=totals,
        bucket=bucket,
        over_time=over_time,
        categories=categories,
        offenders=offenders,
        robots=robots,
        robots_measured=ctx.robots is not None,
        bot_bytes=bot_bytes,
        previous=previous,
        ruleset_digest=result.ruleset_digest,
    )
    if previous is not None:
        data.new_offenders = offenders.filter(~pl.col(s.IP).is_in(list(previous.ips)))
        data.gone = sorted(previous.ips - set(offenders[s.IP].to_list()))
    return data


def robots_by_agent(
    frame: pl.LazyFrame, pairs: pl.DataFrame, robots: rb.Robots | None, *, limit: int
) -> pl.DataFrame:
    """Per agent: did its clients read robots.txt, and then fetch what it disallows for them?"""
    fetched = (
        frame.filter(pl.col(s.PATH) == inv.ROBOTS_PATH)
        .group_by(s.CLIENT_IP, s.USER_AGENT)
        .agg(pl.len().cast(pl.Int64).alias(inv.ROBOTS_FETCHES))
        .collect(engine="streaming")
    )
    cand = pairs.join(fetched, on=[s.CLIENT_IP, s.USER_AGENT], how="left", nulls_equal=True)
    # Crawlers, named or judged by behaviour, and whoever read robots.txt. Federation,
    # link previews, monitoring and feed readers fetch what they are given: not crawling.
    not_crawlers = list(NOT_BOTS | (ALLOWED_KINDS - {Category.SEARCH_ENGINE.value}))
    cand = cand.with_columns(pl.col(inv.ROBOTS_FETCHES).fill_null(0)).filter(
        ~pl.col(s.CATEGORY).is_in(not_crawlers) | (pl.col(inv.ROBOTS_FETCHES) > 0)
    )
    # Keep the heaviest agents only: robots.txt matching runs in Python, per request.
    keep = (
        cand.group_by(LABEL)
        .agg(pl.col(s.REQUESTS).sum())
        .sort([s.REQUESTS, LABEL], descending=[True, False])
        .head(limit)[LABEL]
    )
    cand = cand.filter(pl.col(LABEL).is_in(keep.implode()))
    zero = pl.lit(0, pl.Int64)
    if robots is not None and cand.height:
        rows = (
            frame.select(s.CLIENT_IP, s.USER_AGENT, s.TS, s.PATH, s.QUERY)
            .join(
                cand.lazy().select(s.CLIENT_IP, s.USER_AGENT),
                on=[s.CLIENT_IP, s.USER_AGENT],
                how="semi",
                nulls_equal=True,
            )
            .collect(engine="streaming")
        )
        comp = rb.compliance(rows, robots)
        cand = cand.join(comp, on=[s.CLIENT_IP, s.USER_AGENT], how="left", nulls_equal=True)
    else:
        cand = cand.with_columns(
            zero.alias(rb.R_DISALLOWED),
            zero.alias(rb.R_DISALLOWED_ANY),
            pl.lit(None, pl.String).alias(rb.R_SAMPLE),
            pl.lit(None, pl.Float64).alias(rb.R_CRAWL_DELAY),
            pl.lit(None, pl.Float64).alias(rb.R_MEDIAN_GAP),
        )
    per_agent = (
        cand.group_by(LABEL)
        .agg(
            pl.col(s.CATEGORY).sort_by(s.REQUESTS, descending=True).first(),
            pl.col(s.CLIENT_IP).n_unique().alias(inv.CLIENTS),
            pl.col(s.REQUESTS).sum(),
            pl.col(s.CLIENT_IP).filter(pl.col(inv.ROBOTS_FETCHES) > 0).n_unique().alias(READ_BY),
            pl.col(rb.R_DISALLOWED).fill_null(0).sum(),
            pl.col(rb.R_DISALLOWED_ANY).fill_null(0).sum(),
            pl.col(rb.R_SAMPLE).drop_nulls().first(),
            pl.col(rb.R_CRAWL_DELAY).max(),
            pl.col(rb.R_MEDIAN_GAP).min(),
        )
        .sort([s.REQUESTS, LABEL], descending=[True, False])
    )
    return per_agent.with_columns(_behaviour(robots is not None).alias(STATUS_TEXT))


def _behaviour(measured: bool) -> pl.Expr:
    read = pl.col(READ_BY) > 0
    if not measured:
        return (
            pl.when(read).then(pl.lit("read robots.txt")).otherwise(pl.lit("never read robots.txt"))
        )
    after = pl.col(rb.R_DISALLOWED) > 0
    anyd = pl.col(rb.R_DISALLOWED_ANY) > 0
    too_fast = (pl.col(rb.R_CRAWL_DELAY) > 0) & (pl.col(rb.R_MEDIAN_GAP) < pl.col(rb.R_CRAWL_DELAY))
    return (
        pl.when(after)
        .then(pl.lit("ignored it: disallowed paths after reading"))
        .when(anyd & ~read)
        .then(pl.lit("never read it; fetched disallowed paths"))
        .when(anyd)
        .then(pl.lit("fetched disallowed paths before reading it"))
        .when(read & too_fast.fill_null(False))
        .then(pl.lit("ignored Crawl-delay"))
        .when(read)
        .then(pl.lit("complied"))
        .otherwise(pl.lit("never read it; nothing disallowed fetched"))
    )


# --------------------------------------------------------------------------------------------
# The offender list of the last run


def load_previous(path: Path) -> Previous:
    """Read an offender list: a report state file, or `scan --format json` output."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(
            f"{path}: cannot read the previous offender list ({err.strerror})"
        ) from err
    except ValueError as err:
        raise InputError(
            f"{path}: not JSON ({err}); give the file of `scraperwatch scan --format json` "
            f"or the {STATE_FILE} of a --state folder"
        ) from err
    items = doc.get("offenders") if isinstance(doc, dict) else doc
    if not isinstance(items, list) or not all(
        isinstance(o, dict) and isinstance(o.get(s.IP), str) for o in items
    ):
        raise InputError(
            f"{path}: expected an object whose `offenders` is a list of objects with `ip`, "
            "as `scraperwatch scan --format json` writes"
        )
    generated = doc.get("generated") if isinstance(doc, dict) else None
    return Previous(frozenset(o[s.IP] for o in items), str(path), generated)


def load_state(state_dir: Path) -> Previous | None:
    path = state_dir / STATE_FILE
    return load_previous(path) if path.exists() else None


def save_state(state_dir: Path, offenders: pl.DataFrame, *, generated: datetime) -> Path:
    """Keep this run's offender list for the next report (atomically)."""
    keep = [s.IP, s.SCOPE, s.CATEGORY, s.ACTION, s.REQUESTS, s.FIRST_SEEN, s.LAST_SEEN]
    rows = json.loads(offenders.select(keep).write_json()) if offenders.height else []
    doc = {
        "version": STATE_VERSION,
        "generated": generated.isoformat(timespec="seconds"),
        "offenders": rows,
    }
    path = state_dir / STATE_FILE
    write_atomic(path, json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    return path


def write_atomic(path: Path, text: str) -> None:
    """Write through a temporary file in the same folder, then rename over the target."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as err:
        raise OutputError(f"{path}: cannot write here ({err.strerror}); check the folder") from err
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        Path(tmp).chmod(0o644)  # mkstemp makes it private; a report is meant to be read
        Path(tmp).replace(path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write it ({err.strerror})") from err
