"""`scraperwatch scan` and `scraperwatch export`: verdicts, and blocklists from them."""

from __future__ import annotations

import contextlib
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer

from scraperwatch import console
from scraperwatch import schema as s
from scraperwatch.cli.base import OutputFormat, app, guarded
from scraperwatch.cli.common import (
    LogFormatOpt,
    LogsArg,
    QuietOpt,
    StrictOpt,
    TrustedProxyOpt,
    print_read_summary,
)
from scraperwatch.config import Config, ExportSpec, load_config, parse_window
from scraperwatch.detect.heuristics import Thresholds
from scraperwatch.errors import ExitCode, OutputError, ScraperwatchError
from scraperwatch.exporters import ExportFormat, ExportOptions, render_export, write_export
from scraperwatch.exporters.base import NginxContext
from scraperwatch.exporters.expiry import DEFAULT_DAYS as DEFAULT_EXPIRY_DAYS
from scraperwatch.exporters.expiry import apply_expiry
from scraperwatch.nightly import NightlySettings, run_nightly
from scraperwatch.pipeline import ScanResult, ScanSettings, run_scan
from scraperwatch.reader import ReadOptions
from scraperwatch.state import StateLock

RulesOpt = Annotated[
    list[Path] | None,
    typer.Option("--rules", help="A folder of extra rule files (*.toml); repeatable."),
]
PolicyOpt = Annotated[
    str | None,
    typer.Option(
        "--policy", help="A shipped policy name (default: mastodon-social) or a policy file."
    ),
]
NoDefaultAllowOpt = Annotated[
    bool,
    typer.Option(
        "--no-default-allowlist",
        help="Judge loopback and private addresses too (they are never offenders by default).",
    ),
]
AllowOpt = Annotated[
    list[str] | None,
    typer.Option("--allow", help="An address or CIDR that is never an offender; repeatable."),
]
RangesOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--ranges",
        help="A file or folder of crawler address ranges that adds to or overrides the "
        "shipped ones (docs/ranges.md); repeatable.",
    ),
]
RobotsOpt = Annotated[
    Path | None,
    typer.Option(
        "--robots",
        help="The instance's robots.txt, to measure compliance.",
        exists=True,
        dir_okay=False,
    ),
]
CanaryOpt = Annotated[
    list[str] | None,
    typer.Option("--canary", help="A path prefix linked nowhere (a honeypot): one hit is proof."),
]
AsnDbOpt = Annotated[
    Path | None,
    typer.Option(
        "--asn-db", help="A GeoLite2-ASN or DB-IP ASN .mmdb file.", exists=True, dir_okay=False
    ),
]
GeoDbOpt = Annotated[
    Path | None,
    typer.Option(
        "--geo-db",
        help="A GeoLite2-Country/City or DB-IP country .mmdb file.",
        exists=True,
        dir_okay=False,
    ),
]
# --- the nightly job (docs/nightly.md): options of `scan` with a state, store or config ---
ScanLogsArg = Annotated[
    list[str] | None,
    typer.Argument(
        help="Log files, globs, directories (rotated and .gz/.bz2/.zst/.xz files included), "
        "or - for standard input; with --config, the logs tables of the file when none are given.",
        show_default=False,
    ),
]
ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="A scraperwatch.toml (docs/config.md; `scraperwatch init` writes one); "
        "options given here win over it.",
    ),
]
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state",
        help="Resume each log file where the last run stopped (kept in this folder, with the "
        "lock); new requests go to the store.",
    ),
]
StoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--store", help="The Parquet history new requests are appended to (default: STATE/store)."
    ),
]
WindowOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--window",
        help="Judge the requests of this span ending at the newest one, e.g. 24h, 7d "
        "(repeatable; default 24h with a state or store).",
    ),
]
NowOpt = Annotated[
    str | None,
    typer.Option(
        "--now",
        help="The end of every window, as an ISO time (default: the newest stored request).",
    ),
]
LockTimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--lock-timeout",
        min=0,
        help="Wait this many seconds for another run holding the state's lock (default 0: "
        "exit 6 at once).",
    ),
]
ExpiryDaysOpt = Annotated[
    int | None,
    typer.Option(
        "--expiry-days",
        min=1,
        help="With a state, a block stays in the exports this many days after the client was "
        "last seen (default 7).",
    ),
]


