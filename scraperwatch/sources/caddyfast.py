"""The fast reader of Caddy's JSON access logs: DuckDB's JSON reader in place of Polars'.

Decoding the JSON is nearly all the cost of reading a Caddy log (a line is a kilobyte, and
scraperwatch keeps a tenth of it). DuckDB's newline-delimited JSON reader takes only the
declared fields, on every core, in about a third of the time of Polars' `json_decode`.
This module gives the same decoded columns (`caddy.DOC`, `IS_OBJECT`, `IS_ACCESS`) that
`CaddySource.decode` gives from the lines, so `CaddySource.fields` makes the requests of
both readers alike.

It is an optimisation that must never change a result, so the reader (reader.py) uses it
only for plain files and reads a file again with the line reader when this one cannot be
sure of its answer:
- DuckDB fails on the file: a line that is not a JSON object (a `docker compose logs`
  prefix, another program's output), broken JSON, bytes that are not UTF-8, a raw control
  byte or `\\u0000` in a string;
- DuckDB returned another number of rows than the file has lines: it skips empty and blank
  lines, which the line reader counts (and which would shift the line numbers);
- any line was rejected: a rejected record needs the line's text, which this reader does
  not keep, and a number field that Polars would read differently (`"200"`, `200.0`, `1e2`)
  is marked UNSURE here and so rejected.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Final

import polars as pl
from polars.datatypes import DataTypeClass
from polars.io.plugins import register_io_source

from scraperwatch.sources.caddy import (
    ACCESS_LOGGER,
    DOC,
    DTYPE,
    IS_ACCESS,
    IS_OBJECT,
    UNSURE,
)
from scraperwatch.sources.fields import LINE, ROW

if TYPE_CHECKING:
    import duckdb

# Fields that Polars reads as integers: DuckDB reads their JSON text, and only plain integers
# are taken here (DuckDB would round 5.5 where Polars truncates, and read "200" as 200).
_INTEGERS: Final = ("size", "status")
# Fields that are a number or a string (by `time_format` and `duration_format`): read as JSON
# text too, so that DuckDB does not format a number as text (an eighth of its time); a string's
# quotes are dropped here, and one with an escape still in it is UNSURE.
_NUMBER_OR_TEXT: Final = ("ts", "duration")
_AS_JSON: Final = (*_INTEGERS, *_NUMBER_OR_TEXT)
_ROWS_PER_BATCH: Final = 64 * 1024

PolarsType = pl.DataType | DataTypeClass


# DuckDB reads a path with these as a glob (other files, or none): such a file is left to the
# line reader.
_GLOB_CHARACTERS: Final = frozenset("*?[]{}")


def available() -> bool:
    """True when DuckDB can be imported (it is a dependency; a broken install falls back)."""
    return importlib.util.find_spec("duckdb") is not None


def can_read(path: Path) -> bool:
    """True when DuckDB reads `path` as itself (no glob character in its absolute name)."""
    return not _GLOB_CHARACTERS.intersection(str(path.resolve()))


def _duckdb_type(dtype: PolarsType) -> str:
    if isinstance(dtype, pl.Struct):
        inner = ", ".join(
            f'"{f.name}" {_duckdb_type(f.dtype)}'  # header names are fixed, quote-free
            for f in dtype.fields
        )
        return f"STRUCT({inner})"
    if isinstance(dtype, pl.List):
        return f"{_duckdb_type(dtype.inner)}[]"
    if dtype == pl.String:
        return "VARCHAR"
    raise TypeError(f"no DuckDB type for {dtype}")  # pragma: no cover - DTYPE is fixed


def _columns() -> dict[str, str]:
    cols: dict[str, str] = {}
    for f in DTYPE.fields:
        cols[f.name] = "JSON" if f.name in _AS_JSON else _duckdb_type(f.dtype)
    return cols


def _raw_schema() -> dict[str, PolarsType]:
    schema: dict[str, PolarsType] = {ROW: pl.Int64()}
    for f in DTYPE.fields:
        schema[f.name] = pl.String() if f.name in _AS_JSON else f.dtype
    return schema


def _cores() -> int:
    """The cores this process may run on (a cpuset or taskset limits them; cpu_count does not
    know)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _connect() -> duckdb.DuckDBPyConnection:
    import duckdb

    # Rows must come in the file's order (line numbers are counted here). DuckDB keeps the
    # order by default; it is set anyway, as the reader's correctness rests on it.
    return duckdb.connect(
        config={
            "threads": _cores(),
            "preserve_insertion_order": True,
        }
    )


class FastReadError(Exception):
    """DuckDB could not read the file at `path`; the line reader reads it instead."""

    def __init__(self, path: Path, message: str) -> None:
        super().__init__(message)
        self.path = path


def scan(path: Path, *, first: int = 1) -> pl.LazyFrame:
    """The decoded lines of a plain Caddy log, as `CaddySource.decode` gives them, with the
    UNSURE column. LINE is null: this reader keeps no line's text."""
    raw_schema = _raw_schema()

    def batches(
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        row = first
        left = n_rows
        con = _connect()
        try:
            import duckdb

            try:
                rel = con.read_json(
                    str(path.resolve()), format="newline_delimited", columns=_columns()
                )
                for batch in rel.to_arrow_reader(_ROWS_PER_BATCH):
                    df = pl.from_arrow(batch)
                    assert isinstance(df, pl.DataFrame)
                    df = df.with_columns(
                        pl.int_range(row, row + df.height, dtype=pl.Int64).alias(ROW)
                    )
                    row += df.height
                    df = df.select(list(raw_schema))
                    if predicate is not None:
                        df = df.filter(predicate)
                    if with_columns is not None:
                        df = df.select(with_columns)
                    if left is not None:
                        df = df.head(left)
                        left -= df.height
                    yield df
                    if left is not None and left <= 0:
                        return
            except duckdb.Error as err:
                raise FastReadError(path, str(err).strip()) from err
        finally:
            con.close()

    # Pure: the three outputs of a read (requests, counts, rejects) share one scan.
    raw = register_io_source(batches, schema=raw_schema, is_pure=True)
    values: dict[str, pl.Expr] = {}
    unsure = pl.lit(False)
    for name in _INTEGERS:
        text = pl.col(name)
        values[name] = text.cast(pl.Int64, strict=False)
        unsure = unsure | (text.is_not_null() & values[name].is_null())
    for name in _NUMBER_OR_TEXT:
        text = pl.col(name)
        quoted = text.str.starts_with('"')
        values[name] = (
            pl.when(quoted).then(text.str.strip_prefix('"').str.strip_suffix('"')).otherwise(text)
        )
        unsure = unsure | (quoted & text.str.contains("\\", literal=True))
        if name == "ts":
            # A number below a microsecond is written back with an exponent (`5e-7`), which
            # misses the exact decimal reading that Polars' text (`0.0000005`) takes.
            unsure = unsure | (~quoted & text.str.contains("e", literal=True))
    logger = pl.col("logger")
    return raw.select(
        pl.lit(None, pl.String).alias(LINE),
        pl.col(ROW),
        pl.struct(values.get(f.name, pl.col(f.name)).alias(f.name) for f in DTYPE.fields).alias(
            DOC
        ),
        pl.lit(True).alias(IS_OBJECT),
        logger.str.starts_with(ACCESS_LOGGER).fill_null(False).alias(IS_ACCESS),
        unsure.fill_null(False).alias(UNSURE),
    )
