"""`scraperwatch ingest`: logs into a Parquet file or the day-partitioned store."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from scraperwatch import console
from scraperwatch import schema as s
from scraperwatch.cli.base import app, guarded
from scraperwatch.cli.common import (
    LogFormatOpt,
    LogsArg,
    QuietOpt,
    StrictOpt,
    TrustedProxyOpt,
    print_read_summary,
)
from scraperwatch.errors import OutputError, ScraperwatchError
from scraperwatch.reader import ReadOptions, open_logs
from scraperwatch.store import PARQUET_WRITE, StoreWriter


def _check_writable(path: Path) -> None:
    """Fail before reading the logs when an output file cannot be written where asked."""
    parent = path.parent
    if not parent.is_dir():
        raise OutputError(
            f"{path}: cannot write it: {parent} is not a directory; create it or choose another path"
        )
    if not os.access(parent, os.W_OK):
        raise OutputError(f"{path}: cannot write it: no permission to write in {parent}")


@app.command()
@guarded
def ingest(
    logs: LogsArg,
    store: Annotated[
        Path | None,
        typer.Option("--store", help="Append the requests to this Parquet store (day partitions)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the requests to one Parquet file.")
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects", help="Write the rejected lines (file, line, reason, excerpt) as CSV."
        ),
    ] = None,
    log_format: LogFormatOpt = None,
    trusted_proxy: TrustedProxyOpt = None,
    strict: StrictOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Read access logs into the canonical Arrow schema (docs/schema.md), as Parquet."""
    if store is None and output is None:
        raise typer.BadParameter("give --store DIR or --output FILE.parquet (or both)")
    for path in (output, rejects):
        if path is not None:
            _check_writable(path)
    reporter = console.RichReporter(quiet=quiet)
    options = ReadOptions(log_format, tuple(trusted_proxy or ()), strict)
    read = open_logs(logs, options, reporter=reporter)
    writer = StoreWriter(store) if store else None
    tmp_out = output.with_name(f".{output.name}.tmp-{os.getpid()}") if output else None
    try:

        def work(requests: pl.LazyFrame) -> list[pl.LazyFrame]:
            plans = []
            if writer:
                plans.append(writer.sink(requests))
            if tmp_out:
                plans.append(requests.sink_parquet(tmp_out, lazy=True, **PARQUET_WRITE))
            return plans

        try:
            _, rejected = read.run(work, reporter=reporter)
        except ScraperwatchError:
            raise
        except OSError as err:
            raise OutputError(f"cannot write the Parquet output: {err}") from err
        if writer:
            writer.commit()
        if output and tmp_out:
            tmp_out.replace(output)
        if rejects:
            try:
                rejected.write_csv(rejects)
            except OSError as err:
                raise OutputError(f"{rejects}: cannot write the rejected lines ({err})") from err
    finally:
        if writer:
            writer.abort()
        if tmp_out:
            with contextlib.suppress(OSError):
                tmp_out.unlink(missing_ok=True)
        read.cleanup()
    if not quiet:
        print_read_summary(read.reports)
        total = sum(r.parsed for r in read.reports)
        bad = sum(r.rejected for r in read.reports)
        where = " and ".join(str(p) for p in (store, output) if p)
        console.info(f"{total} requests written to {where}; {bad} lines rejected")
        if bad and not rejects:
            first = rejected.row(0, named=True)
            console.warn(
                f"first rejected line: {first[s.SOURCE_FILE]}:{first[s.LINE_NO]}: "
                f"{first[s.REASON]}; write them all with --rejects FILE.csv"
            )
