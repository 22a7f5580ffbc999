"""`scraperwatch investigate`, `top` and `query`: digging into the logs or the store."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from scraperwatch import console
from scraperwatch import investigate as inv
from scraperwatch import schema as s
from scraperwatch.cli.base import app, guarded
from scraperwatch.cli.common import (
    LogFormatOpt,
    QuietOpt,
    StrictOpt,
    TrustedProxyOpt,
    print_read_summary,
)
from scraperwatch.cli.scan import (
    AllowOpt,
    AsnDbOpt,
    CanaryOpt,
    GeoDbOpt,
    NoDefaultAllowOpt,
    PolicyOpt,
    RangesOpt,
    RobotsOpt,
    RulesOpt,
    build_settings,
)
from scraperwatch.detect import robots as rb
from scraperwatch.enrich import Enricher
from scraperwatch.pipeline import Context, ScanSettings, judge
from scraperwatch.reader import ReadOptions


class ViewFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


OptLogsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Log files, globs, directories or - for standard input (or use --store).",
        show_default=False,
    ),
]
StoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--store", help="Read the Parquet store (scraperwatch ingest --store) instead of logs."
    ),
]
SinceOpt = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="From this time: ISO date or time (UTC unless given), or a span "
        "back from now such as 24h or 7d.",
    ),
]
UntilOpt = Annotated[
    str | None,
    typer.Option(
        "--until", help="Before this time (a bare date includes that day), or a span back from now."
    ),
]
FormatOpt = Annotated[
    ViewFormat, typer.Option("--format", help="table (for people), json or csv (data on stdout).")
]
LimitOpt = Annotated[int, typer.Option("--limit", "-n", min=1, help="Rows per list.")]


def request_source(
    logs: list[str] | None,
    store: Path | None,
    since: str | None,
    until: str | None,
    read: ReadOptions,
) -> inv.RequestSource:
    now = datetime.now(UTC)
    window = inv.Window(
        inv.parse_time(since, now=now) if since else None,
        inv.parse_time(until, now=now, end=True) if until else None,
    )
    return inv.RequestSource(tuple(logs or ()), store, read, window)


def _cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, float):
        return f"{value:.4g}"
    return value


def show(frame: pl.DataFrame, fmt: ViewFormat, *, title: str | None = None) -> None:
    """Write a frame: a table for people, or JSON (an array of objects) or CSV on stdout."""
    if fmt is ViewFormat.JSON:
        sys.stdout.write(json.dumps(records(frame), indent=2, ensure_ascii=False) + "\n")
    elif fmt is ViewFormat.CSV:
        sys.stdout.write(inv.to_csv(frame))
    else:
        flat = inv.flatten(frame)
        rows = [tuple(_cell(v) for v in row) for row in flat.iter_rows()]
        console.table(title, flat.columns, rows)


def records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = json.loads(frame.write_json()) if frame.width else []
    return out


def _settings(logs: list[str] | None, read: ReadOptions, **detection: Any) -> ScanSettings:
    return build_settings(
        list(logs or ()),
        log_format=read.log_format,
        trusted_proxy=list(read.trusted_proxies),
        strict=read.strict,
        **detection,
    )


@app.command("investigate")
@guarded
def investigate_cmd(
    target: Annotated[
        str,
        typer.Argument(
            metavar="IP|CIDR|UA-SUBSTRING",
            help="An address, a network (CIDR), or else a piece of a user agent (literal, any case).",
        ),
    ],
    logs: OptLogsArg = None,
    store: StoreOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    fmt: FormatOpt = ViewFormat.TABLE,
    limit: LimitOpt = 20,
    section: Annotated[
        str | None,
        typer.Option(
            "--section",
            help="Only this part: hours, paths, statuses, user_agents, "
            "clients, robots or verdicts (one plain CSV with --format csv).",
        ),
    ] = None,
    verdict: Annotated[
        bool,
        typer.Option(
            "--verdict/--no-verdict", help="Judge the window to show the verdict and its evidence."
        ),
    ] = True,
    log_format: LogFormatOpt = None,
    trusted_proxy: TrustedProxyOpt = None,
    strict: StrictOpt = False,
    rules: RulesOpt = None,
    policy: PolicyOpt = None,
    no_default_allowlist: NoDefaultAllowOpt = False,
    allow: AllowOpt = None,
    ranges: RangesOpt = None,
    robots: RobotsOpt = None,
    canary: CanaryOpt = None,
    asn_db: AsnDbOpt = None,
    geo_db: GeoDbOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Look closely at one address, network or user agent: hours, paths, statuses, verdict."""
    what = inv.Target.parse(target)
    read = ReadOptions(log_format, tuple(trusted_proxy or ()), strict)
    source = request_source(logs, store, since, until, read)
    settings = _settings(
        logs,
        read,
        rules=rules,
        policy=policy,
        no_default_allowlist=no_default_allowlist,
        allow=allow,
        ranges=ranges,
        robots=robots,
        canary=canary,
        asn_db=asn_db,
        geo_db=geo_db,
    )
    reporter = console.RichReporter(quiet=quiet)
    with reading(source, reporter, quiet) as req:
        offenders = None
        ctx = Context.load(settings) if verdict else None
        enricher = ctx.enricher if ctx else Enricher(asn_db, geo_db)
        try:
            if ctx is not None:
                offenders = judge(req.frame, ctx, reporter=reporter).offenders
            found = inv.investigate(
                req.frame,
                what,
                limit=limit,
                offenders=offenders,
                robots=rb.Robots.load(robots) if robots else None,
                enricher=enricher,
            )
        finally:
            enricher.close()
    if not quiet:
        console.info(
            f"{what.kind.value} {what.value}: {found.overview[s.REQUESTS]} requests"
            + ("" if found.overview[s.REQUESTS] else " in the window")
        )
    show_investigation(found, fmt, section)


