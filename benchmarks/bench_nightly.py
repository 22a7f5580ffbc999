#!/usr/bin/env python3
"""Benchmark: a nightly run costs in proportion to the new lines, not to the history.

Builds a history of --history lines (10 days, in the store through a first `scan --state`
run), appends --new lines of the next day to the live log, then times in the same run:

- the nightly run (`scan --state`, window 24h): reads the new lines only, appends them to the
  store, judges the last 24 hours from the store;
- the same with windows 24h and 7d (a copy of the state taken before the nightly run);
- a nightly run with nothing new (judging from the store alone);
- a full `scan` of the whole history plus the new lines, the cost without a state.

Each is a whole `scraperwatch` process: wall time and peak RSS (wait4). Prints a Markdown
section for benchmarks/RESULTS.md.

    python benchmarks/bench_nightly.py                      # 10M history + 1M new lines
    python benchmarks/bench_nightly.py --history 1000000 --new 100000
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
GENERATOR = HERE / "generate_logs.py"
START = datetime(2026, 11, 16, tzinfo=UTC)
# `scan` is run through the package's own entry point; importing scraperwatch.cli.scan makes
# sure the command is registered whatever scraperwatch/cli/__init__.py imports.
CLI = [
    sys.executable,
    "-c",
    "import sys, scraperwatch.cli, scraperwatch.cli.scan; sys.argv[0] = 'scraperwatch'; "
    "scraperwatch.cli.main()",
]


@dataclass
class Timing:
    label: str
    lines_read: int
    wall: float
    peak_rss_mib: float


def run(label: str, args: list[str], *, lines_read: int) -> Timing:
    """Run the CLI once; wall time and peak RSS of that process alone (wait4)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        [*CLI, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.stderr is not None
    err = proc.stderr.read()
    proc.stderr.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):
        sys.stderr.write(err.decode("utf-8", "replace"))
        raise SystemExit(f"{label}: exit {proc.returncode}")
    timing = Timing(label, lines_read, wall, usage.ru_maxrss / 1024)
    print(
        f"  {label}: {wall:.1f} s, {lines_read / wall / 1e3:,.0f}k lines/s read, "
        f"peak RSS {timing.peak_rss_mib:,.0f} MiB",
        file=sys.stderr,
    )
    return timing


def generate(path: Path, *, lines: int, days: int, start: datetime, seed: int) -> None:
    subprocess.run(
        [
            sys.executable,
            str(GENERATOR),
            "--lines",
            str(lines),
            "--days",
            str(days),
            "--start",
            start.isoformat(),
            "--seed",
            str(seed),
            "-o",
            str(path),
        ],
        check=True,
    )


def count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 24), b""))


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--history", type=int, default=10_000_000, help="lines of history (10 days)")
    p.add_argument("--new", type=int, default=1_000_000, help="new lines of the next day")
    p.add_argument(
        "--workdir", type=Path, help="keep the files here (default: a temporary folder, deleted)"
    )
    args = p.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="scraperwatch-bench-nightly-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        logs = work / "logs"
        logs.mkdir(exist_ok=True)
        live = logs / "access.log"
        history, new = work / "history.log", work / "new.log"
        t0 = time.perf_counter()
        print(f"generating {args.history:,} + {args.new:,} lines in {work}", file=sys.stderr)
        generate(history, lines=args.history, days=10, start=START, seed=1)
        generate(new, lines=args.new, days=1, start=START + timedelta(days=10), seed=2)
        print(f"  generated in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        n_hist, n_new = count_lines(history), count_lines(new)
        size_mb = (history.stat().st_size + new.stat().st_size) / 1e6
        shutil.copyfile(history, live)
        state = work / "state"
        common = ["--log-format", "combined", "--format", "json", "-o", os.devnull, "-q"]

        print("first run: the history into the store", file=sys.stderr)
        first = run(
            "first nightly run (history into the store)",
            ["scan", "--state", str(state), str(live), "--window", "24h", *common],
            lines_read=n_hist,
        )
        with live.open("ab") as out, new.open("rb") as src:
            shutil.copyfileobj(src, out, 1 << 24)
        state7 = work / "state-7d"
        shutil.copytree(state, state7)
        # the copied state points at the copied store
        (state7 / "resume.json").write_text(
            (state / "resume.json").read_text().replace(str(state / "store"), str(state7 / "store"))
        )

        print("timed runs", file=sys.stderr)
        nightly = run(
            "nightly run, window 24h",
            ["scan", "--state", str(state), str(live), "--window", "24h", *common],
            lines_read=n_new,
        )
        nightly7 = run(
            "nightly run, windows 24h + 7d",
            [
                "scan",
                "--state",
                str(state7),
                str(live),
                "--window",
                "24h",
                "--window",
                "7d",
                *common,
            ],
            lines_read=n_new,
        )
        idle = run(
            "nightly run, nothing new, window 24h",
            ["scan", "--state", str(state), str(live), "--window", "24h", *common],
            lines_read=0,
        )
        full = run(
            "full scan of history + new (no state)",
            ["scan", str(history), str(new), *common],
            lines_read=n_hist + n_new,
        )
        store_mb = sum(f.stat().st_size for f in (state / "store").rglob("*.parquet")) / 1e6
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)

    rows = [first, nightly, nightly7, idle, full]
    print()
    print(
        f"## Nightly run: cost in proportion to the new lines ({n_hist / 1e6:g}M history + {n_new / 1e6:g}M new)"
    )
    print()
    print(
        f"`benchmarks/bench_nightly.py --history {args.history} --new {args.new}`, "
        f"{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores, Python {platform.python_version()}; "
        f"generated nginx `combined` logs ({size_mb:,.0f} MB in all; the history spans 10 days, "
        f"the new lines the 11th); store {store_mb:,.0f} MB of Parquet. Whole `scraperwatch` "
        "processes, wall time and peak RSS, all in the same run."
    )
    print()
    print("| run | lines read | wall | x nightly 24h | peak RSS |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r.label} | {r.lines_read:,} | {r.wall:.1f} s | {r.wall / nightly.wall:.1f} | "
            f"{r.peak_rss_mib:,.0f} MiB |"
        )
    print()
    print(
        f"The nightly run read {n_new / (n_hist + n_new):.0%} of the lines and took "
        f"{nightly.wall / full.wall:.0%} of the full scan's time "
        f"({full.wall / nightly.wall:.1f}x faster); with a 7-day window too it judges 7 days "
        f"from the store ({nightly7.wall / full.wall:.0%} of the full scan)."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
