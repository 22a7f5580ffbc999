"""`scraperwatch ranges list|check|update` through CliRunner: exit codes, stdout/stderr split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ranges_mirror import serve_mirror
from typer.testing import CliRunner, Result

from scraperwatch.cli import app
from scraperwatch.detect.ranges import load_ranges
from scraperwatch.errors import ExitCode

ENV = {"NO_COLOR": "1", "COLUMNS": "200"}
OVERRIDES = Path(__file__).parent / "fixtures" / "ranges" / "overrides"


def run(*args: str) -> Result:
    return CliRunner().invoke(app, ["ranges", *args], env=ENV)


@pytest.fixture
def updates(tmp_path: Path) -> Path:
    """An empty folder of refreshed snapshots, so no test reads the machine's own."""
    return tmp_path / "ranges"


def test_list_table(updates: Path) -> None:
    result = run("list", "--dir", str(updates))
    assert result.exit_code == 0, result.output
    assert "googlebot" in result.stdout
    assert "169" in result.stdout
    assert "146" in result.stdout
    assert "common-crawlers.json" in result.stdout
    assert "warning: googlebot: ranges fetched 2026-08-20" in result.stderr
    assert "warning" not in result.stdout


def test_list_json_with_an_override(updates: Path) -> None:
    result = run("list", "--dir", str(updates), "--format", "json", "--ranges", str(OVERRIDES))
    assert result.exit_code == 0, result.output
    rows = {row["operator"]: row for row in json.loads(result.stdout)}
    assert rows["examplebot"]["origin"] == "override"
    assert rows["examplebot"]["ipv4_prefixes"] == 1
    assert rows["googlebot"]["fetched"] == "2026-08-20"
    assert rows["yandexbot"]["rdns"] == [".yandex.ru", ".yandex.com", ".yandex.net"]


def test_check_verified_claim(updates: Path) -> None:
    ua = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    result = run("check", "66.249.66.1", "--ua", ua, "--dir", str(updates))
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "66.249.66.1: googlebot: in 66.249.66.0/27 (googlebot ranges fetched 2026-08-20)",
        "claim googlebot: verified: in 66.249.66.0/27 (googlebot ranges fetched 2026-08-20)",
    ]
    assert result.stderr == ""


def test_check_spoofed_claim_warns_about_old_ranges(updates: Path) -> None:
    result = run("check", "203.0.113.9", "--ua", "GPTBot/1.2", "--dir", str(updates))
    assert result.exit_code == 0, result.output
    assert "203.0.113.9: in no operator's published ranges" in result.stdout
    assert "claim gptbot: spoofed: outside the 21 published prefixes of gptbot" in result.stdout
    assert "the ranges of gptbot are" in result.stderr


def test_check_json_ipv6_and_shared_prefix(updates: Path) -> None:
    result = run("check", "74.7.228.5", "--operator", "oai-searchbot", "--format", "json",
                 "--dir", str(updates))  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [o["operator"] for o in data["operators"]] == ["gptbot", "oai-searchbot"]
    assert data["claim"]["verification"] == "verified"
    v6 = json.loads(run("check", "2001:4860:4801:10::1", "--format", "json", "--dir",
                        str(updates)).stdout)  # fmt: skip
    assert [o["operator"] for o in v6["operators"]] == ["googlebot"]
    assert v6["claim"] is None


def test_check_user_agent_without_operator(updates: Path) -> None:
    result = run("check", "192.0.2.1", "--ua", "Mozilla/5.0 Firefox/128.0", "--dir", str(updates))
    assert result.exit_code == 0
    assert "names no operator" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "not-an-ip"], "'not-an-ip' is not an IPv4 or IPv6 address"),
        (["check", "192.0.2.1", "--operator", "nosuchbot"], "unknown operator 'nosuchbot'"),
    ],
)
def test_check_usage_errors(updates: Path, args: list[str], message: str) -> None:
    result = run(*args, "--dir", str(updates))
    assert result.exit_code == ExitCode.USAGE, result.output
    assert message in result.stderr
    assert result.stdout == ""


