"""The LogSource interface: a frame of raw lines in, canonical requests (and reasons) out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Final

import polars as pl

from scraperwatch.sources.fields import LINE, REASON, ROW

# Reasons that start with this prefix mark lines that are not access-log lines at all (another
# logger's lines in a Caddy log, `docker compose logs` banners): counted as skipped, not errors.
SKIP: Final = "skip: "


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
        lines = [h for h in head if h.strip()]
        if not lines:
            return 0.0
        frame = pl.LazyFrame({LINE: lines, ROW: range(1, len(lines) + 1)})
        try:
            out = self.parse(frame).select(pl.col(REASON)).collect()
        except pl.exceptions.PolarsError:
            return 0.0
        reasons = out[REASON]
        considered = reasons.filter(~reasons.str.starts_with(SKIP).fill_null(False))
        if considered.len() == 0:
            return 0.0
        return float(considered.is_null().sum()) / considered.len()


def basic_reasons(line: pl.Expr) -> pl.Expr:
    """Reasons that hold for any format: empty lines and NUL bytes (a crash leaves NUL runs)."""
    return (
        pl.when(line.str.strip_chars() == "")
        .then(pl.lit("empty line"))
        .when(line.str.contains("\x00", literal=True))
        .then(pl.lit("NUL bytes in the line (the file was damaged, e.g. by a crash)"))
    )
