"""Corpus driver: real servers, real clients, labelled access logs.

    python corpus/generate.py --out DIR

starts nginx (`combined` and a custom log_format) and Caddy (JSON access log) on 127.0.0.1,
serving a small Mastodon-like site, plays the cast of clients (cast.py: allowed.py, forbidden.py) against all three
from labelled 127.x source addresses, stops the servers and writes:

    DIR/nginx-combined.log  DIR/nginx-custom.log  DIR/caddy.json
    DIR/labels.csv          address,class,allowed,client
    DIR/ranges/*.txt        the address ranges the corpus declares for Googlebot and bingbot
    DIR/robots.txt          the site's robots.txt
    DIR/manifest.json       seed, timing, log formats, the canary path, counts per class

Run it with the project's virtualenv Python (it needs requests and scrapy); wget and curl
come from the system. See corpus/README.md.
"""

from __future__ import annotations

import argparse
import csv
import ipaddress
import json
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import cast
import scenario
from clients import Clock, Errors
from serving import CUSTOM_LOG_FORMAT, serve
from sitemodel import CANARY
from website import build_site

LOG_FORMATS = {
    "nginx-combined.log": "combined",
    "nginx-custom.log": CUSTOM_LOG_FORMAT,
    "caddy.json": "caddy",
}


def log_addresses(path: Path) -> Counter[str]:
    """Requests per client address in one corpus log (nginx text or Caddy JSON)."""
    counts: Counter[str] = Counter()
    with path.open(encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.strip():
                continue
            if line.startswith("{"):
                request = json.loads(line).get("request", {})
                counts[request.get("client_ip") or request.get("remote_ip", "")] += 1
            else:
                counts[line.split(" ", 1)[0]] += 1
    return counts


def write_outputs(out: Path, labels: list[scenario.Label], robots_txt: str) -> None:
    with (out / "labels.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["address", "class", "allowed", "client"])
        for lab in sorted(labels, key=lambda x: ipaddress.ip_address(x.address)):
            writer.writerow([lab.address, lab.cls, "yes" if lab.allowed else "no", lab.client])
    ranges = out / "ranges"
    ranges.mkdir(exist_ok=True)
    for operator, cidr in scenario.DECLARED_RANGES.items():
        (ranges / f"{operator}.txt").write_text(
            f"# The corpus's {operator}: 127.x stands in for the operator's published ranges,\n"
            f"# which loopback traffic cannot come from. Replaces the shipped snapshot.\n"
            f"# source_url: corpus/generate.py\n{cidr}\n",
            encoding="utf-8",
        )
    (out / "robots.txt").write_text(robots_txt, encoding="utf-8")


def check_logs(
    out: Path, labels: list[scenario.Label]
) -> tuple[dict[str, Counter[str]], list[str]]:
    """Requests per address in each log, and the problems: a labelled client missing from a
    log, or an address in a log that has no label."""
    problems: list[str] = []
    per_log = {name: log_addresses(out / name) for name in LOG_FORMATS}
    known = {lab.address for lab in labels}
    for name, counts in per_log.items():
        missing = sorted(known - set(counts))
        unknown = sorted(set(counts) - known)
        if missing:
            problems.append(f"{name}: no request from labelled {', '.join(missing[:10])}")
        if unknown:
            problems.append(f"{name}: requests from unlabelled {', '.join(unknown[:10])}")
    return per_log, problems


def summary(
    labels: list[scenario.Label], per_log: dict[str, Counter[str]]
) -> list[dict[str, object]]:
    rows = []
    for cls, info in scenario.CLASSES.items():
        addrs = [lab.address for lab in labels if lab.cls == cls]
        row: dict[str, object] = {
            "class": cls,
            "allowed": info.allowed,
            "addresses": len(addrs),
        }
        for name, counts in per_log.items():
            row[name] = sum(counts[a] for a in addrs)
        rows.append(row)
    return rows


def print_summary(rows: list[dict[str, object]], seconds: float) -> None:
    names = list(LOG_FORMATS)
    head = f"{'class':<20} {'allowed':<8} {'addrs':>5} " + " ".join(f"{n:>18}" for n in names)
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['class']!s:<20} {'yes' if r['allowed'] else 'no':<8} {r['addresses']!s:>5} "
            + " ".join(f"{r[n]!s:>18}" for n in names)
        )
    totals = " ".join(f"{sum(int(str(r[n])) for r in rows):>18}" for n in names)
    print("-" * len(head))
    print(f"{'total':<20} {'':<8} {sum(int(str(r['addresses'])) for r in rows):>5} {totals}")
    print(f"generated in {seconds:.1f} s")


def generate(out: Path, *, seed: int, keep_work: bool) -> int:
    started = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    site = build_site(seed)
    work = Path(tempfile.mkdtemp(prefix="scraperwatch-corpus-"))
    errors = Errors()
    try:
        with serve(work, site.files) as servers:
            ctx = scenario.Ctx(
                targets=[s.base_url for s in servers],
                clock=Clock(time.monotonic() + 0.2),
                site=site,
                errors=errors,
                workdir=work,
                seed=seed,
            )
            ended = cast.play(ctx)
            last = sorted(ended.items(), key=lambda kv: kv[1])[-3:]
            print("last clients to finish: " + ", ".join(f"{n} {t:.1f} s" for n, t in last))
        for served in servers:
            log = served.server.access_log
            assert log is not None
            shutil.copyfile(log, out / served.log_name)
    finally:
        if not keep_work:
            shutil.rmtree(work, ignore_errors=True)
    labels = list(ctx.labels.values())
    write_outputs(out, labels, site.robots_txt)
    per_log, problems = check_logs(out, labels)
    rows = summary(labels, per_log)
    seconds = time.monotonic() - started
    manifest = {
        "seed": seed,
        "window_seconds": scenario.WINDOW,
        "generated_in_seconds": round(seconds, 1),
        "canary": CANARY,
        "robots": "robots.txt",
        "ranges": "ranges",
        "logs": {
            name: {"log_format": fmt, "requests": sum(per_log[name].values())}
            for name, fmt in LOG_FORMATS.items()
        },
        "classes": {str(r["class"]): {k: v for k, v in r.items() if k != "class"} for r in rows},
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    print_summary(rows, seconds)
    for problem in [*errors.items, *problems]:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if errors.items or problems else 0


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, required=True, help="folder for the corpus")
    parser.add_argument("--seed", type=int, default=7, help="seed of the site and the cast")
    parser.add_argument(
        "--keep-work", action="store_true", help="keep the servers' work folder (printed)"
    )
    args = parser.parse_args(argv)
    # A SIGTERM (a test's timeout, a CI job cancelled) unwinds like Ctrl-C, so that the
    # servers' `with` blocks stop them; they run in their own sessions and would outlive us.
    signal.signal(signal.SIGTERM, _terminate)
    return generate(args.out, seed=args.seed, keep_work=args.keep_work)


if __name__ == "__main__":
    sys.exit(main())
