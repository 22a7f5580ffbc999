"""Command line: `scraperwatch ranges list|check|update`, the published crawler address ranges."""

from __future__ import annotations

import ipaddress
import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from scraperwatch import console
from scraperwatch.cli.base import app, guarded
from scraperwatch.detect.fcrdns import FcrdnsResolver
from scraperwatch.detect.rangefiles import default_updates_dir, today_utc
from scraperwatch.detect.ranges import DEFAULT_MAX_AGE_DAYS, RangeSet, load_ranges
from scraperwatch.detect.rangesources import UpdateStatus, build_snapshots, update_ranges
from scraperwatch.errors import RangesError
from scraperwatch.schema import (
    CLAIMED_OPERATOR,
    CLIENT_IP,
    VERIFICATION,
    VERIFICATION_DETAIL,
    Verification,
)

ranges_app = typer.Typer(
    name="ranges",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="Published crawler address ranges: list them, check an address, refresh them.",
)
app.add_typer(ranges_app, name="ranges")


class ListFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


class CheckFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


RangesOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--ranges",
        help="A ranges file (<operator>.json, <operator>.txt) or a folder of them that adds "
        "or overrides operators (repeatable).",
        exists=True,
    ),
]
DirOpt = Annotated[
    Path | None,
    typer.Option(
        "--dir",
        help="Folder of refreshed snapshots (default: /var/lib/scraperwatch/ranges as root, "
        "else $XDG_DATA_HOME/scraperwatch/ranges).",
        file_okay=False,
    ),
]


def _load(extra: list[Path] | None, directory: Path | None) -> RangeSet:
    return load_ranges(tuple(extra or ()), updates_dir=directory)


@ranges_app.command("list")
@guarded
def list_cmd(
    ranges: RangesOpt = None,
    directory: DirOpt = None,
    fmt: Annotated[ListFormat, typer.Option("--format", help="Output format.")] = ListFormat.TABLE,
    max_age: Annotated[
        int, typer.Option("--max-age", help="Warn about ranges older than this many days.")
    ] = DEFAULT_MAX_AGE_DAYS,
) -> None:
    """List the operators, their prefix counts, when their ranges were fetched, and from where."""
    rs = _load(ranges, directory)
    today = today_utc()
    rows: list[dict[str, Any]] = [
        {
            "operator": r.operator,
            "agents": list(r.agents),
            "ipv4_prefixes": r.v4_count,
            "ipv6_prefixes": r.v6_count,
            "fetched": r.fetched.isoformat() if r.fetched else None,
            "age_days": r.age_days(today),
            "origin": str(r.origin),
            "source_format": str(r.source_format),
            "source_url": r.source_url,
            "rdns": list(r.rdns),
            "file": str(r.path) if r.path else None,
        }
        for r in rs
    ]
    if fmt == ListFormat.JSON:
        typer.echo(json.dumps(rows, indent=2))
    else:
        console.table(
            None,
            ["operator", "IPv4", "IPv6", "fetched", "age", "from", "source"],
            [
                (
                    row["operator"],
                    row["ipv4_prefixes"],
                    row["ipv6_prefixes"],
                    row["fetched"] or "never",
                    "" if row["age_days"] is None else f"{row['age_days']} d",
                    row["origin"],
                    row["source_url"] or "",
                )
                for row in rows
            ],
        )
    for warning in rs.stale(max_age, today=today):
        console.warn(warning)


def _address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not an IPv4 or IPv6 address") from None


