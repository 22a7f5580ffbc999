"""Reading stage: log inputs to one lazy frame of canonical requests, plus counts and rejects.

Every line of every file becomes a request row or a rejected record; lines of other loggers
(Caddy) are skipped and counted. Files are read optimistically by Polars; a file that Polars
cannot read (invalid UTF-8, a truncated gzip, a broken JSON object) is read again carefully,
line by line, into a clean temporary copy, and what was wrong is reported.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tempfile
import zlib
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import polars as pl

from scraperwatch import schema as s
from scraperwatch.console import NullReporter, Reporter
from scraperwatch.errors import InputError, LogSourceError, MalformedLogError
from scraperwatch.sources import SourceName, caddyfast, sniff, source_for
from scraperwatch.sources.base import NUL_REASON, SKIP, SKIP_FOREIGN, LogSource
from scraperwatch.sources.caddy import CADDY_CLIENT, DOCKER_PREFIX, UNSURE_REASON, CaddySource
from scraperwatch.sources.fields import (
    LINE,
    REASON,
    ROW,
    last_hop,
    normalize_address,
    normalize_ip,
)
from scraperwatch.sources.files import (
    LogInput,
    count_lines,
    expand_inputs,
    iter_lines,
    read_head,
)
from scraperwatch.sources.nginx import NginxSource

# The careful path marks a line it could not repair with this prefix and the reason.
MARK: Final = "\x01scraperwatch-reject:"
_CADDY_CLIENT: Final = CADDY_CLIENT
_DOCKER_PREFIX: Final = re.compile(DOCKER_PREFIX)
MAX_REJECTED_KEPT: Final = 10_000
# A rejected line longer than this says its length (no access-log line is that long).
LONG_LINE: Final = 64 * 1024


@dataclass(frozen=True)
class ReadOptions:
    log_format: str | None = None  # None/"auto": sniff each file; else a name or log_format
    trusted_proxies: tuple[str, ...] = ()
    strict: bool = False
    # Plain Caddy logs are decoded by DuckDB (caddyfast.py), with the line reader as its
    # fallback; False (or SCRAPERWATCH_FAST_JSON=0) reads every file with the line reader.
    fast_json: bool = True


@dataclass
class FileReport:
    name: str
    format: str
    how: str  # "detected" or "given"
    lines: int = 0
    parsed: int = 0
    skipped: int = 0
    rejected: int = 0
    # Of the skipped: lines that do not even look like this format (in a Caddy log, lines
    # that are no JSON object).
    foreign: int = 0
    notes: list[str] = field(default_factory=list)
    # Which reader read it: "duckdb" (caddyfast.py) or "lines"; and, when the fast reader
    # gave the file up, why.
    reader: str = "lines"
    fallback: str | None = None


@dataclass
class Logs:
    """The files of one read, with the lazy frames built over them."""

    inputs: list[LogInput]
    sources: list[LogSource]
    reports: list[FileReport]
    options: ReadOptions
    _careful: dict[int, LogInput] = field(default_factory=dict)
    # Inputs the fast reader gave up on (or could not vouch for): read with the line reader;
    # and why.
    _slow: set[int] = field(default_factory=set)
    _fallbacks: dict[int, str] = field(default_factory=dict)
    # Lines of each file before what `inputs[i]` holds (a tail read by a nightly run), so that
    # line numbers stay those of the whole file; empty means 0 for every input.
    line_offsets: list[int] = field(default_factory=list)
    # Average bytes per line of each input (from its head), for progress; and the reporter.
    _line_bytes: list[float] = field(default_factory=list)
    _reporter: Reporter | None = None
    _plan: pl.LazyFrame | None = None

    def _parsed(self) -> pl.LazyFrame:
        """Every line with its parsed columns and REASON (null for a request).

        Built once and shared: requests, counts and rejected must hold the very same plan
        (with the very same batch functions) for Polars to run it once for all three.
        """
        if self._plan is None:
            self._plan = self._build()
        return self._plan

    def _build(self) -> pl.LazyFrame:
        frames = []
        fast_inputs = self._fast()
        for i, (item, src) in enumerate(zip(self.inputs, self.sources, strict=True)):
            path = self._careful.get(i, item).path
            first = 1 + (self.line_offsets[i] if i < len(self.line_offsets) else 0)
            fast = i in fast_inputs
            lines = (
                caddyfast.scan(path, first=first) if fast else scan_text_lines(path, first=first)
            )
            if self._reporter is not None and self._reporter.live:
                # The progress callback rides on the line number, which every output needs:
                # it runs once per batch of lines, in the same pass. (Only on a terminal: a
                # Python call per batch costs the streaming engine several percent.)
                lines = lines.with_columns(
                    pl.col(ROW).map_batches(
                        self._ticker(i), return_dtype=pl.Int64, is_elementwise=True
                    )
                )
            if fast:
                assert isinstance(src, CaddySource)
                frame = src.fields(lines)
            else:
                frame = src.parse(lines)
            if i in self._careful:  # only a careful copy holds marked lines
                marked = pl.col(LINE).str.starts_with(MARK)
                frame = frame.with_columns(
                    pl.when(marked)
                    .then(pl.col(LINE).str.strip_prefix(MARK))
                    .otherwise(pl.col(REASON))
                    .alias(REASON)
                )
            frame = frame.with_columns(
                pl.lit(item.name).alias(s.SOURCE_FILE),
                pl.lit(src.label).alias(s.SOURCE_FORMAT),
            )
            frames.append(self._with_client(frame))
        if not frames:
            return pl.LazyFrame()
        return pl.concat(frames, how="diagonal_relaxed")

    def _fast(self) -> set[int]:
        """The inputs that the fast reader reads: plain Caddy logs (the line count that vouches
        for its rows needs a plain file) whose name DuckDB does not take for a glob."""
        if not caddyfast.available():
            return set()
        return {
            i
            for i, item in enumerate(self.inputs)
            if self._fast_wanted(i)
            and caddyfast.can_read(item.path)
            and i not in self._careful
            and i not in self._slow
        }

    def _fast_wanted(self, i: int) -> bool:
        """Input `i` is a plain Caddy log, and the fast reader is not turned off."""
        return (
            self.options.fast_json
            and os.environ.get("SCRAPERWATCH_FAST_JSON") != "0"
            and isinstance(self.sources[i], CaddySource)
            and self.inputs[i].compression is None
        )

    def requests(self) -> pl.LazyFrame:
        """Parsed lines in the canonical schema (extra nginx variables as var_* columns)."""
        if not self.inputs:
            return pl.LazyFrame(schema=s.REQUEST_SCHEMA)
        parsed = self._parsed().filter(pl.col(REASON).is_null())
        return s.conform(parsed.with_columns(pl.col(ROW).alias(s.LINE_NO)))

    def _with_client(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """Add CLIENT_IP: Caddy's client_ip, else the peer, else (with --trusted-proxy) the
        address nginx's realip module would take from X-Forwarded-For. A parsed line without
        a client address is rejected."""
        names = frame.collect_schema().names()
        none = pl.lit(None, pl.String)
        caddy = pl.col(_CADDY_CLIENT) if _CADDY_CLIENT in names else none
        peer = pl.col(s.PEER_IP) if s.PEER_IP in names else none
        base = pl.coalesce(caddy, peer)
        xff = pl.col(s.X_FORWARDED_FOR) if s.X_FORWARDED_FOR in names else None
        if xff is not None and self.options.trusted_proxies:
            client = _realip(base, xff, self.options.trusted_proxies)
        elif xff is not None and s.PEER_IP not in names:
            # The format logs no peer address, only X-Forwarded-For: the rightmost entry is
            # the one the admin's own proxy added (what realip takes with no trusted proxy).
            client = normalize_ip(last_hop(xff))
        else:
            client = base
        frame = frame.with_columns(client.alias(s.CLIENT_IP))
        cl = pl.col(s.CLIENT_IP)
        why_not = (
            pl.when(cl.is_null())
            .then(pl.lit("no client address in the line"))
            .when(cl == "unix:")
            .then(
                pl.lit(
                    "the client came through a unix socket (unix:); give --trusted-proxy unix: "
                    "to take the client from X-Forwarded-For"
                )
            )
        )
        frame = frame.with_columns(pl.coalesce(pl.col(REASON), why_not).alias(REASON))
        return frame.drop(_CADDY_CLIENT) if _CADDY_CLIENT in names else frame

    def _ticker(self, index: int) -> Callable[[pl.Series], pl.Series]:
        """A batch function that reports progress for input `index` and returns its input."""
        per_line = self._line_bytes[index] if index < len(self._line_bytes) else 100.0

        def tick(batch: pl.Series) -> pl.Series:
            if self._reporter is not None:
                self._reporter.advance(int(len(batch) * per_line))
            return batch

        return tick

    def rejected(self) -> pl.LazyFrame:
        if not self.inputs:
            return s.empty_rejected()
        bad = pl.col(REASON).is_not_null() & ~pl.col(REASON).str.starts_with(SKIP)
        return (
            self._parsed()
            .filter(bad)
            .select(
                pl.col(s.SOURCE_FILE),
                pl.col(ROW).alias(s.LINE_NO),
                pl.when(pl.col(LINE).str.len_bytes() > LONG_LINE)
                .then(
                    pl.format(
                        "{} (the line is {} bytes long)",
                        pl.col(REASON),
                        pl.col(LINE).str.len_bytes(),
                    )
                )
                .otherwise(pl.col(REASON))
                .alias(s.REASON),
                pl.col(LINE).str.strip_prefix(MARK).str.head(s.EXCERPT_CHARS).alias(s.EXCERPT),
            )
        )

    def counts(self) -> pl.LazyFrame:
        """Lines, parsed, skipped and rejected per file."""
        reason = pl.col(REASON)
        return (
            self._parsed()
            .group_by(s.SOURCE_FILE)
            .agg(
                pl.len().alias("lines"),
                reason.is_null().sum().alias("parsed"),
                reason.str.starts_with(SKIP).sum().alias("skipped"),
                # (The first such line is looked for afterwards, only where it is needed:
                # its minimum here made a read of 20M lines 5% slower and 120 MiB larger.)
                reason.str.starts_with(SKIP_FOREIGN).sum().alias("foreign"),
            )
        )

    def run(
        self,
        work: Callable[[pl.LazyFrame], Sequence[pl.LazyFrame]],
        *,
        reporter: Reporter | None = None,
    ) -> tuple[list[pl.DataFrame], pl.DataFrame]:
        """Collect `work(requests)` together with the counts and rejects, in one pass.

        Returns the collected work frames and the rejected records (at most MAX_REJECTED_KEPT;
        the counts are exact). Updates the file reports; raises MalformedLogError under --strict.
        """
        rep = reporter or NullReporter()
        # Plain files report their size; compressed ones inflate to an unknown size.
        sizes = [i.size if i.compression is None else None for i in self.inputs]
        total = None if None in sizes else sum(s for s in sizes if s is not None)
        label = f"reading {len(self.inputs)} file{'s' if len(self.inputs) != 1 else ''}"
        rep.start(label, total)
        self._reporter = rep
        self._plan = None  # built again: with a progress callback when progress is shown
        repaired = False
        attempt = 0
        try:
            while True:
                if attempt:  # a file is read again (repaired, or by the line reader)
                    rep.finish()
                    rep.start(f"{label} again", total)
                attempt += 1
                fast = self._fast()
                plans = [
                    *work(self.requests()),
                    self.counts(),
                    self.rejected().head(MAX_REJECTED_KEPT),
                ]
                # The fast reader's rows are vouched for by the file's line count, counted
                # beside the read (memchr; the GIL is released while reading).
                pool = ThreadPoolExecutor(max_workers=1) if fast else None
                line_counts = {
                    i: pool.submit(count_lines, self.inputs[i].path)
                    for i in fast
                    if pool is not None
                }
                try:
                    *results, counts, rejected = pl.collect_all(plans, engine="streaming")
                except caddyfast.FastReadError as err:
                    # DuckDB could not read a file (a docker prefix, broken JSON, bytes that
                    # are not UTF-8 ...): read those with the line reader.
                    failed = {i for i in fast if self.inputs[i].path == err.path} or fast
                    self._fall_back(dict.fromkeys(failed, f"DuckDB could not read it: {err}"))
                    continue
                except (pl.exceptions.ComputeError, OSError) as err:
                    if repaired or not self._repair(rep):
                        if isinstance(err, OSError):
                            raise  # not the logs: an output that cannot be written
                        raise LogSourceError(f"cannot read the logs: {err}") from err
                    repaired = True
                    continue
                finally:
                    if pool is not None:
                        pool.shutdown(cancel_futures=True)
                unsure = self._unsure(fast, counts, rejected, line_counts)
                if not unsure:
                    break
                self._fall_back(unsure)
        finally:
            self._reporter = None
            rep.finish()
        for i, report in enumerate(self.reports):
            report.reader = "duckdb" if i in fast else "lines"
            report.fallback = self._fallbacks.get(i) or self._not_fast(i)
            note = f"read by the line reader, not DuckDB: {report.fallback}"
            if report.fallback and note not in report.notes:
                report.notes.append(note)
        self._apply_counts(counts)
        self._check(rejected)
        return results, rejected

    def _not_fast(self, i: int) -> str | None:
        """Why a plain Caddy log was left to the line reader from the start, if it was."""
        if not self._fast_wanted(i):
            return None
        if not caddyfast.available():
            return "DuckDB is not installed (a dependency of scraperwatch: reinstall it)"
        if not caddyfast.can_read(self.inputs[i].path):
            return "its name holds a character DuckDB reads as a pattern (* ? [ ] { })"
        return None

    def _fall_back(self, why: dict[int, str]) -> None:
        self._slow |= set(why)
        self._fallbacks.update(why)
        self._plan = None

    def _unsure(
        self,
        fast: set[int],
        counts: pl.DataFrame,
        rejected: pl.DataFrame,
        line_counts: dict[int, Future[int]],
    ) -> dict[int, str]:
        """The fast-read inputs whose rows cannot be vouched for: another number of rows than
        the file has lines (DuckDB skips blank lines, which would shift the line numbers), or
        a rejected row (a rejected record needs the line's text, which the fast reader does
        not keep). Counting a file's lines costs a twentieth of reading it."""
        by_name = {row[s.SOURCE_FILE]: row for row in counts.iter_rows(named=True)}
        names = [item.name for item in self.inputs]
        unsure: dict[int, str] = {}
        for i in fast:
            row = by_name.get(names[i])
            lines = line_counts[i].result()
            rows = 0 if row is None else int(row["lines"])
            if rows != lines:
                unsure[i] = f"DuckDB gave {rows} rows for {lines} lines (blank lines?)"
            elif row is not None and row["lines"] - row["parsed"] - row["skipped"]:
                unsure[i] = (
                    f"{UNSURE_REASON}: rejected"
                    if self._fast_unsure(names[i], rejected)
                    else "lines were rejected, and a rejected record needs the line's text"
                )
            elif names.count(names[i]) > 1:
                unsure[i] = "another input has the same name"
        return unsure

    @staticmethod
    def _fast_unsure(name: str, rejected: pl.DataFrame) -> bool:
        """Whether the fast reader rejected lines of `name` as unsure (among those kept)."""
        mine = rejected.filter(pl.col(s.SOURCE_FILE) == name)
        return bool((mine[s.REASON] == UNSURE_REASON).any())

    def _apply_counts(self, counts: pl.DataFrame) -> None:
        by_name = {r["source_file"]: r for r in counts.iter_rows(named=True)}
        for rep in self.reports:
            row = by_name.get(rep.name)
            if row is None:
                continue
            rep.lines = int(row["lines"])
            rep.parsed = int(row["parsed"])
            rep.skipped = int(row["skipped"])
            rep.rejected = rep.lines - rep.parsed - rep.skipped
            rep.foreign = int(row["foreign"])
            if rep.lines and rep.parsed == 0 and rep.rejected == 0:
                rep.notes.append(
                    f"no requests: all {rep.lines} lines were skipped (empty lines, other "
                    "loggers' lines or an nginx error log); is it the access log?"
                )

    def _check(self, rejected: pl.DataFrame) -> None:
        for i, rep in enumerate(self.reports):
            mine = rejected.filter(pl.col(s.SOURCE_FILE) == rep.name)[s.LINE_NO]
            # Where to look for the first unread line: the first rejected one kept, unless
            # skipped lines of another kind may come before it.
            start = 1 if rep.foreign or mine.is_empty() else int(mine.min())  # type: ignore[arg-type]
            self._check_mostly_read(i, rep, start)
        total = sum(r.rejected for r in self.reports)
        if self.options.strict and total:
            first = rejected.row(0, named=True)
            raise MalformedLogError(
                f"{first[s.SOURCE_FILE]}:{first[s.LINE_NO]}: {first[s.REASON]} "
                f"({total} rejected lines in all; --strict fails on any). "
                f"Line begins: {first[s.EXCERPT]!r}. Fix the log format or drop --strict"
            )

    def _check_mostly_read(self, i: int, rep: FileReport, start: int) -> None:
        """Fail on a file that is mostly not in its format, naming the format it looks like;
        note lines of another known format that were skipped.

        Rejected lines count, and so do lines skipped as not even of this format when they
        are of another known format (nginx lines in a file read as Caddy; other programs'
        output in a `docker compose logs` file is skipped as before).
        """
        considered = rep.lines - (rep.skipped - rep.foreign)
        unread = rep.rejected + rep.foreign
        mostly = considered >= 20 and unread > considered / 2
        if not mostly and not rep.foreign:
            return
        first, looks = self._looks_like(i, start)
        if not mostly:
            if first is not None and looks not in (None, rep.format):
                assert looks is not None
                rep.notes.append(
                    f"{rep.foreign} lines are not {rep.format} and were skipped; from line "
                    f"{first} on they look like {looks}: the file mixes formats? Split it, "
                    f"and read those lines with --log-format {looks.removeprefix('nginx-')}"
                )
            return
        if rep.rejected <= considered / 2 and looks in (None, rep.format):
            return
        if looks is not None and looks != rep.format:
            hint = (
                f"from there its lines look like {looks}. If the whole file is, give "
                f"--log-format {looks.removeprefix('nginx-')}; if it mixes formats, split it "
                "by format"
            )
        else:
            hint = (
                "they look like no format scraperwatch knows (`scraperwatch ingest --rejects "
                "FILE.csv` lists them with the reason of each). Give the format with "
                "--log-format (a name, or the log_format string from nginx.conf)"
            )
        where = f"; first at line {first}" if first is not None else ""
        raise LogSourceError(
            f"{rep.name}: {unread} of {considered} lines do not parse as {rep.format} "
            f"({rep.how}{where}); {hint}"
        )

    def _looks_like(self, i: int, start: int) -> tuple[int | None, str | None]:
        """The first line from line `start` on that the file's own format rejects or skips
        as foreign, and the format such lines look like (sniffed on up to 200 of them, as a
        file's head is). Reads at most 20,000 lines before the first and 10,000 after it:
        (None, None) when none is found so soon."""
        offset = self.line_offsets[i] if i < len(self.line_offsets) else 0
        unread: list[str] = []
        first: int | None = None
        window: list[str] = []
        window_start = start

        def judge() -> None:
            nonlocal first
            reasons = self.sources[i]._reasons(window).to_list()
            for k, (line, why) in enumerate(zip(window, reasons, strict=True)):
                if why is not None and (not why.startswith(SKIP) or why.startswith(SKIP_FOREIGN)):
                    first = window_start + k if first is None else first
                    unread.append(line)
            window.clear()

        try:
            for n, raw in enumerate(iter_lines(self.inputs[i]), start=offset + 1):
                if n < start:
                    continue
                if not window:
                    window_start = n
                window.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                if len(window) == 1000:
                    judge()
                    if len(unread) >= 200 or n - (start if first is None else first) >= (
                        20_000 if first is None else 10_000
                    ):
                        break
        except (OSError, EOFError, zlib.error):
            pass  # a damaged file: judge what was read
        if window:
            judge()
        if first is None:
            return None, None
        try:
            return first, sniff(unread[:200], name=self.inputs[i].name).source.label
        except LogSourceError:
            return first, None

    def _repair(self, reporter: Reporter) -> bool:
        """Find the files Polars cannot read and read each again carefully into a clean copy.

        Returns False when every file reads well (the error was elsewhere, e.g. an output).
        """
        repaired = False
        for i, item in enumerate(self.inputs):
            if i in self._careful:
                continue
            if not _fails(item.path, self.sources[i]):
                continue
            copy, notes = _careful_copy(item, source=self.sources[i])
            if _fails(copy.path, self.sources[i]):
                # Python's checks missed what Polars refuses (a number too big for its
                # type ...): find those lines by bisection and mark them.
                found = _isolate(copy.path, self.sources[i])
                notes.append(f"{found} lines could not be parsed at all and were rejected")
            self._careful[i] = copy
            self._plan = None
            self.reports[i].notes.extend(notes)
            repaired = True
        return repaired

    def cleanup(self) -> None:
        for item in [*self.inputs, *self._careful.values()]:
            item.cleanup()