@contextmanager
def reading(
    source: inv.RequestSource, reporter: console.RichReporter, quiet: bool
) -> Iterator[inv.Requests]:
    """open_requests, with the reading summary on stderr once the logs are read."""
    with inv.open_requests(source, reporter=reporter) as req:
        if req.reports and not quiet:
            print_read_summary(req.reports)
        yield req


def show_investigation(found: inv.Investigation, fmt: ViewFormat, section: str | None) -> None:
    sections = found.sections()
    if section is not None:
        if section not in sections:
            extra = (
                ""
                if section not in ("robots", "verdicts")
                else " (robots needs --robots; verdicts needs --verdict)"
            )
            raise typer.BadParameter(
                f"--section {section!r}: use one of {', '.join(sections)}{extra}"
            )
        show(sections[section], fmt, title=section)
        return
    if fmt is ViewFormat.JSON:
        overview = {
            k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in found.overview.items()
        }
        doc = {"overview": overview} | {k: records(v) for k, v in sections.items()}
        sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
        return
    if fmt is ViewFormat.CSV:
        blocks = [f"# {name}\n{inv.to_csv(frame)}" for name, frame in sections.items()]
        sys.stdout.write("\n".join(blocks))
        return
    console.table(
        f"{found.target.kind.value} {found.target.value}",
        ["", ""],
        [(k, _cell(v)) for k, v in found.overview.items() if k not in ("target", "kind")],
    )
    hours = found.hours
    if hours.height:
        peak = max(1, int(hours[s.REQUESTS].max()))  # type: ignore[arg-type]
        bars = hours.with_columns(
            pl.col(s.REQUESTS)
            .map_elements(lambda n: "█" * max(1, round(30 * n / peak)), return_dtype=pl.String)
            .alias("")
        )
        if bars.height > 72:
            console.info(
                f"requests per hour: the last 72 of {bars.height} hours "
                "(--section hours --format csv for all)"
            )
            bars = bars.tail(72)
        show(bars, fmt, title="requests per hour")
    for name in ("paths", "statuses", "user_agents", "clients", "robots"):
        if name in sections:
            show(sections[name], fmt, title=name.replace("_", " "))
    if found.verdicts is not None:
        show_verdicts(found.verdicts)


def show_verdicts(verdicts: pl.DataFrame) -> None:
    if verdicts.is_empty():
        console.table("verdict", [""], [("no verdict: the scan finds nothing against it",)])
        return
    for row in verdicts.iter_rows(named=True):
        head = [
            (
                "verdict",
                f"{row[s.CATEGORY]} -> {row[s.ACTION]} (confidence {row[s.CONFIDENCE]:.2f})",
            ),
            ("why", row[s.WHY]),
            ("terms", row[s.CLAUSE]),
            ("rules", ", ".join(row[s.RULES] or [])),
        ]
        console.table(f"verdict on {row[s.IP]} ({row[s.SCOPE]})", ["", ""], head)
        evidence = [
            (e["source"], e["id"], e["detail"], _cell(e["value"]), _cell(e["threshold"]))
            for e in row[s.EVIDENCE] or []
        ]
        console.table("evidence", ["source", "id", "detail", "value", "threshold"], evidence)


