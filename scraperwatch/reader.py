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
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeVar

import polars as pl

from scraperwatch import schema as s
from scraperwatch.console import NullReporter, Reporter
from scraperwatch.errors import LogSourceError, MalformedLogError
from scraperwatch.sources import SourceName, sniff, source_for
from scraperwatch.sources.base import SKIP, LogSource
from scraperwatch.sources.caddy import CaddySource
from scraperwatch.sources.fields import LINE, REASON, ROW
from scraperwatch.sources.files import LogInput, expand_inputs, iter_lines, read_head
from scraperwatch.sources.nginx import NginxSource

T = TypeVar("T")
# The careful path marks a line it could not repair with this prefix and the reason.
MARK: Final = "\x01scraperwatch-reject:"
_CADDY_CLIENT: Final = "_caddy_client"
MAX_REJECTED_KEPT: Final = 10_000


@dataclass(frozen=True)
class ReadOptions:
    log_format: str | None = None  # None/"auto": sniff each file; else a name or log_format
    trusted_proxies: tuple[str, ...] = ()
    strict: bool = False


@dataclass
class FileReport:
    name: str
    format: str
    how: str  # "detected" or "given"
    lines: int = 0
    parsed: int = 0
    skipped: int = 0
    rejected: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass
class Logs:
    """The files of one read, with the lazy frames built over them."""

    inputs: list[LogInput]
    sources: list[LogSource]
    reports: list[FileReport]
    options: ReadOptions
    _careful: dict[int, LogInput] = field(default_factory=dict)

    def _parsed(self) -> pl.LazyFrame:
        frames = []
        for i, (item, src) in enumerate(zip(self.inputs, self.sources, strict=True)):
            path = self._careful.get(i, item).path
            lines = pl.scan_lines(path, name=LINE, row_index_name=ROW, row_index_offset=1)
            lines = lines.with_columns(pl.col(ROW).cast(pl.Int64))
            marked = pl.col(LINE).str.starts_with(MARK)
            frame = src.parse(lines).with_columns(
                pl.when(marked)
                .then(pl.col(LINE).str.strip_prefix(MARK))
                .otherwise(pl.col(REASON))
                .alias(REASON),
                pl.lit(item.name).alias(s.SOURCE_FILE),
                pl.lit(src.label).alias(s.SOURCE_FORMAT),
            )
            if _CADDY_CLIENT not in frame.collect_schema().names():
                frame = frame.with_columns(pl.lit(None, pl.String).alias(_CADDY_CLIENT))
            frames.append(frame)
        if not frames:
            return pl.LazyFrame()
        return pl.concat(frames, how="diagonal_relaxed")

    def requests(self) -> pl.LazyFrame:
        """Parsed lines in the canonical schema (extra nginx variables as var_* columns)."""
        if not self.inputs:
            return pl.LazyFrame(schema=s.REQUEST_SCHEMA)
        parsed = self._parsed().filter(pl.col(REASON).is_null())
        base = pl.coalesce(pl.col(_CADDY_CLIENT), pl.col(s.PEER_IP))
        if self.options.trusted_proxies:
            client = _realip(base, pl.col(s.X_FORWARDED_FOR), self.options.trusted_proxies)
        else:
            client = base
        return s.conform(
            parsed.with_columns(client.alias(s.CLIENT_IP), pl.col(ROW).alias(s.LINE_NO))
        )

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
                pl.col(REASON).alias(s.REASON),
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
        for attempt in range(2):
            plans = [*work(self.requests()), self.counts(), self.rejected().head(MAX_REJECTED_KEPT)]
            try:
                *results, counts, rejected = pl.collect_all(plans, engine="streaming")
                break
            except (pl.exceptions.ComputeError, OSError) as err:
                if attempt:
                    raise LogSourceError(f"cannot read the logs: {err}") from err
                self._repair(rep)
        self._apply_counts(counts)
        self._check(rejected)
        return results, rejected

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

    def _check(self, rejected: pl.DataFrame) -> None:
        for rep in self.reports:
            considered = rep.lines - rep.skipped
            if considered >= 20 and rep.rejected > considered / 2:
                first = rejected.filter(pl.col(s.SOURCE_FILE) == rep.name).head(1)
                line = first[s.LINE_NO][0] if first.height else "?"
                raise LogSourceError(
                    f"{rep.name}: {rep.rejected} of {considered} lines do not parse as "
                    f"{rep.format} (first at line {line}); the file is in another format. "
                    "Give its format with --log-format (a name or the log_format string from "
                    "nginx.conf), or let scraperwatch detect it with --log-format auto"
                )
        total = sum(r.rejected for r in self.reports)
        if self.options.strict and total:
            first = rejected.row(0, named=True)
            raise MalformedLogError(
                f"{first[s.SOURCE_FILE]}:{first[s.LINE_NO]}: {first[s.REASON]} "
                f"({total} rejected lines in all; --strict fails on any). "
                f"Line begins: {first[s.EXCERPT]!r}. Fix the log format or drop --strict"
            )

    def _repair(self, reporter: Reporter) -> None:
        """Find the files Polars cannot read and read each again carefully into a clean copy."""
        for i, item in enumerate(self.inputs):
            if i in self._careful:
                continue
            try:
                self.sources[i].parse(
                    pl.scan_lines(item.path, name=LINE, row_index_name=ROW)
                ).select(pl.col(REASON).null_count()).collect(engine="streaming")
                continue
            except (pl.exceptions.ComputeError, OSError):
                pass
            copy, notes = _careful_copy(item, json_lines=_is_json(self.sources[i]))
            self._careful[i] = copy
            self.reports[i].notes.extend(notes)
            for note in notes:
                reporter.note(f"{item.name}: {note}")

    def cleanup(self) -> None:
        for item in [*self.inputs, *self._careful.values()]:
            item.cleanup()


