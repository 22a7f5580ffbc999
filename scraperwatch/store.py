"""The Parquet history: requests appended by day (hive layout `day=YYYY-MM-DD/`)."""

from __future__ import annotations

import contextlib
import shutil
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import polars as pl

from scraperwatch import schema as s
from scraperwatch.errors import InputError, OutputError

DAY: Final = "day"
# How the requests are written to Parquet (the store, -o files, a scan's working copy): zstd
# at level 1 is 2% larger than Polars' default level and cuts the writer's share of an
# ingest by about a sixth (benchmarks/RESULTS.md).
PARQUET_WRITE: Final[dict[str, Any]] = {"compression": "zstd", "compression_level": 1}


def store_frame(requests: pl.LazyFrame) -> pl.LazyFrame:
    """The columns a store keeps: the canonical ones (every file shares one schema), plus day."""
    return requests.select([*s.REQUEST_SCHEMA]).with_columns(pl.col(s.TS).dt.date().alias(DAY))


class StoreWriter:
    """Writes one run's requests into a staging folder, then moves the files into place.

    A run that fails leaves the store as it was: nothing is moved until `commit`.
    """

    def __init__(self, store: Path) -> None:
        self.store = store
        self.run = f"{datetime.now().strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        self.staging = store / f".staging-{self.run}"
        self._created = not store.exists()  # a failed first run removes the folder it made

    def sink(self, requests: pl.LazyFrame) -> pl.LazyFrame:
        try:
            self.staging.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(f"{self.store}: cannot create the store ({err.strerror})") from err
        run = self.run

        def path(args: Any) -> str:
            day = args.partition_keys[DAY][0]
            return f"{DAY}={day}/part-{run}-{args.index_in_partition}.parquet"

        plan = store_frame(requests)
        return plan.sink_parquet(
            pl.PartitionBy(self.staging, key=DAY, include_key=False, file_path_provider=path),
            mkdir=True,
            lazy=True,
            **PARQUET_WRITE,
        )

    def commit(self) -> int:
        """Move the staged files into the store; returns how many files were added."""
        moved = 0
        for f in sorted(self.staging.rglob("*.parquet")):
            target = self.store / f.relative_to(self.staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            f.replace(target)
            moved += 1
        shutil.rmtree(self.staging, ignore_errors=True)
        return moved

    def abort(self) -> None:
        """Drop what this run staged (nothing, after a commit)."""
        shutil.rmtree(self.staging, ignore_errors=True)
        if self._created:
            with contextlib.suppress(OSError):
                self.store.rmdir()  # only when empty: nothing was committed


def scan_store(store: Path) -> pl.LazyFrame:
    """The stored requests, lazily; filters on `ts` and `day` are pushed down to Parquet."""
    # The files are listed here, not given to Polars as a pattern: a store folder whose name
    # holds [ or * would be read as a pattern of its own.
    files = sorted(store.glob(f"{DAY}=*/*.parquet")) if store.is_dir() else []
    if not files:
        raise InputError(
            f"{store}: no stored requests here; fill the store with "
            "`scraperwatch ingest LOGS --store DIR` or `scraperwatch scan --store DIR LOGS`"
        )
    return pl.scan_parquet(
        files,
        glob=False,
        hive_partitioning=True,
        schema={**s.REQUEST_SCHEMA},
        hive_schema={DAY: pl.Date()},
    )