@app.command("top")
@guarded
def top_cmd(
    kind: Annotated[inv.TopKind, typer.Argument(help="What to rank.")],
    logs: OptLogsArg = None,
    store: StoreOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", help="Only these statuses: 404, 4xx or 500-599 (repeatable)."),
    ] = None,
    ua: Annotated[
        str | None, typer.Option("--ua", help="Only user agents holding this text (any case).")
    ] = None,
    path: Annotated[
        str | None, typer.Option("--path", help="Only paths starting with this.")
    ] = None,
    category: Annotated[
        str | None,
        typer.Option(
            "--category",
            help="Only clients of this category (the verdict, else the "
            "rule that names the user agent): ai-training, scraper, browser, ...",
        ),
    ] = None,
    limit: LimitOpt = 20,
    fmt: FormatOpt = ViewFormat.TABLE,
    log_format: LogFormatOpt = None,
    trusted_proxy: TrustedProxyOpt = None,
    strict: StrictOpt = False,
    rules: RulesOpt = None,
    policy: PolicyOpt = None,
    no_default_allowlist: NoDefaultAllowOpt = False,
    allow: AllowOpt = None,
    ranges: RangesOpt = None,
    robots: RobotsOpt = None,
    canary: CanaryOpt = None,
    asn_db: AsnDbOpt = None,
    geo_db: GeoDbOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Rank addresses, prefixes, ASNs, user agents, paths or rule-named agents by requests."""
    if category is not None:
        inv.check_category(category)
    read = ReadOptions(log_format, tuple(trusted_proxy or ()), strict)
    source = request_source(logs, store, since, until, read)
    filters = inv.Filters(tuple(status or ()), ua, path)
    settings = _settings(
        logs,
        read,
        rules=rules,
        policy=policy,
        no_default_allowlist=no_default_allowlist,
        allow=allow,
        ranges=ranges,
        robots=robots,
        canary=canary,
        asn_db=asn_db,
        geo_db=geo_db,
    )
    reporter = console.RichReporter(quiet=quiet)
    with reading(source, reporter, quiet) as req:
        frame = inv.apply_filters(req.frame, filters)
        ruleset = None
        pairs = None
        if category is not None:
            # Verdicts are judged over the whole window, before --status/--ua/--path.
            ctx = Context.load(settings)
            try:
                judged = inv.judge_window(req.frame, ctx, reporter=reporter)
            finally:
                ctx.enricher.close()
            frame = inv.in_category(frame, judged.pairs, category)
            ruleset = ctx.ruleset
            if filters == inv.Filters():
                pairs = judged.pairs.filter(pl.col(s.CATEGORY) == category)
        elif kind is inv.TopKind.AGENTS:
            from scraperwatch.detect.rulefile import load_ruleset

            ruleset = load_ruleset(tuple(rules or ()))
        enricher = Enricher(asn_db, geo_db)
        try:
            result = inv.top(
                frame, kind, limit=limit, enricher=enricher, ruleset=ruleset, pairs=pairs
            )
        finally:
            enricher.close()
    show(result, fmt, title=f"top {kind.value}")


@app.command("query")
@guarded
def query_cmd(
    sql: Annotated[
        str,
        typer.Argument(
            metavar="SQL",
            help="Polars SQL over the tables `requests` (docs/schema.md) and `verdicts` "
            "(the offenders, judged over the same requests).",
        ),
    ],
    logs: OptLogsArg = None,
    store: StoreOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    fmt: FormatOpt = ViewFormat.TABLE,
    log_format: LogFormatOpt = None,
    trusted_proxy: TrustedProxyOpt = None,
    strict: StrictOpt = False,
    rules: RulesOpt = None,
    policy: PolicyOpt = None,
    no_default_allowlist: NoDefaultAllowOpt = False,
    allow: AllowOpt = None,
    ranges: RangesOpt = None,
    robots: RobotsOpt = None,
    canary: CanaryOpt = None,
    asn_db: AsnDbOpt = None,
    geo_db: GeoDbOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Run SQL over the requests (and the verdicts), e.g. "SELECT status, count(*) FROM requests GROUP BY 1"."""
    read = ReadOptions(log_format, tuple(trusted_proxy or ()), strict)
    source = request_source(logs, store, since, until, read)
    settings = _settings(
        logs,
        read,
        rules=rules,
        policy=policy,
        no_default_allowlist=no_default_allowlist,
        allow=allow,
        ranges=ranges,
        robots=robots,
        canary=canary,
        asn_db=asn_db,
        geo_db=geo_db,
    )
    reporter = console.RichReporter(quiet=quiet)
    with reading(source, reporter, quiet) as req:

        def verdicts() -> pl.DataFrame:
            ctx = Context.load(settings)
            try:
                return judge(req.frame, ctx, reporter=reporter).offenders
            finally:
                ctx.enricher.close()

        result = inv.run_query(sql, req.frame, verdicts=verdicts)
    if not quiet:
        console.info(f"{result.height} rows")
    show(result, fmt)
