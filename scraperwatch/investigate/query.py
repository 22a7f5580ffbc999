"""Investigation stage: SQL over the requests and the verdicts, and flat views for CSV."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

import polars as pl

from scraperwatch import schema as s
from scraperwatch.investigate.source import QueryError

# --------------------------------------------------------------------------------------------
# query


_VERDICTS_RX = re.compile(r"\bverdicts\b", re.IGNORECASE)
REQUESTS_TABLE: Final = "requests"
VERDICTS_TABLE: Final = "verdicts"


def mentions_verdicts(sql: str) -> bool:
    """Whether a query reads the verdicts table (judging costs a scan: skip it when not)."""
    return bool(_VERDICTS_RX.search(sql))


def run_query(
    sql: str, requests: pl.LazyFrame, *, verdicts: Callable[[], pl.DataFrame] | None = None
) -> pl.DataFrame:
    """Run Polars SQL over the `requests` table (lazy) and, when asked for, `verdicts`."""
    tables: dict[str, pl.LazyFrame] = {REQUESTS_TABLE: requests}
    if verdicts is not None and mentions_verdicts(sql):
        tables[VERDICTS_TABLE] = verdicts().lazy()
    try:
        ctx = pl.SQLContext(frames=tables)
        return ctx.execute(sql, eager=False).collect(engine="streaming")
    except pl.exceptions.PolarsError as err:
        message = str(err).split("\n\n", 1)[0].strip()
        names = ", ".join(requests.collect_schema().names())
        raise QueryError(
            f"the query failed: {message}. Tables: {REQUESTS_TABLE} ({names})"
            + (f" and {VERDICTS_TABLE} ({', '.join(s.OFFENDER_SCHEMA)})" if verdicts else "")
        ) from None


# --------------------------------------------------------------------------------------------
# Flat views of nested columns (for CSV and tables)


def flatten(frame: pl.DataFrame) -> pl.DataFrame:
    """Lists joined with '; ', structs as JSON: what CSV and a table can hold."""
    exprs: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.List):
            inner = dtype.inner
            if isinstance(inner, pl.Struct):
                item = pl.element().struct.json_encode()
            elif isinstance(inner, pl.List | pl.Array):
                item = pl.element().cast(pl.String, strict=False)
            else:
                item = pl.element().cast(pl.String)
            exprs.append(col.list.eval(item).list.join("; ").alias(name))
        elif isinstance(dtype, pl.Struct):
            exprs.append(col.struct.json_encode().alias(name))
        elif isinstance(dtype, pl.Array | pl.Object):
            exprs.append(col.map_elements(str, return_dtype=pl.String).alias(name))
        else:
            exprs.append(col)
    return frame.select(exprs)


# The same text for times as the JSON output: 2026-11-18T10:00:00+00:00 (fractions when any).
CSV_TIME_FORMAT: Final = "%Y-%m-%dT%H:%M:%S%.f%:z"


def to_csv(frame: pl.DataFrame) -> str:
    """CSV of a view: nested columns flattened, times as ISO 8601 with their offset."""
    return flatten(frame).write_csv(datetime_format=CSV_TIME_FORMAT)
