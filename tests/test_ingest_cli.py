"""`scraperwatch ingest` through Typer's CliRunner: failure modes, inputs, progress.

Failure modes are parametrized as (fixture, options, message fragment, exit code), one tiny
file each in tests/fixtures/logs/ (its README says what each is). Messages go to stderr,
stdout stays empty: ingest writes its data to files.
"""

from __future__ import annotations

import gzip
import os
import pty
import select
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from conftest import LOG_FIXTURES
from typer.testing import CliRunner

from scraperwatch import schema as s
from scraperwatch.cli import app
from scraperwatch.errors import ExitCode

UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
NO_TIME = '$remote_addr "$request" $status'


def ingest(runner: CliRunner, *args: str, out: Path, input: bytes | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["ingest", *args, "-o", str(out)], input=input)


FAILURES = [
    # (fixture, options, fragment of stderr, exit code)
    ("invalid-utf8.log", [], "1 lines held bytes that are not UTF-8", ExitCode.OK),
    ("nul-bytes.log", [], "nul-bytes.log:3: NUL bytes in the line", ExitCode.OK),
    ("nul-bytes.log", ["--strict"], "nul-bytes.log:3: NUL bytes in the line", ExitCode.INPUT),
    ("megabyte-line.log.gz", [], "(the line is 1048576 bytes long)", ExitCode.OK),
    ("truncated.log.gz", [], "the compressed data ends early after line 259", ExitCode.OK),
    ("empty.log", [], "empty.log: the file is empty", ExitCode.OK),
    ("no-logs-dir", [], "no-logs-dir: the directory holds no log files", ExitCode.INPUT),
    (
        "mixed-formats.log.gz",
        [],
        "300 of 500 lines do not parse as nginx-combined (detected; first at line 201); "
        "from there its lines look like caddy",
        ExitCode.INPUT,
    ),
    (
        "caddy-as-combined.json",
        ["--log-format", "combined"],
        "only 0% of the first lines parse as nginx-combined; it looks like caddy",
        ExitCode.INPUT,
    ),
    ("does-not-exist.log", [], "does-not-exist.log: no such file or directory", ExitCode.INPUT),
    ("nothing-matches-*.log", [], "no file matches this pattern", ExitCode.INPUT),
    ("combined.log", ["--log-format", NO_TIME], "has no time variable", ExitCode.INPUT),
    ("combined.log", ["--log-format", "plain words"], "names no nginx variable", ExitCode.INPUT),
    (
        "combined.log",
        ["--log-format", '$remote_addr$remote_user [$time_local] "$request" $status'],
        "stand next to each other",
        ExitCode.INPUT,
    ),
    ("one-rejected.log", [], "first rejected line: ", ExitCode.OK),
    ("one-rejected.log", ["--strict"], "--strict fails on any", ExitCode.INPUT),
    (
        "combined.log",
        ["--trusted-proxy", "10.0.0.0/33"],
        "is not an address or a CIDR",
        ExitCode.INPUT,
    ),
]


@pytest.mark.parametrize(
    ("fixture", "options", "fragment", "code"),
    FAILURES,
    ids=[f"{f}{'+' + o[0] if o else ''}-{c.name}" for f, o, _, c in FAILURES],
)
def test_failure_modes(
    runner: CliRunner,
    tmp_path: Path,
    fixture: str,
    options: list[str],
    fragment: str,
    code: ExitCode,
) -> None:
    out = tmp_path / "out.parquet"
    result = ingest(runner, str(LOG_FIXTURES / fixture), *options, out=out)
    assert result.exit_code == code, result.output
    assert fragment in " ".join(result.stderr.split()), result.stderr
    assert result.stdout == ""
    assert "Traceback" not in result.output
    if code == ExitCode.OK:
        assert out.exists()
    else:
        assert not out.exists(), "a failed run writes no output"
        assert not list(tmp_path.glob(".out.parquet.tmp*")), "and leaves no temporary file"