def scan_text_lines(path: Path, *, first: int = 1) -> pl.LazyFrame:
    """The lines of a file (plain, gzip or zstd) as LINE, numbered from `first` in ROW (Int64).

    Read by Polars' CSV reader with NUL as the separator and no quoting, not by `scan_lines`:
    the same lines (a final `\r` dropped, empty lines kept as ""), in batches four times
    larger, which the streaming engine runs through the parse with far less overhead per
    batch. A line holding a NUL byte makes the read fail (more fields than the one column),
    and the careful path marks it (no access log writes a raw NUL; a crash leaves runs of it).
    """
    lines = pl.scan_csv(
        path,
        has_header=False,
        separator="\x00",
        quote_char=None,
        schema={LINE: pl.String()},
        row_index_name=ROW,
        row_index_offset=first,
        raise_if_empty=False,
        infer_schema=False,
        glob=False,  # a log named access[1].log is that file, not a pattern
    )
    return lines.with_columns(pl.col(LINE).fill_null(""), pl.col(ROW).cast(pl.Int64))


def _fails(path: Path, source: LogSource) -> bool:
    """True when Polars cannot read and parse the file as a whole."""
    try:
        source.parse(scan_text_lines(path)).select(pl.col(REASON).null_count()).collect(
            engine="streaming"
        )
    except (pl.exceptions.PolarsError, OSError):
        return True
    return False