def _is_json(src: LogSource) -> bool:
    return isinstance(src, CaddySource) or (
        isinstance(src, NginxSource) and src.format.escape == "json"
    )


def _careful_copy(item: LogInput, *, json_lines: bool) -> tuple[LogInput, list[str]]:
    """Copy a file line by line: invalid UTF-8 replaced, broken JSON marked, truncation noted."""
    fd, tmp = tempfile.mkstemp(prefix="scraperwatch-careful-", suffix=".log")
    bad_utf8 = bad_json = n = 0
    notes: list[str] = []
    with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as out:
        try:
            for raw in iter_lines(item):
                n += 1
                body = raw.rstrip(b"\r\n")
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    text = body.decode("utf-8", "replace")
                    bad_utf8 += 1
                if json_lines and text.lstrip().startswith("{"):
                    try:
                        json.loads(text[text.index("{") :])
                    except ValueError as err:
                        text = f"{MARK}broken JSON ({err.msg} at column {err.colno}): {text}"
                        bad_json += 1
                out.write(text.replace("\n", " ") + "\n")
        except (EOFError, OSError, zlib.error) as err:
            notes.append(
                f"the compressed data ends early after line {n} ({err}): the rest of the file "
                "is lost; the file was probably copied while being written"
            )
    if bad_utf8:
        notes.append(
            f"{bad_utf8} lines held bytes that are not UTF-8; they were read with U+FFFD in "
            "their place (nginx's default escaping never writes such bytes: check the log_format's "
            "escape= setting)"
        )
    if bad_json:
        notes.append(f"{bad_json} lines are broken JSON objects and were rejected")
    copy = LogInput(Path(tmp), item.name, None, Path(tmp).stat().st_size, temporary=True)
    return copy, notes


def _realip(base: pl.Expr, xff: pl.Expr, trusted: Sequence[str]) -> pl.Expr:
    """nginx realip with real_ip_recursive on: the rightmost address not in a trusted network."""
    nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
    unix = False
    for cidr in trusted:
        if cidr == "unix:":
            unix = True
            continue
        nets.append(ipaddress.ip_network(cidr, strict=False))

    def is_trusted(addr: str | None) -> bool:
        if addr is None:
            return False
        if addr.startswith("unix:"):
            return unix
        try:
            ip = ipaddress.ip_address(addr)
        except ValueError:
            return False
        return any(ip in net for net in nets)

    def walk(batch: pl.Series) -> pl.Series:
        out: list[str | None] = []
        cache: dict[tuple[str | None, str | None], str | None] = {}
        for peer, chain in zip(
            batch.struct.field("b").to_list(), batch.struct.field("x").to_list(), strict=True
        ):
            key = (peer, chain)
            if key not in cache:
                client = peer
                if is_trusted(peer) and chain:
                    for hop in reversed([h.strip() for h in chain.split(",") if h.strip()]):
                        client = _normalize(hop)
                        if not is_trusted(client):
                            break
                cache[key] = client
            out.append(cache[key])
        return pl.Series(batch.name, out, dtype=pl.String)

    return pl.struct(base.alias("b"), xff.alias("x")).map_batches(
        walk, return_dtype=pl.String, is_elementwise=True
    )


def _normalize(value: str) -> str | None:
    from scraperwatch.sources.fields import _normalize_one

    return _normalize_one(value)


def _head_lines(item: LogInput) -> list[str]:
    head = read_head(item)
    text = head.decode("utf-8", "replace")
    lines = text.split("\n")
    if len(head) >= 64 * 1024:
        lines = lines[:-1]  # the last one is cut
    return lines[:200]


def open_logs(
    specs: Sequence[str | Path], options: ReadOptions, *, reporter: Reporter | None = None
) -> Logs:
    """Expand the inputs and choose each file's format (sniffed, or as given)."""
    rep = reporter or NullReporter()
    inputs = expand_inputs(specs)
    if not inputs:
        raise LogSourceError("no log files given; name files, globs, directories or - for stdin")
    forced = options.log_format not in (None, "", SourceName.AUTO)
    sources: list[LogSource] = []
    reports: list[FileReport] = []
    for item in inputs:
        head = _head_lines(item)
        if not any(h.strip() for h in head):
            src: LogSource = source_for(options.log_format) if forced else NginxSource()
            how = "given" if forced else "empty file"
        elif forced:
            assert options.log_format is not None
            src = source_for(options.log_format)
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
        sources.append(src)
        reports.append(FileReport(item.name, src.label, how))
        rep.note(f"{item.name}: {src.label} ({how})")
    return Logs(inputs, sources, reports, options)