def build_settings(
    logs: list[str],
    *,
    log_format: str | None,
    trusted_proxy: list[str] | None,
    strict: bool,
    rules: list[Path] | None,
    policy: str | None,
    no_default_allowlist: bool,
    allow: list[str] | None,
    ranges: list[Path] | None,
    robots: Path | None,
    canary: list[str] | None,
    asn_db: Path | None,
    geo_db: Path | None,
) -> ScanSettings:
    return ScanSettings(
        logs=tuple(logs),
        read=ReadOptions(log_format, tuple(trusted_proxy or ()), strict),
        rules_dirs=tuple(rules or ()),
        policy=policy,
        allow_private=not no_default_allowlist,
        allowlist=tuple(allow or ()),
        ranges=tuple(ranges or ()),
        robots=robots,
        canary=tuple(canary or ()),
        asn_db=asn_db,
        geo_db=geo_db,
        thresholds=Thresholds(),
    )


def export_options(
    result: ScanResult,
    settings: ScanSettings,
    *,
    status: int = 403,
    context: NginxContext = NginxContext.SERVER,
) -> ExportOptions:
    return ExportOptions(
        agent_tokens=result.agent_tokens,
        robots_tokens=result.agent_tokens,
        status=status,
        context=context,
        allow_private=settings.allow_private,
        never_block=tuple(sorted({*settings.allowlist, *result.never_block})),
        ruleset_digest=result.ruleset_digest[:16],
    )


def print_offenders(result: ScanResult) -> None:
    off = result.offenders
    rows = [
        (
            r[s.IP],
            r[s.CATEGORY],
            r[s.ACTION],
            f"{r[s.CONFIDENCE]:.2f}",
            r[s.REQUESTS],
            ", ".join(r[s.RULES][:4]),
            (r[s.USER_AGENTS] or [""])[0][:60],
            r[s.WHY],
        )
        for r in off.iter_rows(named=True)
    ]
    console.table(
        f"{off.height} offenders",
        ["client", "category", "action", "conf.", "requests", "rules", "user agent", "why"],
        rows,
    )
    summary = [
        (r[s.CATEGORY], r["requests"], r["bytes"], r["clients"])
        for r in result.summary.iter_rows(named=True)
    ]
    console.table("requests by category", ["category", "requests", "bytes", "clients"], summary)


def emit(
    result: ScanResult, settings: ScanSettings, fmt: OutputFormat, output: Path | None
) -> None:
    if fmt is OutputFormat.TABLE and output is None:
        print_offenders(result)
        return
    if fmt is OutputFormat.PARQUET:
        if output is None or str(output) == "-":
            raise OutputError("--format parquet needs -o FILE.parquet")
        try:
            result.offenders.write_parquet(output)
        except OSError as err:
            raise OutputError(f"{output}: cannot write it ({err.strerror})") from err
        return
    name = "json" if fmt is OutputFormat.TABLE else fmt.value
    text = render_export(name, result.offenders, export_options(result, settings))
    if output is None or str(output) == "-":
        sys.stdout.write(text)
    else:
        write_export(text, output)


def parse_exports(specs: list[str] | None) -> list[tuple[ExportFormat, Path]]:
    out = []
    for spec in specs or ():
        fmt, sep, path = spec.partition(":")
        if not sep or not path:
            raise typer.BadParameter(
                f"{spec!r}: write FORMAT:PATH, e.g. nginx:/etc/nginx/scraperwatch.conf"
            )
        try:
            out.append((ExportFormat(fmt), Path(path)))
        except ValueError:
            known = ", ".join(m.value for m in ExportFormat)
            raise typer.BadParameter(
                f"{spec!r}: unknown format {fmt!r}; use one of {known}"
            ) from None
    return out