def _batch_fails(lines: list[str], source: LogSource) -> bool:
    frame = pl.LazyFrame({LINE: lines, ROW: range(1, len(lines) + 1)})
    try:
        source.parse(frame).select(pl.col(REASON).null_count()).collect()
    except pl.exceptions.PolarsError:
        return True
    return False


def _isolate(path: Path, source: LogSource) -> int:
    """Mark, in a careful copy, the lines that make Polars fail; returns how many."""
    lines = path.read_text(encoding="utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    bad: list[int] = []

    def search(lo: int, hi: int) -> None:
        if lo >= hi or not _batch_fails(lines[lo:hi], source):
            return
        if hi - lo == 1:
            bad.append(lo)
            return
        mid = (lo + hi) // 2
        search(lo, mid)
        search(mid, hi)

    step = 4096
    for start in range(0, len(lines), step):
        search(start, min(start + step, len(lines)))
    for i in bad:
        lines[i] = f"{MARK}cannot be parsed (a value out of range?): {lines[i]}"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(bad)


def _is_json(src: LogSource) -> bool:
    return isinstance(src, CaddySource) or (
        isinstance(src, NginxSource) and src.format.escape == "json"
    )


def _careful_copy(item: LogInput, *, source: LogSource) -> tuple[LogInput, list[str]]:
    """Copy a file line by line: invalid UTF-8 replaced, broken JSON marked, truncation noted.

    Bytes that are not UTF-8 become U+FFFD in JSON lines (which must stay valid JSON) and
    `\\xHH` elsewhere (as nginx writes an escaped byte, so nothing is lost).
    """
    json_lines = _is_json(source)
    docker = isinstance(source, CaddySource)
    errors = "replace" if json_lines else "scraperwatch-nginx"
    fd, tmp = tempfile.mkstemp(prefix="scraperwatch-careful-", suffix=".log")
    bad_utf8 = bad_json = nul = n = 0
    notes: list[str] = []
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
        try:
            for raw in iter_lines(item):
                n += 1
                body = raw.rstrip(b"\r\n")
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    text = body.decode("utf-8", errors)
                    bad_utf8 += 1
                obj = (_DOCKER_PREFIX.sub("", text, count=1) if docker else text).strip()
                if "\x00" in text:
                    # Kept visible as \x00 (Polars reads no raw NUL) and rejected.
                    text = f"{MARK}{NUL_REASON}: " + text.replace("\x00", "\\x00")
                    nul += 1
                elif json_lines and obj.startswith("{") and obj.endswith("}"):
                    try:
                        json.loads(obj)
                    except json.JSONDecodeError as err:
                        text = f"{MARK}broken JSON ({err.msg} at column {err.colno}): {text}"
                        bad_json += 1
                out.write(text.replace("\n", " ") + "\n")
        except (EOFError, OSError, zlib.error) as err:
            notes.append(
                f"the compressed data ends early after line {n} ({err}): the rest of the file "
                "is lost; the file was probably copied while being written"
            )
    if bad_utf8:
        how = "U+FFFD" if json_lines else "\\xHH escapes"
        notes.append(
            f"{bad_utf8} lines held bytes that are not UTF-8; they were read with {how} in "
            "their place (nginx's default escaping never writes such bytes, escape=json and "
            "escape=none do: check the log_format, or whether the file is a log at all)"
        )
    if bad_json:
        notes.append(f"{bad_json} lines are broken JSON objects and were rejected")
    if nul:
        notes.append(
            f"{nul} lines held NUL bytes (the file was damaged, e.g. by a crash) and were rejected"
        )
    copy = LogInput(Path(tmp), item.name, None, Path(tmp).stat().st_size, temporary=True)
    return copy, notes


def trusted_networks(
    trusted: Sequence[str],
) -> tuple[list[ipaddress.IPv4Network | ipaddress.IPv6Network], bool]:
    """--trusted-proxy values as networks, and whether `unix:` (a unix socket) is trusted."""
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    unix = False
    for cidr in trusted:
        if cidr.strip() == "unix:":
            unix = True
            continue
        try:
            nets.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError:
            raise InputError(
                f"--trusted-proxy {cidr!r} is not an address or a CIDR; give e.g. 10.0.0.0/8, "
                "192.0.2.7, 2001:db8::/32 or unix:"
            ) from None
    return nets, unix


def _realip(base: pl.Expr, xff: pl.Expr, trusted: Sequence[str]) -> pl.Expr:
    """nginx realip with real_ip_recursive on: the rightmost address not in a trusted network.

    As nginx does: the walk starts only when the peer is trusted; an entry that is no address
    stops it, keeping the last good one; when every entry is trusted, the leftmost is taken.
    A line that logs no peer (only X-Forwarded-For) starts the walk at the rightmost entry.
    """
    nets, unix = trusted_networks(trusted)

    def is_trusted(addr: str | None) -> bool:
        if addr is None:
            return False
        if addr == "unix:":
            return unix
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip.version == net.version and ip in net for net in nets)

    def resolve(peer: str | None, chain: str | None) -> str | None:
        if not chain or (peer is not None and not is_trusted(peer)):
            return peer
        client = peer
        for hop in reversed([h for h in (h.strip() for h in chain.split(",")) if h]):
            addr = normalize_address(hop)
            if addr is None or addr == "unix:":
                break
            client = addr
            if not is_trusted(addr):
                break
        return client

    def walk(batch: pl.Series) -> pl.Series:
        cache: dict[tuple[str | None, str | None], str | None] = {}
        out: list[str | None] = []
        for key in zip(
            batch.struct.field("b").to_list(), batch.struct.field("x").to_list(), strict=True
        ):
            if key not in cache:
                cache[key] = resolve(*key)
            out.append(cache[key])
        return pl.Series(batch.name, out, dtype=pl.String)

    return pl.struct(base.alias("b"), xff.alias("x")).map_batches(
        walk, return_dtype=pl.String, is_elementwise=True
    )