def test_broken_override_is_an_input_error(tmp_path: Path, updates: Path) -> None:
    bad = tmp_path / "googlebot.txt"
    bad.write_text("66.249.66.1/19\n")
    result = run("list", "--dir", str(updates), "--ranges", str(bad))
    assert result.exit_code == ExitCode.INPUT, result.output
    assert f"error: {bad}: prefix 1 ('66.249.66.1/19') is not a valid CIDR" in result.stderr
    assert result.stdout == ""


@pytest.mark.server
def test_update_writes_snapshots(updates: Path) -> None:
    with serve_mirror() as base:
        result = run(
            "update", "--dir", str(updates), "--source-base", base,
            "--operator", "googlebot", "--operator", "bingbot", "--operator", "amazonbot",
            "--operator", "examplebot", "--ranges", str(OVERRIDES / "examplebot.json"),
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in updates.iterdir()) == [
        "amazonbot.json", "bingbot.json", "examplebot.json", "googlebot.json",
    ]  # fmt: skip
    assert "updated" in result.stdout
    assert "unchanged" in result.stdout
    assert "+1 -307" in result.stdout
    assert "4 operator(s) refreshed" in result.stderr
    listed = json.loads(run("list", "--dir", str(updates), "--format", "json").stdout)
    google = next(r for r in listed if r["operator"] == "googlebot")
    assert (google["origin"], google["ipv4_prefixes"], google["ipv6_prefixes"]) == ("updated", 6, 3)


@pytest.mark.server
def test_update_failures_keep_the_old_files(updates: Path) -> None:
    shipped = load_ranges(include_updates=False)
    updates.mkdir()
    olds = {}
    for op in ("oai-searchbot", "chatgpt-user", "applebot"):
        (updates / f"{op}.json").write_text(shipped[op].to_json())
        olds[op] = (updates / f"{op}.json").read_text()
    with serve_mirror() as base:
        result = run(
            "update", "--dir", str(updates), "--source-base", base, "--timeout", "0.5",
            "--operator", "oai-searchbot", "--operator", "chatgpt-user", "--operator", "applebot",
        )  # fmt: skip
    assert result.exit_code == ExitCode.INPUT, result.output
    for op, text in olds.items():
        assert (updates / f"{op}.json").read_text() == text
    assert sorted(p.name for p in updates.iterdir()) == sorted(f"{op}.json" for op in olds)
    assert "warning: oai-searchbot:" in result.stderr
    assert "not valid JSON" in result.stderr
    assert "warning: chatgpt-user:" in result.stderr
    assert "HTTP 404" in result.stderr
    assert "warning: applebot:" in result.stderr
    assert "no answer within 0.5 s" in result.stderr
    assert "error: 3 of 3 range sources failed" in result.stderr


@pytest.mark.server
def test_update_partial_failure_exit_codes(updates: Path) -> None:
    args = ["update", "--dir", str(updates), "--operator", "bingbot", "--operator", "chatgpt-user"]
    with serve_mirror() as base:
        lenient = run(*args, "--source-base", base)
        strict = run(*args, "--source-base", base, "--strict")
    assert lenient.exit_code == 0, lenient.output
    assert "warning: chatgpt-user:" in lenient.stderr
    assert strict.exit_code == ExitCode.INPUT, strict.output
    assert "1 of 2 range sources failed" in strict.stderr


def test_update_unknown_operator(updates: Path) -> None:
    result = run("update", "--dir", str(updates), "--operator", "nosuchbot")
    assert result.exit_code == ExitCode.INPUT
    assert "unknown operator nosuchbot" in result.stderr
    assert not updates.exists()


def test_update_skips_unfetchable_without_network(updates: Path) -> None:
    result = run(
        "update", "--dir", str(updates), "--operator", "yandexbot", "--operator", "kagibot"
    )
    assert result.exit_code == 0, result.output
    assert "skipped" in result.stdout
    assert "0 operator(s) refreshed" in result.stderr
