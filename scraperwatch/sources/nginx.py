"""nginx access logs in any log_format: combined by default, custom formats, escape=json."""

from __future__ import annotations

from typing import ClassVar, Final

import polars as pl

from scraperwatch.sources.base import SKIP, LogSource, basic_reasons
from scraperwatch.sources.fields import LINE, REASON, variables_to_columns
from scraperwatch.sources.logformat import (
    FIXED_WIDTH,
    Escape,
    LogFormat,
    SplitPlan,
    compile_format,
)

_OK: Final = "_ok"
# nginx's error log ("2024/01/31 12:00:00 [error] 31#31: ..."), often written to the same file
# or collected with the access log: such lines are skipped and counted, not rejected.
_ERROR_LOG_LINE: Final = (
    r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[(?:debug|info|notice|warn|error|crit|alert|emerg)\] "
    r"\d+#\d+: "
)


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
            frame, ok = self._parse_json(lines)
        elif fmt.quote_split:
            frame, ok = self._parse_split(lines)
        else:
            frame, ok = self._parse_regex(lines)
        reason = pl.coalesce(
            basic_reasons(pl.col(LINE)),
            pl.when(ok)
            .then(pl.lit(None, pl.String))
            # (masked: the regex then runs on the lines that did not parse, not on all)
            .when(pl.when(~ok).then(pl.col(LINE)).str.contains(_ERROR_LOG_LINE))
            .then(pl.lit(SKIP + "an nginx error-log line, not an access-log line"))
            .otherwise(mismatch),
        )
        frame = frame.with_columns(reason.alias(REASON)).drop(_OK)
        return variables_to_columns(frame, fmt.variables, unescape=fmt.escape is Escape.DEFAULT)

    def trailing_text(self, lines: list[str]) -> str | None:
        """Text after the format's last field, when most lines this format parses carry it:
        fields the format does not declare (a custom log_format read as `combined`), which
        are tolerated but not kept. Returns the first such text, else None."""
        fmt = self.format
        if not fmt.quote_split or fmt.segments[-1].variables:
            return None
        literal = "".join(p for p in fmt.segments[-1].parts if isinstance(p, str))
        lines = [line for line in lines if line.strip()]
        if not lines:
            return None
        reasons = self._reasons(lines).to_list()
        n = len(fmt.segments)
        parsed = [line for line, why in zip(lines, reasons, strict=True) if why is None]
        tails = [line.split('"', n - 1)[-1][len(literal) :] for line in parsed]
        extra = [t for t in tails if t]
        return extra[0] if extra and len(extra) * 2 > len(parsed) else None

    def _parse_split(self, lines: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.Expr]:
        segments = self.format.segments
        n = len(segments)
        split = pl.col(LINE).str.splitn('"', n)
        # The split is materialised once, then unnested: fields taken from the expression
        # would make Polars split the line once per field.
        frame = (
            lines.with_columns(split.alias("_split"))
            .with_columns(
                pl.col("_split").struct.field(f"field_{i}").alias(f"_seg{i}") for i in range(n)
            )
            .drop("_split")
        )
        assigned: dict[str, pl.Expr] = {}
        checks: list[pl.Expr] = []
        temporary: list[str] = []
        plans = {
            i: plan
            for i, seg in enumerate(segments)
            if seg.single_variable is None and seg.variables and (plan := seg.split_plan())
        }
        for i, plan in plans.items():
            frame = _apply_plan(frame, i, plan, assigned, temporary)
            # The segment's own regex says whether it matches: the one the regex way uses, so
            # both ways reject the same lines by construction, in one call instead of a check
            # for each literal and value.
            checks.append(pl.col(f"_seg{i}").str.contains(segments[i].regex()))
        # Other segments' regexes run once each into a struct column: fields taken from an
        # expression would make Polars run the regex once per field.
        regexes = {
            f"_grp{i}": pl.col(f"_seg{i}").str.extract_groups(seg.regex())
            for i, seg in enumerate(segments)
            if seg.single_variable is None and seg.variables and i not in plans
        }
        if regexes:
            frame = frame.with_columns(**regexes)
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
            elif i in plans:
                continue
            else:
                groups = pl.col(f"_grp{i}")
                checks.append(groups.struct.field(seg.variables[0]).is_not_null())
                for v in dict.fromkeys(seg.variables):
                    assigned.setdefault(v, groups.struct.field(v))
        ok = pl.all_horizontal(checks).fill_null(False)
        frame = frame.with_columns(**assigned, **{_OK: ok})
        dropped = [f"_seg{i}" for i in range(n)] + list(regexes) + temporary
        return frame.drop(dropped), pl.col(_OK)

    def _parse_regex(self, lines: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.Expr]:
        regex = self.format.whole_regex()
        variables = list(dict.fromkeys(self.format.variables))
        frame = lines.with_columns(pl.col(LINE).str.extract_groups(regex).alias("_grp"))
        groups = pl.col("_grp")
        frame = frame.with_columns(
            **{v: groups.struct.field(v) for v in variables},
            **{_OK: groups.struct.field(variables[0]).is_not_null()},
        ).drop("_grp")
        return frame, pl.col(_OK)

    def _parse_json(self, lines: pl.LazyFrame) -> tuple[pl.LazyFrame, pl.Expr]:
        fields = self.format.json_fields
        dtype = pl.Struct({key: pl.String() for key, _ in fields})
        line = pl.col(LINE).str.strip_chars()
        looks_json = line.str.starts_with("{") & line.str.ends_with("}")
        # json_decode fails a whole batch on one broken object: feed it only objects, and
        # let the reader's careful path find any remaining bad line.
        decoded = pl.when(looks_json).then(line).otherwise(pl.lit("{}")).str.json_decode(dtype)
        frame = lines.with_columns(decoded.alias("_doc"))
        doc = pl.col("_doc")
        first_key = fields[0][0]
        frame = frame.with_columns(
            # escape=json writes an unset variable as "" where default escaping writes "-":
            # both are null here.
            **{
                var: pl.when(doc.struct.field(key) != "").then(doc.struct.field(key))
                for key, var in _first_keys(fields).items()
            },
            **{_OK: (looks_json & doc.struct.field(first_key).is_not_null()).fill_null(False)},
        ).drop("_doc")
        return frame, pl.col(_OK)