@ranges_app.command("check")
@guarded
def check_cmd(
    ip: Annotated[str, typer.Argument(help="The client address.", callback=_address)],
    ua: Annotated[
        str | None,
        typer.Option("--ua", help="The user agent the client sent: verify the operator it names."),
    ] = None,
    operator: Annotated[
        str | None,
        typer.Option("--operator", help="Verify this operator claim (instead of --ua)."),
    ] = None,
    ranges: RangesOpt = None,
    directory: DirOpt = None,
    dns: Annotated[
        bool,
        typer.Option(
            "--dns", help="Also try forward-confirmed reverse DNS for operators that document it."
        ),
    ] = False,
    nameserver: Annotated[
        list[str] | None,
        typer.Option("--nameserver", help="DNS server for --dns (default: the system's)."),
    ] = None,
    dns_port: Annotated[int, typer.Option("--dns-port", help="Port of --nameserver.")] = 53,
    dns_timeout: Annotated[float, typer.Option("--dns-timeout", help="Seconds per query.")] = 3.0,
    fmt: Annotated[CheckFormat, typer.Option("--format", help="Output format.")] = CheckFormat.TEXT,
) -> None:
    """Say which operators' ranges contain IP, and whether a claimed crawler is genuine."""
    rs = _load(ranges, directory)
    if operator is not None and operator not in rs:
        raise typer.BadParameter(
            f"unknown operator {operator!r}; known: {', '.join(rs.operators)}",
            param_hint="--operator",
        )
    containing = rs.lookup_all(pl.Series([ip]))[0].to_list()
    found = rs.verify(
        pl.DataFrame({CLIENT_IP: [ip] * len(containing), CLAIMED_OPERATOR: containing})
    )
    claimed = operator
    if claimed is None and ua is not None:
        claimed = rs.claimed_operator(pl.Series([ua]))[0]
    claim: dict[str, Any] | None = None
    if claimed is not None:
        resolver = (
            FcrdnsResolver(nameserver or None, port=dns_port, timeout=dns_timeout) if dns else None
        )
        row = rs.verify(
            pl.DataFrame({CLIENT_IP: [ip], CLAIMED_OPERATOR: [claimed]}), fcrdns=resolver
        ).row(0, named=True)
        claim = {
            "operator": claimed,
            "verification": row[VERIFICATION],
            "detail": row[VERIFICATION_DETAIL],
        }
    result = {
        "ip": ip,
        "operators": [
            {"operator": op, "detail": detail}
            for op, detail in found.select(CLAIMED_OPERATOR, VERIFICATION_DETAIL).iter_rows()
        ],
        "claim": claim,
    }
    if fmt == CheckFormat.JSON:
        typer.echo(json.dumps(result, indent=2))
    else:
        _print_check(ip, result, ua)
    if claim and claim["verification"] == Verification.SPOOFED:
        age = rs[claim["operator"]].age_days()
        if age is not None and age > DEFAULT_MAX_AGE_DAYS:
            console.warn(
                f"the ranges of {claim['operator']} are {age} days old: run "
                "`scraperwatch ranges update` (or use --dns) before trusting `spoofed`"
            )


def _print_check(ip: str, result: dict[str, Any], ua: str | None) -> None:
    if not result["operators"]:
        typer.echo(f"{ip}: in no operator's published ranges")
    for item in result["operators"]:
        typer.echo(f"{ip}: {item['operator']}: {item['detail']}")
    claim = result["claim"]
    if claim is not None:
        typer.echo(f"claim {claim['operator']}: {claim['verification']}: {claim['detail']}")
    elif ua is not None:
        typer.echo("claim: the user agent names no operator that publishes its addresses")


@ranges_app.command("update")
@guarded
def update_cmd(
    directory: DirOpt = None,
    operator: Annotated[
        list[str] | None,
        typer.Option("--operator", help="Refresh only this operator (repeatable)."),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for each source.", min=0.1)
    ] = 30.0,
    ranges: RangesOpt = None,
    source_base: Annotated[
        str | None,
        typer.Option(
            "--source-base",
            help="Fetch from a mirror: BASE/host/path instead of each source_url (for tests "
            "and machines without direct access).",
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail (exit 3) when any source fails, not only all.")
    ] = False,
) -> None:
    """Fetch each operator's published list and write a dated snapshot (old one kept on failure).

    Exit 0 when at least one source was refreshed (failures are warnings), 3 when every source failed (or any, with --strict).
    """
    target = directory or default_updates_dir()
    rs = _load(ranges, target)
    results = update_ranges(
        rs, target, operators=tuple(operator or ()), timeout=timeout, source_base=source_base
    )
    console.table(
        None,
        ["operator", "status", "prefixes", "added", "removed", "detail"],
        [(r.operator, r.status, r.prefixes, r.added, r.removed, r.message) for r in results],
    )
    failed = [r for r in results if r.status == UpdateStatus.FAILED]
    tried = [r for r in results if r.status != UpdateStatus.SKIPPED]
    for r in failed:
        console.warn(f"{r.operator}: {r.message}")
    if failed and (strict or len(failed) == len(tried)):
        raise RangesError(
            f"{len(failed)} of {len(tried)} range sources failed; the previous snapshots stay "
            f"in {target}. Check the network (or --source-base) and rerun."
        )
    done = len(tried) - len(failed)
    console.info(f"{done} operator(s) refreshed into {target}")


@ranges_app.command("build-snapshots", hidden=True)
@guarded
def build_cmd(
    external: Annotated[
        Path,
        typer.Argument(
            help="shared/external/published-ranges (the third-party copies).",
            exists=True,
            file_okay=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--dir", help="Where to write.", file_okay=False)] = Path(
        "rules/ranges"
    ),
) -> None:
    """Maintainers: rebuild the shipped snapshots in rules/ranges from the third-party copies."""
    for path in build_snapshots(external, out):
        typer.echo(str(path))
