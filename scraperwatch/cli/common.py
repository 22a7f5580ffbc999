"""Options shared by several commands, and the reading summary."""

from __future__ import annotations

from typing import Annotated

import typer

from scraperwatch import console
from scraperwatch.reader import FileReport

LogsArg = Annotated[
    list[str],
    typer.Argument(
        help="Log files, globs, directories (rotated and .gz/.bz2/.zst/.xz files included), "
        "or - for standard input.",
        show_default=False,
    ),
]
LogFormatOpt = Annotated[
    str | None,
    typer.Option(
        "--log-format",
        "-f",
        help="auto (default: detected per file), caddy, combined, main, vhost, timed, "
        "upstreaminfo, npm-proxy, npm-standard, or an nginx log_format string as in nginx.conf, "
        "e.g. '$remote_addr - $remote_user [$time_local] \"$request\" ...' (escape=json "
        "formats too).",
    ),
]
TrustedProxyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--trusted-proxy",
        help="A proxy address or CIDR (repeatable; unix: for a unix socket): the client is "
        "taken from X-Forwarded-For as nginx's realip module does (the rightmost untrusted "
        "address).",
    ),
]
StrictOpt = Annotated[
    bool, typer.Option("--strict", help="Fail (exit 3) when any line is rejected.")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No summary on stderr.")]


def print_read_summary(reports: list[FileReport]) -> None:
    rows = [(r.name, r.format, r.how, r.lines, r.parsed, r.skipped, r.rejected) for r in reports]
    console.table(
        "logs read",
        ["file", "format", "how", "lines", "parsed", "skipped", "rejected"],
        rows,
        stderr=True,
    )
    for r in reports:
        for note in r.notes:
            console.warn(f"{r.name}: {note}")
