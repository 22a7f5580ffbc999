"""Time `scraperwatch scan` (read + judge) beside `scraperwatch ingest` (read only), same file.

    python benchmarks/bench_scan.py --lines 1000000 [--repeat 2]

Generates a labelled nginx `combined` log with benchmarks/generate_logs.py into a temporary
directory (deleted afterwards), runs both commands as whole processes under /usr/bin/time -v,
and prints wall seconds, lines/s and peak RSS as a Markdown table; the difference between the
two is the cost of judging. Needs `scraperwatch` on PATH.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def timed(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one whole-process run."""
    start = time.perf_counter()
    out = subprocess.run(["/usr/bin/time", "-v", *cmd], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stderr[-2000:]}")
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))  # type: ignore[union-attr]
    return wall, rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    if not shutil.which("scraperwatch"):
        sys.exit("scraperwatch is not on PATH (PATH=.venv/bin:$PATH)")
    tmp = Path(tempfile.mkdtemp(prefix="scraperwatch-bench-scan-"))
    try:
        log = tmp / "access.log"
        robots = tmp / "robots.txt"
        subprocess.run(
            [
                sys.executable,
                str(HERE / "generate_logs.py"),
                "--lines",
                str(args.lines),
                "-o",
                str(log),
                "--robots-txt",
                str(robots),
            ],
            check=True,
        )
        runs = {
            "scraperwatch ingest (read only)": [
                "scraperwatch",
                "ingest",
                str(log),
                "-o",
                str(tmp / "out.parquet"),
                "-q",
            ],
            "scraperwatch scan (read + judge)": [
                "scraperwatch",
                "scan",
                str(log),
                "--robots",
                str(robots),
                "--format",
                "json",
                "-o",
                str(tmp / "out.json"),
                "-q",
            ],
        }
        results: dict[str, list[tuple[float, int]]] = {k: [] for k in runs}
        timed(runs["scraperwatch ingest (read only)"])  # warm the page cache
        for _ in range(args.repeat):
            for name, cmd in runs.items():
                results[name].append(timed(cmd))
        print(f"{args.lines:,} generated nginx combined lines, median of {args.repeat} runs\n")
        print("| command | wall s | lines/s | peak RSS MiB |")
        print("|---|---:|---:|---:|")
        for name, vals in results.items():
            wall = statistics.median(v[0] for v in vals)
            rss = statistics.median(v[1] for v in vals) / 1024
            print(f"| {name} | {wall:.2f} | {args.lines / wall:,.0f} | {rss:,.0f} |")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
