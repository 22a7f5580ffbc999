"""The Parquet store: `ingest --store DIR` appends by day (hive layout) and fails cleanly."""

from __future__ import annotations

import hashlib
from pathlib import Path

import polars as pl
import pyarrow.dataset as ds
import pytest
from conftest import LOG_FIXTURES
from typer.testing import CliRunner

from scraperwatch import schema as s
from scraperwatch.cli import app
from scraperwatch.errors import ExitCode, InputError
from scraperwatch.store import DAY, scan_store

ROTATION = LOG_FIXTURES / "rotation"


def _snapshot(store: Path) -> dict[str, str]:
    """Every file under the store with a hash of its content."""
    return {
        str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(store.rglob("*"))
        if p.is_file()
    }


def _ingest(runner: CliRunner, store: Path, *args: str) -> None:
    result = runner.invoke(app, ["ingest", *args, "--store", str(store)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_two_runs_add_up_in_day_partitions(runner: CliRunner, tmp_path: Path) -> None:
    store = tmp_path / "store"
    _ingest(runner, store, str(ROTATION / "access.log.2.gz"), str(ROTATION / "access.log.1"))
    _ingest(runner, store, str(ROTATION / "access.log"))
    days = sorted(p.name for p in store.iterdir())
    # 10:00 +0100 is 09:00 UTC: the day partitions are UTC days.
    assert days == ["day=2026-11-10", "day=2026-11-11", "day=2026-11-12"]
    for d in days:
        assert [p.suffix for p in (store / d).iterdir()] == [".parquet"]
    assert not list(store.glob(".staging-*")), "no staging folder is left behind"

    frame = scan_store(store).collect()
    assert frame.height == 9
    assert frame.columns == [*s.REQUEST_SCHEMA, DAY]
    assert frame.schema[DAY] == pl.Date
    assert frame.group_by(DAY).len().sort(DAY)["len"].to_list() == [3, 3, 3]
    # Filters on the partition column reach the files (only one day read).
    one = scan_store(store).filter(pl.col(DAY) == pl.date(2026, 11, 11)).collect()
    assert one[s.PATH].unique().to_list() == ["/day11"]


def test_the_store_reads_with_pyarrow_dataset(runner: CliRunner, tmp_path: Path) -> None:
    """Users' own tools read the store: pyarrow.dataset with hive partitioning (as DuckDB)."""
    store = tmp_path / "store"
    _ingest(runner, store, str(ROTATION))
    dataset = ds.dataset(store, format="parquet", partitioning="hive")
    table = dataset.to_table()
    assert table.num_rows == 9
    assert set(s.REQUEST_SCHEMA) | {DAY} == set(table.column_names)
    assert str(table.schema.field(s.TS).type) == "timestamp[us, tz=UTC]"
    day11 = dataset.to_table(filter=ds.field(DAY) == "2026-11-11")
    assert day11.num_rows == 3


def test_a_failed_run_leaves_the_store_untouched(runner: CliRunner, tmp_path: Path) -> None:
    store = tmp_path / "store"
    _ingest(runner, store, str(ROTATION / "access.log"))
    before = _snapshot(store)
    # --strict and a rejected line: the run fails after reading every file.
    result = runner.invoke(
        app,
        [
            "ingest",
            str(ROTATION / "access.log.1"),
            str(LOG_FIXTURES / "one-rejected.log"),
            "--store",
            str(store),
            "--strict",
        ],
    )
    assert result.exit_code == ExitCode.INPUT, result.output
    assert _snapshot(store) == before
    assert not list(store.glob(".staging-*"))


def test_a_failed_first_run_creates_no_store(runner: CliRunner, tmp_path: Path) -> None:
    store = tmp_path / "new-store"
    result = runner.invoke(
        app, ["ingest", str(LOG_FIXTURES / "one-rejected.log"), "--store", str(store), "--strict"]
    )
    assert result.exit_code == ExitCode.INPUT
    assert not store.exists()


def test_store_and_output_in_one_run(runner: CliRunner, tmp_path: Path) -> None:
    store, out = tmp_path / "store", tmp_path / "one.parquet"
    result = runner.invoke(app, ["ingest", str(ROTATION), "--store", str(store), "-o", str(out)])
    assert result.exit_code == 0, result.output
    one = pl.read_parquet(out)
    assert one.height == scan_store(store).select(pl.len()).collect().item() == 9
    # The single file keeps the extra var_* columns of custom formats; the store keeps the
    # canonical columns only, so that every file of it shares one schema.
    assert one.columns[: len(s.REQUEST_SCHEMA)] == list(s.REQUEST_SCHEMA)


def test_scan_of_an_empty_store_says_how_to_fill_it(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="scraperwatch ingest LOGS --store DIR"):
        scan_store(tmp_path)


def test_a_store_named_like_a_pattern(runner: CliRunner, tmp_path: Path) -> None:
    """A store folder whose name holds `[` is listed, not given to Polars as a pattern."""
    store = tmp_path / "store[1]"
    _ingest(runner, store, str(ROTATION / "access.log"))
    assert scan_store(store).collect().height == 3