@app.command()
@guarded
def scan(
    logs: ScanLogsArg = None,
    fmt: Annotated[
        OutputFormat, typer.Option("--format", help="Output format.")
    ] = OutputFormat.TABLE,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (- for stdout).")
    ] = None,
    export: Annotated[
        list[str] | None,
        typer.Option("--export", help="Also write a blocklist, FORMAT:PATH (repeatable)."),
    ] = None,
    check_cmd: Annotated[
        str | None,
        typer.Option(
            "--check-cmd",
            help="Run after writing an export, e.g. 'nginx -t'; "
            "the previous file is restored if it fails.",
        ),
    ] = None,
    reload_cmd: Annotated[
        str | None,
        typer.Option(
            "--reload-cmd", help="Run after a passing check, e.g. 'systemctl reload nginx'."
        ),
    ] = None,
    fail_on_offenders: Annotated[
        bool, typer.Option("--fail-on-offenders", help="Exit 1 when any client is to be blocked.")
    ] = False,
    log_format: LogFormatOpt = None,
    trusted_proxy: TrustedProxyOpt = None,
    strict: StrictOpt = False,
    rules: RulesOpt = None,
    policy: PolicyOpt = None,
    no_default_allowlist: NoDefaultAllowOpt = False,
    allow: AllowOpt = None,
    ranges: RangesOpt = None,
    robots: RobotsOpt = None,
    canary: CanaryOpt = None,
    asn_db: AsnDbOpt = None,
    geo_db: GeoDbOpt = None,
    quiet: QuietOpt = False,
    config: ConfigOpt = None,
    state: StateOpt = None,
    store: StoreOpt = None,
    window: WindowOpt = None,
    now: NowOpt = None,
    lock_timeout: LockTimeoutOpt = None,
    expiry_days: ExpiryDaysOpt = None,
) -> None:
    """Find who breaks the instance's terms: verdicts with their evidence, most harmful first.

    With --state DIR (or a config file) it is the nightly job: only the lines added since the
    last run are read, appended to the Parquet store, and verdicts are judged over windows of
    the store. Exit codes: 0 ran; 1 offenders to block and --fail-on-offenders; 2 bad options;
    3 unreadable logs, rules or config; 4 cannot write an export or the state; 5 a bug;
    6 another run holds the state directory's lock.
    """
    if config or state or store or window or now:
        _nightly_scan(dict(locals()))
        return
    if not logs:
        raise typer.BadParameter("give the log files to scan, or --config FILE", param_hint="LOGS")
    exports = parse_exports(export)
    settings = build_settings(
        logs,
        log_format=log_format,
        trusted_proxy=trusted_proxy,
        strict=strict,
        rules=rules,
        policy=policy,
        no_default_allowlist=no_default_allowlist,
        allow=allow,
        ranges=ranges,
        robots=robots,
        canary=canary,
        asn_db=asn_db,
        geo_db=geo_db,
    )
    result = run_scan(settings, reporter=console.RichReporter(quiet=quiet))
    if not quiet:
        print_read_summary(result.reports)
    emit(result, settings, fmt, output)
    for efmt, path in exports:
        text = render_export(efmt, result.offenders, export_options(result, settings))
        write_export(text, path, check_cmd=check_cmd, reload_cmd=reload_cmd)
        if not quiet:
            console.info(f"wrote {efmt.value} blocklist to {path}")
    blocked = result.offenders.filter(pl.col(s.ACTION) == "block").height
    if not quiet:
        console.info(
            f"{result.requests} requests judged; {result.offenders.height} offenders, "
            f"{blocked} to block"
        )
    if fail_on_offenders and blocked:
        raise typer.Exit(int(ExitCode.OFFENDERS))


