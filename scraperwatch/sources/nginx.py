"""nginx access logs in any log_format: combined by default, custom formats, escape=json."""

from __future__ import annotations

from typing import ClassVar

import polars as pl

from scraperwatch.sources.base import LogSource, basic_reasons
from scraperwatch.sources.fields import LINE, REASON, variables_to_columns
from scraperwatch.sources.logformat import Escape, LogFormat, compile_format


class NginxSource(LogSource):
    """nginx lines in one log_format."""

    name: ClassVar[str] = "nginx"

    def __init__(self, fmt: LogFormat | str = "combined") -> None:
        self.format = compile_format(fmt) if isinstance(fmt, str) else fmt

    @property
    def label(self) -> str:
        return f"nginx-{self.format.name}"

    def parse(self, lines: pl.LazyFrame) -> pl.LazyFrame:
        fmt = self.format
        mismatch = pl.lit(f"does not match the nginx log format '{fmt.name}'")
        if fmt.escape is Escape.JSON:
            frame = self._parse_json(lines, mismatch)
        elif fmt.quote_split:
            frame = self._parse_split(lines, mismatch)
        else:
            frame = self._parse_regex(lines, mismatch)
        return variables_to_columns(frame, fmt.variables, unescape=fmt.escape is Escape.DEFAULT)

    def _parse_split(self, lines: pl.LazyFrame, mismatch: pl.Expr) -> pl.LazyFrame:
        segments = self.format.segments
        n = len(segments)
        split = pl.col(LINE).str.splitn('"', n)
        frame = lines.with_columns(
            split.struct.field(f"field_{i}").alias(f"_seg{i}") for i in range(n)
        )
        assigned: dict[str, pl.Expr] = {}
        checks: list[pl.Expr] = []
        for i, seg in enumerate(segments):
            col = pl.col(f"_seg{i}")
            var = seg.single_variable
            if var is not None:
                assigned.setdefault(var, col)
                checks.append(col.is_not_null())
            elif not seg.variables:
                literal = "".join(p for p in seg.parts if isinstance(p, str))
                if i == n - 1:
                    # Trailing fields after the format's last quote (a format with more fields
                    # than declared, like `main` read as combined) are tolerated.
                    checks.append((col == literal) | col.str.starts_with(literal + " "))
                else:
                    checks.append(col == literal)
            else:
                groups = col.str.extract_groups(seg.regex())
                first = seg.variables[0]
                checks.append(groups.struct.field(first).is_not_null())
                for v in dict.fromkeys(seg.variables):
                    assigned.setdefault(v, groups.struct.field(v))
        ok = pl.all_horizontal(checks).fill_null(False)
        return frame.with_columns(
            **{v: e for v, e in assigned.items()},
            **{REASON: basic_reasons(pl.col(LINE)).when(~ok).then(mismatch)},
        ).drop([f"_seg{i}" for i in range(n)])

    def _parse_regex(self, lines: pl.LazyFrame, mismatch: pl.Expr) -> pl.LazyFrame:
        regex = self.format.whole_regex()
        groups = pl.col(LINE).str.extract_groups(regex)
        variables = list(dict.fromkeys(self.format.variables))
        ok = groups.struct.field(variables[0]).is_not_null()
        return lines.with_columns(
            **{v: groups.struct.field(v) for v in variables},
            **{REASON: basic_reasons(pl.col(LINE)).when(~ok).then(mismatch)},
        )

    def _parse_json(self, lines: pl.LazyFrame, mismatch: pl.Expr) -> pl.LazyFrame:
        fields = self.format.json_fields
        dtype = pl.Struct({key: pl.String() for key, _ in fields})
        line = pl.col(LINE).str.strip_chars()
        looks_json = line.str.starts_with("{") & line.str.ends_with("}")
        # json_decode fails a whole batch on one broken object: feed it only objects, and
        # let the reader's careful path find any remaining bad line.
        decoded = pl.when(looks_json).then(line).otherwise(pl.lit("{}")).str.json_decode(dtype)
        first_key = fields[0][0]
        return lines.with_columns(
            **{var: decoded.struct.field(key) for key, var in _first_keys(fields).items()},
            **{
                REASON: basic_reasons(pl.col(LINE))
                .when(~looks_json | decoded.struct.field(first_key).is_null())
                .then(mismatch)
            },
        )


def _first_keys(fields: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """key -> variable, keeping the first key for a variable named twice."""
    out: dict[str, str] = {}
    seen: set[str] = set()
    for key, var in fields:
        if var not in seen:
            out[key] = var
            seen.add(var)
    return out
