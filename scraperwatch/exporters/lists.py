"""Export stage: the offender list itself, as the JSON contract and as CSV."""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import Counter
from datetime import UTC, datetime
from typing import Any, ClassVar, Final

import polars as pl

from scraperwatch import schema
from scraperwatch.exporters.addresses import parse_network, sort_key
from scraperwatch.exporters.base import Exporter, ExportOptions

# Bumped when a field of the JSON contract changes meaning or disappears (docs/export.md).
JSON_CONTRACT_VERSION: Final = 1
_ACTION_RANK: Final = {a.value: i for i, a in enumerate(schema.Action)}
_LIST_COLUMNS: Final = (schema.RULES, schema.TOKENS, schema.USER_AGENTS, schema.PATHS)
_CSV_COLUMNS: Final = tuple(schema.OFFENDER_SCHEMA)
_CSV_JOIN: Final = " | "
# Cells a spreadsheet would run as a formula (OWASP "CSV injection") get a leading quote.
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")
_CONTROL_RE: Final = re.compile(r"[\x00-\x1f\x7f]")


def _iso(value: object) -> str | None:
    if not isinstance(value, datetime):
        return None
    utc = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return utc.isoformat().replace("+00:00", "Z")


def _number(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _row_key(row: dict[str, Any]) -> tuple[int, int, tuple[int, int, int], str, str]:
    net = parse_network(row.get(schema.IP))
    action = row.get(schema.ACTION)
    rank = _ACTION_RANK.get(action, len(_ACTION_RANK)) if isinstance(action, str) else 99
    # the whole record last, so two verdicts for one address still sort the same every run
    whole = json.dumps(row, sort_keys=True, default=str)
    return (
        rank,
        0 if net else 1,
        sort_key(net) if net else (0, 0, 0),
        str(row.get(schema.IP)),
        whole,
    )


def offender_records(offenders: pl.DataFrame) -> list[dict[str, Any]]:
    """The rows as JSON-ready dicts in schema order, blocks first, then by address."""
    frame = offenders.select(
        [
            (pl.col(c) if c in offenders.columns else pl.lit(None, dtype=dt)).alias(c)
            for c, dt in schema.OFFENDER_SCHEMA.items()
        ]
    )
    records = []
    for row in frame.iter_rows(named=True):
        rec: dict[str, Any] = {}
        for col, value in row.items():
            if col in (schema.FIRST_SEEN, schema.LAST_SEEN):
                rec[col] = _iso(value)
            elif col in _LIST_COLUMNS:
                rec[col] = list(value) if value is not None else []
            elif col == schema.EVIDENCE:
                rec[col] = [
                    {k: _number(v) for k, v in ev.items()} for ev in (value or []) if ev is not None
                ]
            else:
                rec[col] = _number(value)
        records.append(rec)
    records.sort(key=_row_key)
    return records


def summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    by_action = Counter(str(r[schema.ACTION]) for r in records)
    by_category = Counter(str(r[schema.CATEGORY]) for r in records)
    return {
        "offenders": len(records),
        "by_action": dict(sorted(by_action.items())),
        "by_category": dict(sorted(by_category.items())),
        "requests": sum(r[schema.REQUESTS] or 0 for r in records),
        "bytes": sum(r[schema.BYTES] or 0 for r in records),
    }


class JsonExporter(Exporter):
    """The documented JSON contract: every verdict (block, watch, allow), blocks first."""

    name: ClassVar[str] = "json"

    def render(self, offenders: pl.DataFrame, *, options: ExportOptions) -> str:
        records = offender_records(offenders)
        doc = {
            "generated_by": f"scraperwatch {options.version}",
            "version": JSON_CONTRACT_VERSION,
            "ruleset_digest": options.ruleset_digest or None,
            "expiry_days": options.expiry_days,
            "summary": summary(records),
            "offenders": records,
        }
        # ensure_ascii: every byte from a log is escaped, the file is plain ASCII.
        return json.dumps(doc, indent=2, ensure_ascii=True, allow_nan=False) + "\n"


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        text = _CSV_JOIN.join("" if v is None else str(v) for v in value)
    else:
        text = str(value)
    text = _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    return "'" + text if text.startswith(_FORMULA_START) else text


class CsvExporter(Exporter):
    """One row per verdict with a header row; lists joined by ' | ', evidence as JSON."""

    name: ClassVar[str] = "csv"

    def render(self, offenders: pl.DataFrame, *, options: ExportOptions) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(_CSV_COLUMNS)
        for rec in offender_records(offenders):
            cells = []
            for col in _CSV_COLUMNS:
                value = rec[col]
                if col == schema.EVIDENCE:
                    value = json.dumps(value, ensure_ascii=True, separators=(",", ":"))
                    cells.append(value if value != "[]" else "")
                else:
                    cells.append(_cell(value))
            writer.writerow(cells)
        return buf.getvalue()