@app.command("export")
@guarded
def export_cmd(
    export_format: Annotated[
        ExportFormat, typer.Argument(metavar="FORMAT", help="The blocklist format.")
    ],
    logs: LogsArg,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here (default: stdout).")
    ] = None,
    status: Annotated[
        int,
        typer.Option(
            "--status", help="The status blocked clients get (444: nginx closes the connection)."
        ),
    ] = 403,
    nginx_context: Annotated[
        NginxContext,
        typer.Option(
            "--nginx-context",
            help="Where the nginx include goes: http, server or location (user-agent checks "
            "need server or location; docs/export.md).",
        ),
    ] = NginxContext.SERVER,
    check_cmd: Annotated[
        str | None,
        typer.Option(
            "--check-cmd",
            help="Run after writing, e.g. 'nginx -t'; restores the old file on failure.",
        ),
    ] = None,
    reload_cmd: Annotated[
        str | None, typer.Option("--reload-cmd", help="Run after a passing check.")
    ] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print what would be added and removed "
            "compared with the file on disk; write nothing.",
        ),
    ] = False,
    log_format: LogFormatOpt = None,
    trusted_proxy: TrustedProxyOpt = None,
    strict: StrictOpt = False,
    rules: RulesOpt = None,
    policy: PolicyOpt = None,
    no_default_allowlist: NoDefaultAllowOpt = False,
    allow: AllowOpt = None,
    ranges: RangesOpt = None,
    robots: RobotsOpt = None,
    canary: CanaryOpt = None,
    quiet: QuietOpt = False,
) -> None:
    """Scan the logs and write a blocklist: nginx deny rules, Caddy, HAProxy, robots.txt, firewalls."""
    settings = build_settings(
        logs,
        log_format=log_format,
        trusted_proxy=trusted_proxy,
        strict=strict,
        rules=rules,
        policy=policy,
        no_default_allowlist=no_default_allowlist,
        allow=allow,
        ranges=ranges,
        robots=robots,
        canary=canary,
        asn_db=None,
        geo_db=None,
    )
    result = run_scan(settings, reporter=console.RichReporter(quiet=quiet))
    text = render_export(
        export_format,
        result.offenders,
        export_options(result, settings, status=status, context=nginx_context),
    )
    if output is None or str(output) == "-":
        if dry_run:
            raise typer.BadParameter("--dry-run compares with a file: give -o FILE")
        sys.stdout.write(text)
        return
    outcome = write_export(
        text, output, check_cmd=check_cmd, reload_cmd=reload_cmd, dry_run=dry_run
    )
    if dry_run:
        # What would change is the answer asked for: data, on stdout.
        changes = outcome.diff.lines()
        sys.stdout.write("".join(f"{line}\n" for line in changes))
        if not quiet:
            console.info(f"{output}: {len(changes)} changes; dry run, nothing written")
    elif not quiet:
        what = "unchanged" if outcome.unchanged else "written"
        console.info(f"{output}: {what}" + ("; reloaded" if outcome.reloaded else ""))


