"""Investigation stage: where the requests come from (logs or the store), the window, filters."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Final

import polars as pl

from scraperwatch import schema as s
from scraperwatch.console import NullReporter, Reporter
from scraperwatch.errors import InputError
from scraperwatch.reader import FileReport, ReadOptions, open_logs
from scraperwatch.store import DAY, PARQUET_WRITE, scan_store


class QueryError(InputError):
    """A SQL query, a filter or a target that cannot be run; the message says why."""


# --------------------------------------------------------------------------------------------
# The time window


_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|min|h|d|w)\s*$", re.IGNORECASE)
_UNITS: Final = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_time(text: str, *, now: datetime | None = None, end: bool = False) -> datetime:
    """An ISO date or date-time (UTC unless it says otherwise), or a span back from now: 24h, 7d.

    With `end`, a bare date means the end of that day (so `--until 2026-11-20` includes it).
    """
    rel = _RELATIVE.match(text)
    if rel:
        seconds = float(rel.group(1)) * _UNITS[rel.group(2).lower()]
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text.strip()):
            day = date.fromisoformat(text.strip()) + timedelta(days=1 if end else 0)
            return datetime.combine(day, time(), tzinfo=UTC)
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise QueryError(
            f"{text!r} is not a time; give an ISO date or time (2026-11-20, "
            "2026-11-20T14:00, 2026-11-20T14:00+01:00) or a span back from now (90m, 24h, 7d, 2w)"
        ) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass(frozen=True)
class Window:
    """Requests at or after `since` and before `until` (either may be open)."""

    since: datetime | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        if self.since and self.until and self.since >= self.until:
            raise QueryError(
                f"--since {self.since.isoformat()} is not before --until {self.until.isoformat()}"
            )

    def expr(self, *, partitioned: bool = False) -> pl.Expr | None:
        """The filter; with `partitioned`, also on the store's day column (prunes whole files)."""
        parts: list[pl.Expr] = []
        if self.since:
            parts.append(pl.col(s.TS) >= self.since)
            if partitioned:
                parts.append(pl.col(DAY) >= self.since.date())
        if self.until:
            parts.append(pl.col(s.TS) < self.until)
            if partitioned:
                # The last instant inside is just before `until`: an `until` at midnight
                # leaves that day's files unread.
                last_day = (self.until - timedelta(microseconds=1)).date()
                parts.append(pl.col(DAY) <= last_day)
        return pl.all_horizontal(parts) if parts else None


# --------------------------------------------------------------------------------------------
# Where the requests come from: logs (read once into a temporary Parquet file) or the store


@dataclass(frozen=True)
class RequestSource:
    logs: tuple[str, ...] = ()
    store: Path | None = None
    read: ReadOptions = field(default_factory=ReadOptions)
    window: Window = field(default_factory=Window)


@dataclass
class Requests:
    """A lazy frame of canonical requests, valid until `close` (it may sit in a temp file)."""

    frame: pl.LazyFrame
    reports: list[FileReport] = field(default_factory=list)
    _tmpdir: Path | None = None

    def close(self) -> None:
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None


@contextmanager
def open_requests(source: RequestSource, *, reporter: Reporter | None = None) -> Iterator[Requests]:
    """The requests of the logs or of the store, inside the window, as a lazy frame."""
    if source.logs and source.store is not None:
        raise QueryError("give log files or --store DIR, not both")
    if source.store is not None:
        frame = scan_store(source.store)
        cond = source.window.expr(partitioned=True)
        yield Requests(frame if cond is None else frame.filter(cond))
        return
    if not source.logs:
        raise QueryError("no requests to look at; give log files, or --store DIR")
    rep = reporter or NullReporter()
    logs = open_logs(source.logs, source.read, reporter=rep)
    tmpdir = Path(tempfile.mkdtemp(prefix="scraperwatch-investigate-"))
    part = tmpdir / "requests.parquet"
    cond = source.window.expr()

    def work(requests: pl.LazyFrame) -> list[pl.LazyFrame]:
        kept = requests if cond is None else requests.filter(cond)
        return [kept.sink_parquet(part, lazy=True, **PARQUET_WRITE)]

    result = Requests(pl.LazyFrame(), logs.reports, tmpdir)
    try:
        logs.run(work, reporter=rep)
        result.frame = pl.scan_parquet(part, glob=False)
        yield result
    finally:
        logs.cleanup()
        result.close()


# --------------------------------------------------------------------------------------------
# Filters


@dataclass(frozen=True)
class Filters:
    statuses: tuple[str, ...] = ()  # 404, 4xx, 500-599
    user_agent: str | None = None  # case-insensitive substring
    path: str | None = None  # prefix


def ua_contains(needle: str) -> pl.Expr:
    """Case-insensitive literal substring of the user agent (no regex: `.` is a dot)."""
    ua = pl.col(s.USER_AGENT).str.to_lowercase()
    return ua.str.contains(needle.lower(), literal=True).fill_null(False)


def status_expr(specs: Sequence[str]) -> pl.Expr:
    parts: list[pl.Expr] = []
    st = pl.col(s.STATUS)
    for spec in specs:
        text = spec.strip().lower()
        if re.fullmatch(r"[1-5]xx", text):
            low = int(text[0]) * 100
            parts.append(st.is_between(low, low + 99))
        elif m := re.fullmatch(r"(\d{3})-(\d{3})", text):
            parts.append(st.is_between(int(m.group(1)), int(m.group(2))))
        elif re.fullmatch(r"\d{3}", text):
            parts.append(st == int(text))
        else:
            raise QueryError(
                f"--status {spec!r}: give a status (404), a class (4xx) or a range (500-599)"
            )
    return pl.any_horizontal(parts).fill_null(False)


def apply_filters(frame: pl.LazyFrame, filters: Filters) -> pl.LazyFrame:
    if filters.statuses:
        frame = frame.filter(status_expr(filters.statuses))
    if filters.user_agent:
        frame = frame.filter(ua_contains(filters.user_agent))
    if filters.path:
        frame = frame.filter(pl.col(s.PATH).str.starts_with(filters.path).fill_null(False))
    return frame
