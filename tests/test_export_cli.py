"""`scraperwatch export` on the shipped sample logs: golden outputs, a real nginx check, dry-run."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scraperwatch.cli import app
from scraperwatch.errors import ExitCode

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "sample_logs"
ENV = {"NO_COLOR": "1", "COLUMNS": "200"}
ARGS = ["--robots", str(SAMPLES / "meta" / "robots.txt"), "--canary", "/hidden/6f3a2c", "-q"]


@pytest.mark.parametrize(
    ("fmt", "extra", "name"),
    [
        ("nginx", [], "sample-nginx.conf"),
        ("nginx-map", [], "sample-nginx-map.conf"),
        ("caddy", [], "sample-caddy.caddy"),
        ("robots-txt", [], "sample-robots.txt"),
        ("plain", [], "sample-plain.txt"),
    ],
)
def test_export_of_the_sample_logs_matches_its_golden_file(
    fmt: str, extra: list[str], name: str, golden: Callable[[str, str], None]
) -> None:
    result = CliRunner().invoke(app, ["export", fmt, str(SAMPLES), *ARGS, *extra], env=ENV)
    assert result.exit_code == 0, result.output
    golden(f"export/{name}", result.stdout)


def test_a_second_export_run_leaves_the_file_byte_identical(tmp_path: Path) -> None:
    target = tmp_path / "scraperwatch.conf"
    for _ in range(2):
        result = CliRunner().invoke(
            app, ["export", "nginx", str(SAMPLES), "-o", str(target), *ARGS], env=ENV
        )
        assert result.exit_code == 0, result.output
    first = target.read_bytes()
    mtime = target.stat().st_mtime_ns
    CliRunner().invoke(app, ["export", "nginx", str(SAMPLES), "-o", str(target), *ARGS], env=ENV)
    assert target.read_bytes() == first
    assert target.stat().st_mtime_ns == mtime


@pytest.mark.server
def test_export_is_checked_by_nginx_and_a_failing_check_restores_the_old_file(
    tmp_path: Path,
) -> None:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    target = tmp_path / "scraperwatch.conf"
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"error_log {tmp_path}/error.log; pid {tmp_path}/nginx.pid;\n"
        "events {}\n"
        f"http {{ access_log off; server {{ listen 127.0.0.1:1; include {target}; }} }}\n"
    )
    check = f"{nginx} -t -q -p {tmp_path} -c {conf} -e {tmp_path}/error.log"
    result = CliRunner().invoke(
        app,
        ["export", "nginx", str(SAMPLES), "-o", str(target), "--check-cmd", check, *ARGS],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    good = target.read_text()
    assert "deny " in good
    # A check that fails: the new file is rolled back, exit 4, the old text stays.
    result = CliRunner().invoke(
        app,
        ["export", "plain", str(SAMPLES), "-o", str(target), "--check-cmd", check, *ARGS],
        env=ENV,
    )
    assert result.exit_code == ExitCode.OUTPUT, result.output
    assert target.read_text() == good


def test_dry_run_says_what_would_change_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "scraperwatch.conf"
    target.write_text("deny 192.0.2.1;\n")
    result = CliRunner().invoke(
        app, ["export", "nginx", str(SAMPLES), "-o", str(target), "--dry-run", *ARGS], env=ENV
    )
    assert result.exit_code == 0, result.output
    assert target.read_text() == "deny 192.0.2.1;\n"
    changes = result.stdout.splitlines()
    assert "- 192.0.2.1" in changes
    assert any(line.startswith("+ ") for line in changes)
