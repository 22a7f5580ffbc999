"""Expiry: blocks last N days after the offender was last seen, across nightly runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from export_frames import frame, offender

from scraperwatch import schema
from scraperwatch.errors import ExportError
from scraperwatch.exporters import (
    ExportFormat,
    ExportOptions,
    apply_expiry,
    render_export,
    write_export,
)
from scraperwatch.exporters.expiry import STATE_FILE

DAY = timedelta(days=1)
NIGHT1 = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)


def seen(ip: str, when: datetime, **kw: object) -> dict[str, object]:
    return offender(
        ip,
        **{
            schema.FIRST_SEEN: when - timedelta(hours=2),
            schema.LAST_SEEN: when - timedelta(hours=1),
            **kw,
        },
    )


def blocked(df: pl.DataFrame) -> list[str]:
    rows = df.filter(pl.col(schema.ACTION) == "block")
    return sorted(rows.get_column(schema.IP).to_list())


def test_three_nights(tmp_path: Path) -> None:
    """Night 1 finds A and B; night 2 finds B and C; night 3 finds only C.

    With a 2-day expiry, A (last seen night 1 minus 1 h) is still blocked on night 2 and
    retired on night 3; B, last seen on night 2, is still blocked on night 3.
    """
    state = tmp_path / "state"
    options = ExportOptions(expiry_days=2, allow_private=False)
    export = tmp_path / "scraperwatch.txt"

    night1 = apply_expiry(
        frame(seen("192.0.2.1", NIGHT1), seen("192.0.2.2", NIGHT1)), state, days=2, now=NIGHT1
    )
    assert blocked(night1) == ["192.0.2.1", "192.0.2.2"]
    r1 = write_export(render_export(ExportFormat.PLAIN, night1, options), export)
    assert r1.diff.added_addresses == ("192.0.2.1", "192.0.2.2")

    night2_now = NIGHT1 + DAY
    night2 = apply_expiry(
        frame(seen("192.0.2.2", night2_now), seen("198.51.100.3", night2_now)),
        state,
        days=2,
        now=night2_now,
    )
    assert blocked(night2) == ["192.0.2.1", "192.0.2.2", "198.51.100.3"]
    carried = night2.filter(pl.col(schema.IP) == "192.0.2.1").row(0, named=True)
    assert carried[schema.REQUESTS] is None  # not seen tonight
    assert carried[schema.WHY] == (
        "blocked until 2026-11-03 02:00 UTC: last seen 2026-11-01 02:00 UTC, a block lasts 2 days"
    )
    assert carried[schema.EVIDENCE][0]["id"] == "EXPIRY"
    r2 = write_export(render_export(ExportFormat.PLAIN, night2, options), export)
    assert r2.diff.added_addresses == ("198.51.100.3",)
    assert r2.diff.removed_addresses == ()

    night3_now = NIGHT1 + 2 * DAY
    night3 = apply_expiry(frame(seen("198.51.100.3", night3_now)), state, days=2, now=night3_now)
    assert blocked(night3) == ["192.0.2.2", "198.51.100.3"]
    r3 = write_export(render_export(ExportFormat.PLAIN, night3, options), export)
    assert r3.diff.removed_addresses == ("192.0.2.1",)
    assert r3.diff.added_addresses == ()

    # A fourth night with nothing new and the same clock: byte-identical, not rewritten.
    again = apply_expiry(frame(seen("198.51.100.3", night3_now)), state, days=2, now=night3_now)
    r4 = write_export(render_export(ExportFormat.PLAIN, again, options), export)
    assert r4.unchanged
    assert not r4.written

    stored = pl.read_parquet(state / STATE_FILE)
    assert sorted(stored.get_column(schema.IP).to_list()) == ["192.0.2.2", "198.51.100.3"]


def test_allow_retires_a_block_and_watch_does_not(tmp_path: Path) -> None:
    apply_expiry(
        frame(seen("192.0.2.1", NIGHT1), seen("192.0.2.2", NIGHT1)), tmp_path, days=7, now=NIGHT1
    )
    later = NIGHT1 + DAY
    out = apply_expiry(
        frame(
            seen("192.0.2.1", later, **{schema.ACTION: "allow"}),
            seen("192.0.2.2", later, **{schema.ACTION: "watch"}),
        ),
        tmp_path,
        days=7,
        now=later,
    )
    assert blocked(out) == ["192.0.2.2"]
    assert sorted(out.get_column(schema.ACTION).to_list()) == ["allow", "block"]


def test_old_logs_expire_at_once_and_addresses_are_normalised(tmp_path: Path) -> None:
    now = NIGHT1 + 30 * DAY
    out = apply_expiry(
        frame(seen("192.0.2.1", NIGHT1), seen("2001:DB8::1", now)), tmp_path, days=7, now=now
    )
    assert blocked(out) == ["2001:DB8::1"]
    later = apply_expiry(frame(seen("2001:db8::1", now)), tmp_path, days=7, now=now + DAY)
    assert blocked(later) == ["2001:db8::1"]  # one entry, not two spellings


def test_dry_run_leaves_state_alone(tmp_path: Path) -> None:
    apply_expiry(frame(seen("192.0.2.1", NIGHT1)), tmp_path, days=7, now=NIGHT1, persist=False)
    assert not (tmp_path / STATE_FILE).exists()


def test_empty_runs(tmp_path: Path) -> None:
    out = apply_expiry(schema.empty_offenders(), tmp_path, days=7, now=NIGHT1)
    assert out.is_empty()
    assert out.schema == pl.Schema(schema.OFFENDER_SCHEMA)
    assert pl.read_parquet(tmp_path / STATE_FILE).is_empty()


def test_corrupt_state_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_bytes(b"not parquet")
    with pytest.raises(ExportError, match="delete it to start afresh"):
        apply_expiry(schema.empty_offenders(), tmp_path, days=7, now=NIGHT1)