def _apply_plan(
    frame: pl.LazyFrame,
    index: int,
    plan: SplitPlan,
    assigned: dict[str, pl.Expr],
    temporary: list[str],
) -> pl.LazyFrame:
    """Take segment `index` apart by its split plan: slices and one-space splits, no regex.

    Each step materialises what is left of the segment as a column (`_r<index>_<k>`); the
    values are added to `assigned`. Whether the segment matches at all is the caller's check
    (the segment's regex): on a segment that matches, the steps give the values the regex
    would capture.
    """
    rest = f"_seg{index}"
    pending_space = False  # a word step has consumed the space that starts the next literal

    def step(new: pl.Expr, values: dict[str, pl.Expr]) -> None:
        nonlocal frame, rest
        name = f"_r{index}_{len(temporary)}"
        temporary.append(name)
        cols = {name: new}
        for var, expr in values.items():
            col = f"_v{index}_{var}"
            temporary.append(col)
            cols[col] = expr
            assigned.setdefault(var, pl.col(col))
        frame = frame.with_columns(**cols)
        rest = name

    for kind, x in plan.left:
        cur = pl.col(rest)
        if kind == "lit":
            lit = x[1:] if pending_space else x
            pending_space = False
            if lit:  # (a word step took the literal's only character, its space)
                step(cur.str.slice(len(lit)), {})
        elif kind == "fixed":
            width = FIXED_WIDTH[x]
            step(cur.str.slice(width), {x: cur.str.head(width)})
        else:
            parts = cur.str.splitn(" ", 2)
            step(parts.struct.field("field_1"), {x: parts.struct.field("field_0")})
            pending_space = True
    for kind, x in plan.right:
        cur = pl.col(rest)
        if kind == "lit":
            step(cur.str.head(-len(x)), {})
        else:
            width = FIXED_WIDTH[x]
            step(cur.str.head(-width), {x: cur.str.tail(width)})
    if plan.middle is not None:
        cur = pl.col(rest)
        step(cur, {plan.middle: cur})
    return frame


def _first_keys(fields: tuple[tuple[str, str], ...]) -> dict[str, str]:
    """key -> variable, keeping the first key for a variable named twice."""
    out: dict[str, str] = {}
    seen: set[str] = set()
    for key, var in fields:
        if var not in seen:
            out[key] = var
            seen.add(var)
    return out
