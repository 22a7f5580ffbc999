"""Export stage: keep blocks for N days after an offender was last seen, across nightly runs."""

from __future__ import annotations

import contextlib
import os
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import polars as pl

from scraperwatch import schema
from scraperwatch.errors import ExportError
from scraperwatch.exporters.addresses import network_text, parse_network

STATE_FILE: Final = "export-blocks.parquet"
DEFAULT_DAYS: Final = 7
EXPIRY_EVIDENCE_ID: Final = "EXPIRY"
STATE_SCHEMA: Final[dict[str, pl.DataType]] = {
    schema.IP: pl.String(),
    schema.SCOPE: pl.String(),
    schema.CATEGORY: pl.String(),
    schema.RULES: pl.List(pl.String()),
    schema.TOKENS: pl.List(pl.String()),
    schema.FIRST_SEEN: schema.UTC_TS,
    schema.LAST_SEEN: schema.UTC_TS,
}


def _key(ip: object) -> str:
    net = parse_network(ip)
    return network_text(net) if net is not None else str(ip)


def _utc(ts: datetime) -> datetime:
    return ts.astimezone(UTC) if ts.tzinfo else ts.replace(tzinfo=UTC)


def load_state(state_dir: Path) -> dict[str, dict[str, Any]]:
    """The blocks recorded by earlier runs, by normalised address; empty when there is none."""
    path = state_dir / STATE_FILE
    if not path.exists():
        return {}
    try:
        frame = pl.read_parquet(path, glob=False)
    except (OSError, pl.exceptions.PolarsError) as err:
        raise ExportError(
            f"the expiry state {path} cannot be read ({err}); delete it to start afresh "
            "(current offenders are kept, earlier blocks are forgotten)"
        ) from None
    missing = [c for c in STATE_SCHEMA if c not in frame.columns]
    if missing:
        raise ExportError(
            f"the expiry state {path} lacks {', '.join(missing)}; delete it to start afresh"
        )
    return {
        row[schema.IP]: row
        for row in frame.select(list(STATE_SCHEMA)).cast(STATE_SCHEMA).iter_rows(named=True)  # type: ignore[arg-type]
    }


def save_state(state_dir: Path, state: dict[str, dict[str, Any]]) -> None:
    """Write the state atomically (temporary file, rename)."""
    rows = [state[k] for k in sorted(state)]
    frame = (
        pl.DataFrame(rows, schema=STATE_SCHEMA, orient="row")
        if rows
        else pl.DataFrame(schema=STATE_SCHEMA)
    )
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=state_dir, prefix=f".{STATE_FILE}.", suffix=".tmp")
        os.close(fd)
        try:
            frame.write_parquet(tmp)
            Path(tmp).replace(state_dir / STATE_FILE)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
            raise
    except OSError as err:
        raise ExportError(
            f"cannot write the expiry state in {state_dir}: {err.strerror or err}"
        ) from None


def _carried_row(entry: dict[str, Any], days: int) -> dict[str, Any]:
    last = _utc(entry[schema.LAST_SEEN])
    until = last + timedelta(days=days)
    why = (
        f"blocked until {until:%Y-%m-%d %H:%M} UTC: last seen {last:%Y-%m-%d %H:%M} UTC, "
        f"a block lasts {days} days"
    )
    row: dict[str, Any] = dict.fromkeys(schema.OFFENDER_SCHEMA)
    row.update(
        {
            schema.IP: entry[schema.IP],
            schema.SCOPE: entry[schema.SCOPE],
            schema.CATEGORY: entry[schema.CATEGORY],
            schema.ACTION: schema.Action.BLOCK.value,
            schema.RULES: list(entry[schema.RULES] or []),
            schema.TOKENS: list(entry[schema.TOKENS] or []),
            schema.FIRST_SEEN: entry[schema.FIRST_SEEN],
            schema.LAST_SEEN: entry[schema.LAST_SEEN],
            schema.USER_AGENTS: [],
            schema.PATHS: [],
            schema.EVIDENCE: [
                {
                    "source": "policy",
                    "id": EXPIRY_EVIDENCE_ID,
                    "detail": why,
                    "value": float(days),
                    "threshold": None,
                }
            ],
            schema.WHY: why,
        }
    )
    return row


def apply_expiry(
    offenders_now: pl.DataFrame,
    state_dir: Path | str,
    *,
    days: int = DEFAULT_DAYS,
    now: datetime,
    persist: bool = True,
) -> pl.DataFrame:
    """Offenders to export: this run's verdicts plus the blocks of earlier runs still in force.

    A block lasts `days` after the offender was last seen by a blocking verdict: each run
    records the blocked offenders in `state_dir/export-blocks.parquet`, carries forward the
    earlier blocks that have not expired (as block rows whose `why` gives the end date), and
    retires the others. An `allow` verdict (an allowlist change) retires a block at once; a
    `watch` verdict does not, the earlier block stays until it expires. persist=False (a dry
    run) leaves the state file untouched.
    """
    if days < 1:
        raise ExportError(f"expiry of {days} days: use at least 1 day")
    state_dir = Path(state_dir)
    now = _utc(now)
    cutoff = now - timedelta(days=days)
    state = load_state(state_dir)

    current = offenders_now.select(
        [
            (pl.col(c) if c in offenders_now.columns else pl.lit(None, dtype=dt)).cast(dt).alias(c)
            for c, dt in schema.OFFENDER_SCHEMA.items()
        ]
    ).to_dicts()
    block_keys: set[str] = set()
    allow_keys: set[str] = set()
    kept_rows: list[dict[str, Any]] = []
    for row in current:
        key = _key(row[schema.IP])
        action = row[schema.ACTION]
        if action == schema.Action.ALLOW.value:
            allow_keys.add(key)
        if action != schema.Action.BLOCK.value:
            kept_rows.append(row)
            continue
        last = _utc(row[schema.LAST_SEEN]) if row[schema.LAST_SEEN] is not None else now
        if last <= cutoff:  # scanned old logs: this block has already run its course
            continue
        kept_rows.append(row)
        block_keys.add(key)
        old = state.get(key)
        first = row[schema.FIRST_SEEN] or last
        if old is not None:
            first = min(_utc(first), _utc(old[schema.FIRST_SEEN] or first))
            if _utc(old[schema.LAST_SEEN]) > last:
                last = _utc(old[schema.LAST_SEEN])
        state[key] = {
            schema.IP: key,
            schema.SCOPE: row[schema.SCOPE],
            schema.CATEGORY: row[schema.CATEGORY],
            schema.RULES: list(row[schema.RULES] or []),
            schema.TOKENS: list(row[schema.TOKENS] or []),
            schema.FIRST_SEEN: _utc(first),
            schema.LAST_SEEN: last,
        }

    state = {
        k: v for k, v in state.items() if k not in allow_keys and _utc(v[schema.LAST_SEEN]) > cutoff
    }
    carried = {k: v for k, v in state.items() if k not in block_keys}
    rows = [
        r
        for r in kept_rows
        # a watch verdict for an address still under an earlier block gives way to the block
        if not (r[schema.ACTION] == schema.Action.WATCH.value and _key(r[schema.IP]) in carried)
    ]
    rows += [_carried_row(carried[k], days) for k in sorted(carried)]
    if persist:
        save_state(state_dir, state)
    if not rows:
        return schema.empty_offenders()
    return pl.DataFrame(rows, schema=schema.OFFENDER_SCHEMA, orient="row")
