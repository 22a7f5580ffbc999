"""Nightly stage: new log lines -> the Parquet store -> verdicts judged over windows of the store.

`run_nightly` reads only what earlier runs left (state.py), appends it to the store, and judges
each window (the last 24 hours, the last 7 days ...) ending at the newest stored request; the
offenders are the union over the windows, each with the worst verdict it got. The caller holds
the state directory's lock (state.StateLock) for the whole run, exports included.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import polars as pl

from scraperwatch import schema as s
from scraperwatch import state as st
from scraperwatch.config import Window
from scraperwatch.console import NullReporter, Reporter
from scraperwatch.detect.verdicts import sort_offenders
from scraperwatch.errors import OutputError
from scraperwatch.pipeline import (
    Context,
    ScanResult,
    ScanSettings,
    blocked_tokens,
    judge,
    never_block,
)
from scraperwatch.reader import FileReport, open_inputs
from scraperwatch.sources.files import LogInput, expand_inputs
from scraperwatch.store import DAY, StoreWriter, scan_store

WINDOW_EVIDENCE_ID: Final = "WINDOW"
_ACTION_RANK: Final = {s.Action.BLOCK.value: 0, s.Action.WATCH.value: 1, s.Action.ALLOW.value: 2}


@dataclass(frozen=True)
class NightlySettings:
    """Where the run keeps its state and history, and the windows it judges."""

    logs: tuple[tuple[str, str | None], ...]  # (file, glob or folder; its format or None)
    state: Path | None = None  # None: every file is read whole
    store: Path | None = None  # None: DIR/store with a state, else a temporary store
    windows: tuple[Window, ...] = ()  # empty: everything in the store
    now: datetime | None = None  # None: the newest request in the store


@dataclass(frozen=True)
class WindowRun:
    window: Window | None
    start: datetime | None
    requests: int
    offenders: int


@dataclass
class NightlyResult:
    scan: ScanResult  # the union over the windows
    store: Path | None  # None when the store was temporary
    now: datetime | None  # the end of every window (None: the store is empty)
    appended: int = 0  # requests added to the store by this run
    windows: list[WindowRun] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # per file: resumed, rotated, truncated ...


def store_dir(nightly: NightlySettings) -> Path | None:
    if nightly.store is not None:
        return nightly.store
    if nightly.state is not None:
        return nightly.state / "store"
    return None


def run_nightly(
    settings: ScanSettings, nightly: NightlySettings, *, reporter: Reporter | None = None
) -> NightlyResult:
    """Append the new lines of the logs to the store, then judge each window of the store.

    The resume state is saved together with the store files (first marked pending, so a run
    killed in between finishes the move on the next start); a run that fails while reading
    leaves both untouched. The caller holds the state directory's lock.
    """
    rep = reporter or NullReporter()
    ctx = Context.load(settings)  # a broken rule or policy fails before any reading
    store = store_dir(nightly)
    store = store.resolve() if store is not None else None
    scratch: Path | None = None
    if store is None:
        scratch = Path(tempfile.mkdtemp(prefix="scraperwatch-store-"))
        store = scratch
    try:
        appended, reports, rejected, notes = _ingest(settings, nightly, store, rep)
        out = _judge_windows(ctx, store, nightly, rep)
        out.appended = appended
        out.notes = notes
        out.scan.reports = reports
        out.scan.rejected = rejected
        out.store = None if scratch else store
        return out
    finally:
        ctx.enricher.close()
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


# --- reading -----------------------------------------------------------------------------


@dataclass
class _Group:
    fmt: str | None
    items: list[LogInput] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)


def _ingest(
    settings: ScanSettings, nightly: NightlySettings, store: Path, rep: Reporter
) -> tuple[int, list[FileReport], pl.DataFrame, list[str]]:
    specs = [spec for spec, _ in nightly.logs]
    formats = [fmt or settings.read.log_format for _, fmt in nightly.logs]
    state_dir = nightly.state
    plan: st.TailPlan | None = None
    groups: dict[str | None, _Group] = {}
    notes: list[str] = []
    temps: list[LogInput] = []
    if state_dir is not None:
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise OutputError(
                f"{state_dir}: cannot create the state directory ({err.strerror})"
            ) from None
        state = st.load_state(state_dir)
        _finish_pending(state, state_dir)
        st.clean_workdirs(state_dir)
        if state.store is not None and Path(state.store) != store:
            notes.append(
                f"the store moved from {state.store} to {store}: the history judged from now "
                "on starts here"
            )
        plan = st.plan_tails(specs, state, workdir_parent=state_dir)
        notes.extend(plan.notes)
        for tail in plan.tails:
            g = groups.setdefault(formats[tail.spec], _Group(formats[tail.spec]))
            g.items.append(tail.item)
            g.offsets.append(tail.line_offset)
            notes.append(f"{tail.item.name}: {tail.how}")
    else:
        for idx, spec in enumerate(specs):
            for item in expand_inputs([spec]):
                temps.append(item)
                g = groups.setdefault(formats[idx], _Group(formats[idx]))
                g.items.append(item)
                g.offsets.append(0)
    writers: list[StoreWriter] = []
    reports: list[FileReport] = []
    rejected: list[pl.DataFrame] = []
    try:
        for group in groups.values():
            read = replace(settings.read, log_format=group.fmt)
            logs = open_inputs(group.items, read, line_offsets=group.offsets, reporter=rep)
            attempts: list[StoreWriter] = []

            def work(
                requests: pl.LazyFrame, attempts: list[StoreWriter] = attempts
            ) -> list[pl.LazyFrame]:
                # Logs.run calls this again after repairing a damaged file: start afresh.
                for old in attempts:
                    old.abort()
                attempts.append(StoreWriter(store))
                return [attempts[-1].sink(requests)]

            try:
                _, bad = logs.run(work, reporter=rep)
            finally:
                writers.extend(attempts[-1:])
                logs.cleanup()
            reports.extend(logs.reports)
            rejected.append(bad)
    except BaseException:
        for w in writers:
            w.abort()
        if plan is not None:
            plan.cleanup()
        raise
    finally:
        for item in temps:
            item.cleanup()
    if plan is not None and state_dir is not None:
        new_state = plan.state
        new_state.store = str(store)
        new_state.pending = [st.PendingCommit(str(store), w.run) for w in writers]
        st.save_state(state_dir, new_state)
        for w in writers:
            w.commit()
        new_state.pending = []
        st.save_state(state_dir, new_state)
        plan.cleanup()
    else:
        for w in writers:
            w.commit()
    appended = sum(r.parsed for r in reports)
    frames = [r for r in rejected if r.height]
    return (
        appended,
        reports,
        pl.concat(frames) if frames else s.empty_rejected().collect(),
        notes,
    )


def _finish_pending(state: st.ResumeState, state_dir: Path) -> None:
    """Move the files of a run killed between saving its state and moving them into place."""
    if not state.pending:
        return
    for p in state.pending:
        writer = StoreWriter(Path(p.store))
        writer.run = p.run
        writer.staging = Path(p.store) / f".staging-{p.run}"
        if writer.staging.is_dir():
            writer.commit()
    state.pending = []
    st.save_state(state_dir, state)


# --- judging -----------------------------------------------------------------------------


def latest_ts(store: Path) -> datetime | None:
    """The newest request in the store (read from its newest day folder only)."""
    days = sorted(p for p in store.glob(f"{DAY}=*") if any(p.glob("*.parquet")))
    if not days:
        return None
    value = (
        pl.scan_parquet(sorted(days[-1].glob("*.parquet")), schema={**s.REQUEST_SCHEMA}, glob=False)
        .select(pl.col(s.TS).max())
        .collect()
        .item()
    )
    return value if isinstance(value, datetime) else None


def window_frame(store: Path, now: datetime, window: Window | None) -> pl.LazyFrame:
    """The stored requests of (now - window, now]; the day filter prunes Parquet files."""
    frame = scan_store(store)
    if window is None:
        return frame.filter(pl.col(s.TS) <= now).drop(DAY)
    start = now - window.span
    return frame.filter(
        (pl.col(DAY) >= start.date())
        & (pl.col(DAY) <= now.date())
        & (pl.col(s.TS) > start)
        & (pl.col(s.TS) <= now)
    ).drop(DAY)


def _empty_summary() -> pl.DataFrame:
    return pl.DataFrame(
        schema={s.CATEGORY: pl.String, "requests": pl.Int64, "bytes": pl.Int64, "clients": pl.Int64}
    )


def _judge_windows(
    ctx: Context, store: Path, nightly: NightlySettings, rep: Reporter
) -> NightlyResult:
    now = nightly.now or latest_ts(store)
    if now is None:
        rep.note("the store holds no requests yet: nothing to judge")
        empty = ScanResult(
            offenders=s.empty_offenders(),
            summary=_empty_summary(),
            ruleset_digest=ctx.ruleset.digest,
            agent_tokens=blocked_tokens(ctx.ruleset, ctx.policy),
            never_block=never_block(ctx.ruleset, ctx.policy, ctx.ranges),
        )
        return NightlyResult(scan=empty, store=store, now=None)
    now = now.astimezone(UTC) if now.tzinfo else now.replace(tzinfo=UTC)
    windows: Sequence[Window | None] = nightly.windows or (None,)
    judged: list[tuple[Window | None, ScanResult]] = []
    runs: list[WindowRun] = []
    for w in windows:
        label = f"the last {w.text}" if w else "the whole store"
        rep.note(f"judging {label} up to {now:%Y-%m-%d %H:%M:%S} UTC")
        res = judge(window_frame(store, now, w), ctx, reporter=rep)
        judged.append((w, res))
        runs.append(WindowRun(w, now - w.span if w else None, res.requests, res.offenders.height))
    first = judged[0][1]
    union = union_offenders(judged, now=now) if nightly.windows else first.offenders
    scan = ScanResult(
        offenders=union,
        summary=first.summary,
        requests=first.requests,
        ruleset_digest=first.ruleset_digest or ctx.ruleset.digest,
        agent_tokens=first.agent_tokens,
        never_block=first.never_block,
    )
    return NightlyResult(scan=scan, store=store, now=now, windows=runs)


def union_offenders(
    judged: Sequence[tuple[Window | None, ScanResult]], *, now: datetime
) -> pl.DataFrame:
    """One row per offender: its worst verdict over the windows, the window noted in evidence.

    Worst = block before watch before allow, then higher confidence, then more requests (the
    longer window's fuller evidence when the verdicts tie).
    """
    frames = [
        res.offenders.with_columns(pl.lit(i, pl.Int32).alias("_w"))
        for i, (_, res) in enumerate(judged)
        if res.offenders.height
    ]
    if not frames:
        return s.empty_offenders()
    every = pl.concat(frames)
    best = every.sort(
        [
            pl.col(s.ACTION).replace_strict(_ACTION_RANK, default=3),
            pl.col(s.CONFIDENCE),
            pl.col(s.REQUESTS),
            pl.col("_w"),
        ],
        descending=[False, True, True, False],
        nulls_last=True,
    ).unique(subset=[s.IP], keep="first", maintain_order=True)
    seen_in = {
        row[s.IP]: sorted(row["_w"])
        for row in every.group_by(s.IP).agg(pl.col("_w").unique()).iter_rows(named=True)
    }
    rows: list[dict[str, Any]] = []
    for row in best.iter_rows(named=True):
        w = judged[row["_w"]][0]
        assert w is not None
        names = ", ".join(
            t.text for i, (t, _) in enumerate(judged) if t and i in seen_in[row[s.IP]]
        )
        start = now - w.span
        evidence = list(row[s.EVIDENCE] or [])
        evidence.append(
            {
                "source": "policy",
                "id": WINDOW_EVIDENCE_ID,
                "detail": (
                    f"judged over the last {w.text} ({start:%Y-%m-%d %H:%M} to "
                    f"{now:%Y-%m-%d %H:%M} UTC); an offender in: {names}"
                ),
                "value": w.span / timedelta(hours=1),
                "threshold": None,
            }
        )
        row[s.EVIDENCE] = evidence
        row.pop("_w")
        rows.append(row)
    return sort_offenders(pl.DataFrame(rows, schema=s.OFFENDER_SCHEMA, orient="row"))