def _head_lines(item: LogInput) -> list[str]:
    head = read_head(item)
    text = head.decode("utf-8", "replace")
    lines = [line.removesuffix("\r") for line in text.split("\n")]  # as scan_text_lines reads
    if len(head) >= 64 * 1024:
        lines = lines[:-1]  # the last one is cut
    return lines[:200]


def _shorten(text: str, limit: int = 60) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def open_logs(
    specs: Sequence[str | Path], options: ReadOptions, *, reporter: Reporter | None = None
) -> Logs:
    """Expand the inputs and choose each file's format (sniffed, or as given)."""
    inputs = expand_inputs(specs)
    if not inputs:
        raise LogSourceError("no log files given; name files, globs, directories or - for stdin")
    return open_inputs(inputs, options, reporter=reporter)


def open_inputs(
    inputs: Sequence[LogInput],
    options: ReadOptions,
    *,
    line_offsets: Sequence[int] = (),
    reporter: Reporter | None = None,
) -> Logs:
    """Choose each input's format (sniffed, or as given); line_offsets[i] lines precede input i."""
    rep = reporter or NullReporter()
    inputs = list(inputs)
    trusted_networks(options.trusted_proxies)  # a bad --trusted-proxy fails before any reading
    forced = options.log_format not in (None, "", SourceName.AUTO)
    given = source_for(options.log_format) if forced and options.log_format else None
    sources: list[LogSource] = []
    reports: list[FileReport] = []
    line_bytes: list[float] = []
    for item in inputs:
        head = _head_lines(item)
        nonempty = [h for h in head if h.strip()]
        line_bytes.append(sum(len(h) + 1 for h in head) / max(1, len(head)))
        notes = list(item.notes)
        if not nonempty:
            src: LogSource = given or NginxSource()
            how = "given" if given else "empty file"
            notes.append("the file is empty" if item.size == 0 else "the file holds no log lines")
        elif given is not None:
            src = given
            how = "given"
            share = src.share_parsed(head)
            if share < 0.5:
                try:
                    guess = f"it looks like {sniff(head, name=item.name).source.label}"
                except LogSourceError:
                    guess = "it looks like no format scraperwatch knows"
                raise LogSourceError(
                    f"{item.name}: only {share:.0%} of the first lines parse as {src.label}; "
                    f"{guess}. Check --log-format (or use --log-format auto)"
                )
        else:
            found = sniff(head, name=item.name)
            src, how = found.source, "detected"
            extra = src.trailing_text(head) if isinstance(src, NginxSource) else None
            if extra is not None:
                notes.append(
                    f"its lines go on after the last field of {src.label} "
                    f"({_shorten(extra)!r}): that text is not kept; give the log_format "
                    "string from nginx.conf with --log-format to read those fields too"
                )
        sources.append(src)
        reports.append(FileReport(item.name, src.label, how, notes=notes))
        rep.note(f"{item.name}: {src.label} ({how})")
    logs = Logs(inputs, sources, reports, options, line_offsets=list(line_offsets))
    logs._line_bytes = line_bytes
    return logs
