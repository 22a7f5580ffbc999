"""scan on generated, labelled logs: no allowed client is an offender, every forbidden one is.

The generator (benchmarks/generate_logs.py) writes the ground truth beside each log. The real
servers-and-clients corpus (tests/test_corpus.py) checks the same on logs real programs wrote.
"""

from __future__ import annotations

import csv
import ipaddress
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scraperwatch.cli import app
from scraperwatch.errors import ExitCode

ROOT = Path(__file__).resolve().parents[1]
GENERATOR = ROOT / "benchmarks" / "generate_logs.py"
CANARY = "/hidden/6f3a2c"
ENV = {"NO_COLOR": "1", "COLUMNS": "200"}
CUSTOM_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" $request_time $host'
)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path, Path]]:
    out = tmp_path_factory.mktemp("generated")
    logs = {}
    for fmt in ("combined", "custom", "caddy"):
        log, labels, robots = out / f"{fmt}.log", out / f"{fmt}.csv", out / "robots.txt"
        subprocess.run(
            [
                sys.executable,
                str(GENERATOR),
                "--format",
                fmt,
                "--lines",
                "60000",
                "--days",
                "2",
                "--seed",
                "11",
                "-o",
                str(log),
                "--labels",
                str(labels),
                "--robots-txt",
                str(robots),
            ],
            check=True,
        )
        logs[fmt] = (log, labels, robots)
    return logs


def _covered(ip: str, offenders: list[dict[str, object]]) -> dict[str, object] | None:
    addr = ipaddress.ip_address(ip)
    for off in offenders:
        if addr in ipaddress.ip_network(str(off["ip"]), strict=False):
            return off
    return None


@pytest.mark.parametrize("fmt", ["combined", "custom", "caddy"])
def test_every_forbidden_client_caught_and_no_allowed_one(
    generated: dict[str, tuple[Path, Path, Path]], fmt: str
) -> None:
    log, labels, robots = generated[fmt]
    args = ["scan", str(log), "--format", "json", "--robots", str(robots), "--canary", CANARY, "-q"]
    result = CliRunner().invoke(app, args, env=ENV)
    assert result.exit_code == 0, result.output
    offenders = json.loads(result.stdout)["offenders"]
    false_pos, missed, per_class = [], [], Counter[str]()
    with labels.open() as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        hit = _covered(row["ip"], offenders)
        if row["expected"] == "allow":
            if hit is not None:
                false_pos.append((row["label"], row["ip"], hit["category"], hit["why"]))
        elif hit is None:
            missed.append((row["label"], row["ip"]))
        else:
            per_class[row["label"]] += 1
    assert false_pos == [], "allowed clients judged offenders"
    assert missed == [], "forbidden clients not caught"
    assert per_class["distributed-crawl"] > 0
    assert per_class["api-harvester-timeline"] > 0


def test_every_verdict_carries_its_evidence(generated: dict[str, tuple[Path, Path, Path]]) -> None:
    log, _, robots = generated["combined"]
    result = CliRunner().invoke(
        app, ["scan", str(log), "--format", "json", "--robots", str(robots), "-q"], env=ENV
    )
    offenders = json.loads(result.stdout)["offenders"]
    assert offenders
    for off in offenders:
        for key in (
            "ip",
            "category",
            "action",
            "rules",
            "requests",
            "first_seen",
            "last_seen",
            "user_agents",
            "evidence",
            "why",
        ):
            assert key in off, key
        assert off["evidence"], off["ip"]
        assert off["why"].strip()
        assert off["action"] in ("block", "watch")


def test_fail_on_offenders_exits_1_and_table_goes_to_stdout(
    generated: dict[str, tuple[Path, Path, Path]],
) -> None:
    log, _, _ = generated["combined"]
    result = CliRunner().invoke(app, ["scan", str(log), "--fail-on-offenders"], env=ENV)
    assert result.exit_code == ExitCode.OFFENDERS, result.output
    assert "offenders" in result.stdout
    assert "logs read" in result.stderr
    assert "logs read" not in result.stdout


def test_scan_writes_an_nginx_export_that_nginx_accepts(
    generated: dict[str, tuple[Path, Path, Path]], tmp_path: Path
) -> None:
    log, _, _ = generated["combined"]
    target = tmp_path / "scraperwatch.conf"
    result = CliRunner().invoke(
        app,
        [
            "scan",
            str(log),
            "-q",
            "--format",
            "json",
            "-o",
            str(tmp_path / "o.json"),
            "--export",
            f"nginx:{target}",
            "--export",
            f"plain:{tmp_path / 'list.txt'}",
        ],
        env=ENV,
    )
    assert result.exit_code == 0, result.output
    text = target.read_text()
    assert "deny " in text
    blocked = {ln for ln in (tmp_path / "list.txt").read_text().splitlines() if ln and ln[0] != "#"}
    offenders = json.loads((tmp_path / "o.json").read_text())["offenders"]
    for off in offenders:
        if off["action"] == "block" and off["category"] != "spoofed-crawler":
            assert _covered_by_list(off["ip"], blocked), off["ip"]


def _covered_by_list(ip: str, entries: set[str]) -> bool:
    net = ipaddress.ip_network(ip, strict=False)
    return any(
        net.subnet_of(ipaddress.ip_network(e))
        for e in entries  # type: ignore[arg-type]
        if ipaddress.ip_network(e).version == net.version
    )


def test_bad_export_spec_is_a_usage_error(generated: dict[str, tuple[Path, Path, Path]]) -> None:
    log, _, _ = generated["combined"]
    result = CliRunner().invoke(app, ["scan", str(log), "--export", "bogus"], env=ENV)
    assert result.exit_code == ExitCode.USAGE
    assert "FORMAT:PATH" in result.output
