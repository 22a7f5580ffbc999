"""`scraperwatch report`: one self-contained HTML page of the window's bots and verdicts."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from scraperwatch import console
from scraperwatch.cli.base import app, guarded
from scraperwatch.cli.common import LogFormatOpt, QuietOpt, StrictOpt, TrustedProxyOpt
from scraperwatch.cli.investigate import (
    OptLogsArg,
    SinceOpt,
    StoreOpt,
    UntilOpt,
    reading,
    request_source,
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
from scraperwatch.pipeline import Context
from scraperwatch.reader import ReadOptions
from scraperwatch.report.html import render_html
from scraperwatch.report.report import (
    ReportOptions,
    collect_report,
    load_previous,
    load_state,
    save_state,
    write_atomic,
)


@app.command("report")
@guarded
def report_cmd(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="The HTML file to write.", dir_okay=False)
    ],
    logs: OptLogsArg = None,
    store: StoreOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            file_okay=False,
            help="A folder that keeps the offender list "
            "between runs: the report marks offenders new since the last one.",
        ),
    ] = None,
    previous: Annotated[
        Path | None,
        typer.Option(
            "--previous",
            exists=True,
            dir_okay=False,
            help="Compare with this offender list (scan --format json output, or a --state file).",
        ),
    ] = None,
    title: Annotated[
        str, typer.Option("--title", help="The page's title.")
    ] = "scraperwatch report",
    top_offenders: Annotated[
        int, typer.Option("--top", min=1, help="Offenders shown with their evidence.")
    ] = 50,
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
    """Write an HTML report: requests by category over time, offenders and their evidence,
    robots.txt compliance per agent, bytes served to bots, and what is new since the last run."""
    read = ReadOptions(log_format, tuple(trusted_proxy or ()), strict)
    source = request_source(logs, store, since, until, read)
    settings = build_settings(
        list(logs or ()),
        log_format=log_format,
        trusted_proxy=trusted_proxy,
        strict=strict,
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
    before = load_previous(previous) if previous else (load_state(state) if state else None)
    options = ReportOptions(
        title=title,
        top_offenders=top_offenders,
        sources=(str(store),) if store else tuple(logs or ()),
    )
    reporter = console.RichReporter(quiet=quiet)
    now = datetime.now().astimezone()
    ctx = Context.load(settings)
    try:
        with reading(source, reporter, quiet) as req:
            data = collect_report(
                req.frame, ctx, options=options, previous=before, reporter=reporter, now=now
            )
    finally:
        ctx.enricher.close()
    write_atomic(output, render_html(data))
    if state is not None:
        save_state(state, data.offenders, generated=now)
    if not quiet:
        new = f", {data.new_offenders.height} new" if before is not None else ""
        console.info(
            f"wrote {output}: {data.totals['requests']} requests, "
            f"{data.offenders.height} offenders{new}"
        )