def test_every_log_fixture_is_used_and_documented() -> None:
    readme = (LOG_FIXTURES / "README.md").read_text()
    for path in LOG_FIXTURES.iterdir():
        if path.name != "README.md":
            assert f"`{path.name}" in readme, f"{path.name} is not described in the README"


def test_truncated_gzip_keeps_the_lines_before_the_cut(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    assert ingest(runner, str(LOG_FIXTURES / "truncated.log.gz"), out=out).exit_code == 0
    df = pl.read_parquet(out)
    assert df[s.LINE_NO].to_list() == list(range(1, 260))


def test_invalid_utf8_bytes_are_kept_as_escapes(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    assert ingest(runner, str(LOG_FIXTURES / "invalid-utf8.log"), out=out).exit_code == 0
    uas = pl.read_parquet(out)[s.USER_AGENT].to_list()
    assert uas[2] == UA.replace("Firefox/128.0", "Firef\\xF6x")  # Latin-1 ö: not UTF-8


def test_compressed_rotations(runner: CliRunner, tmp_path: Path) -> None:
    """bzip2, zstd and xz rotations are read (by their magic bytes, whatever their names)."""
    out = tmp_path / "out.parquet"
    names = ["rotated-bzip2.log.1.bz2", "rotated-zstd.log.1.zst", "rotated-xz.log.1.xz"]
    result = ingest(runner, *(str(LOG_FIXTURES / n) for n in names), out=out)
    assert result.exit_code == 0, result.output
    df = pl.read_parquet(out)
    assert df.group_by(s.SOURCE_FILE).len()["len"].to_list() == [4, 4, 4]
    assert df[s.TS].dt.day().unique().to_list() == [10]


def test_compression_is_found_by_content_not_name(runner: CliRunner, tmp_path: Path) -> None:
    odd = tmp_path / "access.log.1"  # gzip data without a .gz name
    odd.write_bytes(gzip.compress((LOG_FIXTURES / "combined.log").read_bytes()))
    out = tmp_path / "out.parquet"
    assert ingest(runner, str(odd), out=out).exit_code == 0
    assert pl.read_parquet(out).height == 5


@pytest.mark.parametrize(
    "spec",
    ["rotation", "rotation/access.log*", "shell-expanded"],
    ids=["directory", "glob", "shell-expanded"],
)
def test_rotation_order_is_oldest_first(runner: CliRunner, tmp_path: Path, spec: str) -> None:
    """access.log.2.gz, access.log.1, access.log: read oldest first however they are named."""
    out = tmp_path / "out.parquet"
    if spec == "shell-expanded":  # what `access.log*` gives after the shell: newest first
        args = [
            str(LOG_FIXTURES / "rotation" / n)
            for n in ("access.log", "access.log.1", "access.log.2.gz")
        ]
    else:
        args = [str(LOG_FIXTURES / spec)]
    result = ingest(runner, *args, out=out)
    assert result.exit_code == 0, result.output
    df = pl.read_parquet(out)
    files = [Path(f).name for f in df[s.SOURCE_FILE].unique(maintain_order=True).to_list()]
    assert files == ["access.log.2.gz", "access.log.1", "access.log"]
    assert df[s.PATH].to_list() == ["/day10"] * 3 + ["/day11"] * 3 + ["/day12"] * 3
    assert df[s.TS].is_sorted()
    if spec == "rotation":  # the directory's error.log is read, its line skipped and said so
        assert "rotation/error.log: no requests: all 1 lines were skipped" in result.stderr


def test_a_file_named_twice_is_read_once(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    d = LOG_FIXTURES / "rotation"
    result = ingest(runner, str(d / "access.log"), str(d / "access.log*"), out=out)
    assert result.exit_code == 0, result.output
    assert pl.read_parquet(out).height == 9


@pytest.mark.parametrize("compress", [False, True], ids=["plain", "gzip"])
def test_stdin(runner: CliRunner, tmp_path: Path, compress: bool) -> None:
    data = (LOG_FIXTURES / "combined.log").read_bytes()
    out = tmp_path / "out.parquet"
    result = ingest(runner, "-", out=out, input=gzip.compress(data) if compress else data)
    assert result.exit_code == 0, result.output
    df = pl.read_parquet(out)
    assert df.height == 5
    assert df[s.SOURCE_FILE].unique().to_list() == ["<stdin>"]
    assert "<stdin>: nginx-combined (detected)" in result.stderr


def test_output_that_cannot_be_written_is_an_output_error(
    runner: CliRunner, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = ingest(runner, str(LOG_FIXTURES / "combined.log"), out=blocker / "sub" / "out.parquet")
    assert result.exit_code == ExitCode.OUTPUT, result.output
    assert "cannot write" in result.stderr
    assert result.stdout == ""


def test_store_or_output_is_required(runner: CliRunner) -> None:
    result = runner.invoke(app, ["ingest", str(LOG_FIXTURES / "combined.log")])
    assert result.exit_code == ExitCode.USAGE
    assert "--store" in result.stderr


def test_rejects_csv(runner: CliRunner, tmp_path: Path) -> None:
    out, rej = tmp_path / "out.parquet", tmp_path / "rejects.csv"
    result = ingest(runner, str(LOG_FIXTURES / "one-rejected.log"), "--rejects", str(rej), out=out)
    assert result.exit_code == 0, result.output
    df = pl.read_csv(rej)
    assert df.columns == list(s.REJECTED_SCHEMA)
    assert df[s.LINE_NO].to_list() == [3]


def test_trusted_proxy_takes_the_client_from_x_forwarded_for(
    runner: CliRunner, tmp_path: Path
) -> None:
    log = tmp_path / "main.log"
    log.write_text(
        f'10.0.0.5 - - [12/Nov/2026:10:00:00 +0100] "GET / HTTP/1.1" 200 1 "-" "{UA}" '
        '"203.0.113.9, 10.0.0.4"\n'
    )
    out = tmp_path / "out.parquet"
    result = ingest(runner, str(log), "--trusted-proxy", "10.0.0.0/8", out=out)
    assert result.exit_code == 0, result.output
    row = pl.read_parquet(out).row(0, named=True)
    assert (row[s.CLIENT_IP], row[s.PEER_IP]) == ("203.0.113.9", "10.0.0.5")


# --- progress ------------------------------------------------------------------------------


def test_no_progress_artifacts_in_pipes(runner: CliRunner, tmp_path: Path) -> None:
    """CliRunner's stderr is no terminal: no progress bar, no cursor control, no colours."""
    result = ingest(runner, str(LOG_FIXTURES / "rotation"), out=tmp_path / "out.parquet")
    assert result.exit_code == 0
    for artifact in ("\r", "\x1b", "reading 4 files"):
        assert artifact not in result.output, repr(artifact)


def _big_log(path: Path, n: int) -> Path:
    line = f'192.0.2.1 - - [12/Nov/2026:10:00:00 +0100] "GET /@alice HTTP/1.1" 200 1 "-" "{UA}"\n'
    path.write_text(line * n)
    return path


def test_progress_bar_on_a_terminal(tmp_path: Path) -> None:
    """With stderr on a terminal (a pseudo-terminal here) the bar is drawn, then cleared."""
    log = _big_log(tmp_path / "big.log", 200_000)
    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "CI"} | {"TERM": "xterm", "COLUMNS": "120"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "scraperwatch",
            "ingest",
            str(log),
            "-o",
            str(tmp_path / "o.parquet"),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=slave,
        env=env,
    )
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                seen += chunk
            elif proc.poll() is not None:
                break
    finally:
        proc.wait(timeout=60)
        os.close(master)
    assert proc.returncode == 0, seen.decode(errors="replace")
    text = seen.decode("utf-8", "replace")
    assert "reading 1 file" in text, text[:2000]
    assert "\x1b[?25l" in text  # the cursor is hidden while the bar is drawn