def _nightly_settings(
    args: dict[str, Any], cfg: Config | None
) -> tuple[ScanSettings, NightlySettings, list[ExportSpec]]:
    """The command line over the config file: single values replace, lists of addresses,
    rules, ranges and canaries add to the file's; --export replaces the file's exports."""
    c = cfg or Config(path=Path("-"))
    fmt: str | None = args["log_format"]
    if args["logs"]:
        logs = tuple((spec, fmt) for spec in args["logs"])
    else:
        logs = tuple((spec.path, fmt or spec.format or c.log_format) for spec in c.logs)
    if not logs:
        where = f"{c.path} has no [[logs]] table; add one, or " if cfg else ""
        raise typer.BadParameter(f"{where}give the log files to scan", param_hint="LOGS")

    def both(file_values: tuple[Any, ...], given: list[Any] | None) -> tuple[Any, ...]:
        return tuple(dict.fromkeys([*file_values, *(given or [])]))

    allow_private = c.allow_private if c.allow_private is not None else True
    settings = ScanSettings(
        logs=tuple(spec for spec, _ in logs),
        read=ReadOptions(
            fmt or c.log_format,
            both(c.trusted_proxies, args["trusted_proxy"]),
            bool(args["strict"] or c.strict),
        ),
        rules_dirs=both(c.rules, args["rules"]),
        policy=args["policy"] or c.policy,
        allow_private=False if args["no_default_allowlist"] else allow_private,
        allowlist=both(c.allowlist, args["allow"]),
        ranges=both(c.ranges, args["ranges"]),
        robots=args["robots"] or c.robots,
        canary=both(c.canary, args["canary"]),
        asn_db=args["asn_db"] or c.asn_db,
        geo_db=args["geo_db"] or c.geo_db,
        thresholds=c.thresholds or Thresholds(),
    )
    state_dir: Path | None = args["state"] or c.state
    store_path: Path | None = args["store"] or c.store
    try:
        windows = tuple(parse_window(w) for w in args["window"] or ())
    except ValueError as err:
        raise typer.BadParameter(str(err), param_hint="--window") from None
    if not windows:
        windows = c.windows or ((parse_window("24h"),) if state_dir or store_path else ())
    now = None
    if args["now"]:
        try:
            now = datetime.fromisoformat(args["now"])
        except ValueError:
            raise typer.BadParameter(
                f"{args['now']!r} is not an ISO time; write e.g. 2026-11-20T06:00:00Z",
                param_hint="--now",
            ) from None
    nightly = NightlySettings(
        logs=logs, state=state_dir, store=store_path, windows=windows, now=now
    )
    if args["export"]:
        exports = [
            ExportSpec(efmt, path, check_cmd=args["check_cmd"], reload_cmd=args["reload_cmd"])
            for efmt, path in parse_exports(args["export"])
        ]
    else:
        exports = list(c.exports)
    return settings, nightly, exports


def _nightly_scan(args: dict[str, Any]) -> None:
    """`scan` with --state, --store, --window or --config: the nightly job (docs/nightly.md)."""
    cfg = load_config(args["config"]) if args["config"] else None
    settings, nightly, exports = _nightly_settings(args, cfg)
    quiet: bool = args["quiet"]
    expiry_days: int = args["expiry_days"] or (cfg and cfg.expiry_days) or DEFAULT_EXPIRY_DAYS
    timeout = args["lock_timeout"]
    if timeout is None:
        timeout = (cfg.lock_timeout if cfg else None) or 0.0
    lock = StateLock(nightly.state, timeout=timeout) if nightly.state else contextlib.nullcontext()
    with lock:
        out = run_nightly(settings, nightly, reporter=console.RichReporter(quiet=quiet))
        result = out.scan
        if not quiet:
            for note in out.notes:
                console.info(note)
            if result.reports:
                print_read_summary(result.reports)
        emit(result, settings, args["fmt"], args["output"])
        if exports:
            offenders = result.offenders
            if nightly.state is not None:
                offenders = apply_expiry(
                    offenders, nightly.state, days=expiry_days, now=out.now or datetime.now(UTC)
                )
            for spec in exports:
                opts = export_options(result, settings, status=spec.status)
                text = render_export(spec.format, offenders, opts)
                done = write_export(
                    text, spec.path, check_cmd=spec.check_cmd, reload_cmd=spec.reload_cmd
                )
                if not quiet:
                    what = "unchanged" if done.unchanged else "wrote"
                    console.info(f"{what} {spec.format.value} blocklist {spec.path}")
    blocked = result.offenders.filter(pl.col(s.ACTION) == s.Action.BLOCK.value).height
    if not quiet:
        console.info(
            f"{out.appended} new requests stored" + (f" in {out.store}" if out.store else "")
        )
        for w in out.windows:
            label = f"last {w.window.text}" if w.window else "whole history"
            console.info(f"{label}: {w.requests} requests judged, {w.offenders} offenders")
        console.info(f"{result.offenders.height} offenders, {blocked} to block")
    fail = args["fail_on_offenders"] or bool(cfg and cfg.fail_on_offenders)
    if fail and blocked:
        raise typer.Exit(int(ExitCode.OFFENDERS))


__all__ = ["ScraperwatchError", "export_cmd", "scan"]
