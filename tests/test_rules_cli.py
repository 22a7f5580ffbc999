"""`scraperwatch rules list|check|test` through Typer's CliRunner: exit codes, stdout and stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scraperwatch.cli import app
from scraperwatch.errors import ExitCode

BROKEN = Path(__file__).resolve().parent / "fixtures" / "rules" / "broken"
GPT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
MASTODON_LINE = (
    '203.0.113.5 - - [10/Oct/2026:13:55:36 +0000] "POST /users/alice/inbox HTTP/1.1" 202 0 "-" '
    '"http.rb/5.1.1 (Mastodon/4.2.8; +https://mastodon.social/)"'
)


def test_list_table(runner: CliRunner) -> None:
    result = runner.invoke(app, ["rules", "list", "--category", "search-engine"])
    assert result.exit_code == ExitCode.OK, result.output
    assert "SE-GOOGLEBOT" in result.stdout
    assert "googlebot" not in result.stderr
    assert "UA-GPTBOT" not in result.stdout
    assert "rules (rule set" in result.stderr


def test_list_json(runner: CliRunner) -> None:
    result = runner.invoke(app, ["rules", "list", "--format", "json"])
    assert result.exit_code == ExitCode.OK, result.output
    data = json.loads(result.stdout)
    assert len(data["digest"]) == 64
    rules = {r["id"]: r for r in data["rules"]}
    assert rules["UA-GPTBOT"]["effective_action"] == "block"
    assert rules["SE-GOOGLEBOT"]["effective_action"] == "allow"
    assert rules["UA-GPTBOT"]["match"]["user_agent"]
    assert data["catchall"]["kept"] > 1000
    assert "Mastodon" in data["catchall"]["protected"]


def test_list_rejects_an_unknown_category(runner: CliRunner) -> None:
    result = runner.invoke(app, ["rules", "list", "--category", "robots"])
    assert result.exit_code == ExitCode.USAGE


def test_check_ok(runner: CliRunner) -> None:
    result = runner.invoke(app, ["rules", "check"])
    assert result.exit_code == ExitCode.OK, result.output
    assert "ai-training" in result.stdout
    assert result.stderr.startswith("ok: ")
    assert "CUA-CATCHALL" in result.stderr


def test_check_a_user_folder(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text(
        '[[rule]]\nid = "UA-MYBOT"\ntitle = "mine"\ncategory = "ai-training"\nsource = "our logs"\n'
        "checked = 2026-11-20\nmatch.user_agent = 'MyBot/'\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["rules", "check", str(tmp_path)])
    assert result.exit_code == ExitCode.OK, result.output
    assert "mine.toml" not in result.stderr
    assert "ok: " in result.stderr


@pytest.mark.parametrize(
    ("fixture", "fragment", "code"),
    [
        (
            p.name,
            p.read_text(encoding="utf-8").splitlines()[0].removeprefix("# expect: "),
            ExitCode.INPUT,
        )
        for p in sorted(BROKEN.glob("*.toml"))
    ],
)
def test_check_broken_file(runner: CliRunner, fixture: str, fragment: str, code: int) -> None:
    result = runner.invoke(app, ["rules", "check", str(BROKEN / fixture)])
    assert result.exit_code == code, result.output
    assert fragment in result.stderr
    assert str(BROKEN / fixture) in result.stderr
    assert result.stdout == ""


def test_check_broken_folder_and_list_with_it(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text(
        (BROKEN / "bad-regex.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    for args in (["rules", "check", str(tmp_path)], ["rules", "list", "--rules", str(tmp_path)]):
        result = runner.invoke(app, args)
        assert result.exit_code == ExitCode.INPUT, result.output
        assert "UA-BROKEN: `match.user_agent` is not a valid regex" in result.stderr
        assert result.stdout == ""


def test_test_user_agent(runner: CliRunner) -> None:
    result = runner.invoke(app, ["rules", "test", GPT])
    assert result.exit_code == ExitCode.OK, result.output
    assert "UA-GPTBOT" in result.stdout
    assert "match (primary)" in result.stdout
    assert "block" in result.stdout
    assert "input: user agent" in result.stderr


def test_test_log_line(runner: CliRunner) -> None:
    result = runner.invoke(app, ["rules", "test", MASTODON_LINE, "--format", "json"])
    assert result.exit_code == ExitCode.OK, result.output
    data = json.loads(result.stdout)
    assert data["input"] == "log line"
    assert data["request"]["path"] == "/users/alice/inbox"
    got = {m["rule"]: m for m in data["matches"]}
    assert set(got) == {"FED-MASTODON", "PATH-FED-INBOX"}
    assert got["FED-MASTODON"]["primary"]
    assert got["FED-MASTODON"]["action"] == "allow"
    assert [c["field"] for c in got["PATH-FED-INBOX"]["conditions"]] == ["path", "method"]


def test_test_user_agent_shows_rules_that_need_a_request(runner: CliRunner) -> None:
    ua = "http.rb/5.1.1 (Mastodon/4.2.8; +https://mastodon.social/)"
    result = runner.invoke(app, ["rules", "test", ua, "--format", "json"])
    data = json.loads(result.stdout)
    assert [m["rule"] for m in data["matches"] if m["matched"]] == ["FED-MASTODON"]


def test_test_browser_matches_nothing(runner: CliRunner) -> None:
    ua = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
    result = runner.invoke(app, ["rules", "test", ua])
    assert result.exit_code == ExitCode.OK, result.output
    assert "no rule matches" in result.stderr
    assert result.stdout == ""


def test_test_catchall_names_the_pattern(runner: CliRunner) -> None:
    result = runner.invoke(
        app,
        [
            "rules",
            "test",
            "Mozilla/5.0 (compatible; SEOlizer/1.1; +https://www.seolizer.de/bot.html)",
        ],
    )
    assert result.exit_code == ExitCode.OK, result.output
    assert "CUA-CATCHALL" in result.stdout
    assert "SEOlizer" in result.stdout
    assert "watch" in result.stdout
