"""The LogSource interface: a frame of raw lines in, canonical requests (and reasons) out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Final

import polars as pl

from scraperwatch.sources.fields import LINE, REASON, ROW

# Reasons that start with this prefix mark lines that are not access-log lines at all (another
# logger's lines in a Caddy log, nginx error-log lines, `docker compose logs` banners): counted as
# skipped, not errors. SKIP_FOREIGN marks lines that do not even look like this source's output
# (they do not count for it when sniffing a file's format).
SKIP: Final = "skip: "
SKIP_FOREIGN: Final = SKIP + "not this format: "
_EMPTY: Final = SKIP + "empty line"
# Blank lines (skipped) are looked for among lines no longer than this; a longer run of
# spaces is rejected as not matching, which the summary still counts and shows.
_SHORT: Final = 64
NUL_REASON: Final = "NUL bytes in the line (the file was damaged, e.g. by a crash)"


class LogSource(ABC):
    """A log format. `parse` maps a LazyFrame of (LINE, ROW) to parsed columns plus REASON.

    REASON is null for a parsed line, else why the line was rejected (or, with the SKIP
    prefix, why it was skipped). The caller conforms the rest to the canonical schema.
    """

    name: ClassVar[str] = ""

    @property
    def label(self) -> str:
        """The name shown to users; a custom nginx format says so."""
        return self.name

    @abstractmethod
    def parse(self, lines: pl.LazyFrame) -> pl.LazyFrame: ...

    def share_parsed(self, head: list[str]) -> float:
        """The share of the given non-empty lines this source parses (for format sniffing)."""
        return scores([self], head)[0].share

    @staticmethod
    def _score(reasons: pl.Series) -> Score:
        skipped = reasons.str.starts_with(SKIP).fill_null(False)
        considered = reasons.filter(~skipped)
        parsed = int(considered.is_null().sum())
        if considered.len() == 0:
            # Only skipped lines (a Caddy log that starts with other loggers' lines): a weak
            # claim, when they are this source's own kind of line.
            own = reasons.filter(
                skipped & ~reasons.str.starts_with(SKIP_FOREIGN) & (reasons != _EMPTY)
            )
            return Score(0.5 if own.len() else 0.0, 0)
        return Score(parsed / considered.len(), parsed)

    def _reasons(self, lines: list[str]) -> pl.Series:
        """REASON of each line. A line that fails the whole batch (a broken JSON object makes
        json_decode fail) is judged alone and counts as rejected."""
        try:
            return self._reasons_of(lines)
        except pl.exceptions.PolarsError:
            pass
        out: list[str | None] = []
        for line in lines:
            try:
                out.extend(self._reasons_of([line]).to_list())
            except pl.exceptions.PolarsError:
                out.append("cannot be parsed")
        return pl.Series(REASON, out, dtype=pl.String)

    def _reasons_of(self, lines: list[str]) -> pl.Series:
        return self.parse(_frame(lines)).select(pl.col(REASON)).collect().to_series()


def _frame(lines: list[str]) -> pl.LazyFrame:
    return pl.LazyFrame({LINE: lines, ROW: range(1, len(lines) + 1)})


@dataclass(frozen=True)
class Score:
    """How well a source reads some lines: the share it parses of the lines it does not skip,
    and how many it parses. (A Caddy log skips the lines that are no JSON object, such as
    `docker compose logs` lines of other services, so its share is taken over the rest.)"""

    share: float
    parsed: int


def scores(sources: list[LogSource], head: list[str]) -> list[Score]:
    """How well each source reads the given non-empty lines (for format sniffing).

    The sources are judged in one `collect_all`, on both cores: a third faster than one by
    one (the 8 candidate formats, 60 against 40 ms a file). A batch that fails as a whole (a
    broken JSON object fails json_decode) is judged source by source, line by line.
    """
    lines = [h for h in head if h.strip()]
    if not lines:
        return [Score(0.0, 0)] * len(sources)
    frame = _frame(lines)
    try:
        plans = [src.parse(frame).select(pl.col(REASON)) for src in sources]
        reasons = [df.to_series() for df in pl.collect_all(plans)]
    except pl.exceptions.PolarsError:
        reasons = [src._reasons(lines) for src in sources]
    return [LogSource._score(r) for r in reasons]


def basic_reasons(line: pl.Expr) -> pl.Expr:
    """Reasons that hold for any format: empty lines (skipped) and NUL bytes (a crash leaves
    NUL runs; rejected).

    Each pass over the text of every line costs the streaming engine about 30 ns a line, so
    blank lines are looked for among the short ones only (a length costs nothing to read).
    The reader itself never gives a line with a NUL (its careful path marks them): the NUL
    test is for lines given directly (format sniffing, `rules test`), and as cheap.
    """
    short = pl.when(line.str.len_bytes() <= _SHORT).then(line)
    return (
        pl.when(short.str.strip_chars() == "")
        .then(pl.lit(_EMPTY))
        .when(short.str.contains("\x00", literal=True))
        .then(pl.lit(NUL_REASON))
    )
