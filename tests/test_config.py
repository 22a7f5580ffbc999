"""scraperwatch.toml: values, relative paths, and errors that name the file, the line and the key."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import scraperwatch.cli.scan  # noqa: F401  (registers `scan`)
from scraperwatch.cli.base import app
from scraperwatch.cli.scan import _nightly_settings
from scraperwatch.config import Config, load_config, parse_window, template
from scraperwatch.detect.heuristics import Thresholds
from scraperwatch.errors import ConfigError, ExitCode
from scraperwatch.exporters import ExportFormat

# (name, file text, line of the error, fragment naming the key, fragment of the fix)
ERRORS: list[tuple[str, str, int, str, str]] = [
    (
        "syntax",
        'state = "/var/lib/sw"\nstore = "/var/lib/sw/store\n',
        2,
        "not valid TOML",
        "quotes",
    ),
    ("unknown key", 'state = "s"\n\nstat = "t"\n', 3, "`stat`", "did you mean `state`"),
    (
        "threshold name",
        'state = "s"\n[thresholds]\npeak_per_minute = 100\npeek_per_10s = 3\n',
        4,
        "`peek_per_10s`",
        "unknown threshold",
    ),
    (
        "threshold type",
        '[thresholds]\n\npeak_per_minute = "fast"\n',
        3,
        "`peak_per_minute`",
        "must be a number",
    ),
    ("window", 'windows = ["24h",\n  "3 days"]\n', 1, "`windows[1]`", "e.g. 24h, 7d"),
    (
        "export format",
        'state = "s"\n\n[[exports]]\nformat = "nginx"\npath = "a.conf"\n\n[[exports]]\n'
        'format = "apache"\npath = "b.conf"\n',
        8,
        "`exports[1].format`",
        "use one of nginx",
    ),
    (
        "export without path",
        '[[exports]]\nformat = "nginx"\n',
        1,
        "`exports[0]`",
        "needs `path`",
    ),
    (
        "top-level key after a table",
        '[[logs]]\npath = "/var/log/nginx/access.log"\nstate = "/var/lib/sw"\n',
        3,
        "`logs[0].state`",
        "move it above the first table",
    ),
    (
        "log key typo",
        '[[logs]]\npath = "a.log"\nformt = "combined"\n',
        3,
        "`logs[0].formt`",
        "did you mean `format`",
    ),
    (
        "allowlist",
        'allowlist = ["192.0.2.1", "10.0.0.0/33"]\n',
        1,
        "`allowlist[1]`",
        "not an address or CIDR",
    ),
    (
        "robots missing",
        'state = "s"\nrobots = "no-such-robots.txt"\n',
        2,
        "`robots`",
        "is not a file",
    ),
    ("expiry", "expiry_days = 0\n", 1, "`expiry_days`", "at least 1"),
    ("boolean", 'allow_private = "no"\n', 1, "`allow_private`", "true or false"),
    ("canary", 'canary = ["trap/"]\n', 1, "`canary[0]`", "starting with /"),
    ("proxy", 'trusted_proxies = ["unix:", "proxy.local"]\n', 1, "`trusted_proxies[1]`", "CIDR"),
    ("logs not tables", 'logs = ["/var/log/nginx/access.log"]\n', 1, "`logs`", "[[logs]]"),
    ("dotted threshold", "thresholds.peak_per_minute = true\n", 1, "`peak_per_minute`", "number"),
]


@pytest.mark.parametrize(
    ("text", "line", "key", "fix"),
    [pytest.param(*case[1:], id=case[0]) for case in ERRORS],
)
def test_config_error_names_file_line_and_key(
    tmp_path: Path, runner: CliRunner, text: str, line: int, key: str, fix: str
) -> None:
    path = tmp_path / "scraperwatch.toml"
    path.write_text(text, encoding="utf-8")
    result = runner.invoke(app, ["scan", "--config", str(path)])
    assert result.exit_code == ExitCode.INPUT, result.output
    assert f"{path}:{line}" in result.stderr
    assert key in result.stderr
    assert fix in result.stderr
    assert result.stdout == ""


def test_missing_config_file(tmp_path: Path, runner: CliRunner) -> None:
    path = tmp_path / "nope.toml"
    result = runner.invoke(app, ["scan", "--config", str(path)])
    assert result.exit_code == ExitCode.INPUT
    assert f"{path}: no such configuration file" in result.stderr
    assert "scraperwatch init" in result.stderr


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b'state = "s"\npolicy = "caf\xe9"\n')
    with pytest.raises(ConfigError, match=r"c\.toml:2: the file is not UTF-8"):
        load_config(path)


def test_values_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "robots.txt").write_text("User-agent: *\nDisallow: /api/\n")
    (tmp_path / "rules").mkdir()
    path = tmp_path / "etc" / "scraperwatch.toml"
    path.parent.mkdir()
    path.write_text(
        'state = "../state"\n'
        'store = "/srv/history"\n'
        'windows = ["24h", "7d", "2w"]\n'
        "expiry_days = 14\n"
        'trusted_proxies = ["127.0.0.1", "unix:"]\n'
        'allowlist = ["203.0.113.7", "2001:db8::/48"]\n'
        "allow_private = false\n"
        'rules = ["../rules"]\n'
        'robots = "../robots.txt"\n'
        'canary = ["/trap/"]\n'
        'policy = "mastodon-social"\n'
        "lock_timeout = 30\n"
        "[[logs]]\n"
        'path = "/var/log/nginx/access.log"\n'
        'format = "combined"\n'
        "[[logs]]\n"
        'path = "caddy/*.json"\n'
        "[[exports]]\n"
        'format = "nginx"\n'
        'path = "/etc/nginx/scraperwatch/blocklist.conf"\n'
        'check_cmd = "nginx -t"\n'
        "status = 444\n"
        "[thresholds]\n"
        "peak_per_minute = 120\n"
        "no_assets_max_share = 0.1\n",
        encoding="utf-8",
    )
    cfg = load_config(path)
    assert cfg.state == path.parent / "../state"
    assert cfg.store == Path("/srv/history")
    assert [w.span for w in cfg.windows] == [
        timedelta(days=1),
        timedelta(days=7),
        timedelta(days=14),
    ]
    assert cfg.expiry_days == 14
    assert cfg.lock_timeout == 30.0
    assert cfg.trusted_proxies == ("127.0.0.1", "unix:")
    assert cfg.allow_private is False
    assert cfg.rules == (path.parent / "../rules",)
    assert cfg.robots == path.parent / "../robots.txt"
    assert [(x.path, x.format) for x in cfg.logs] == [
        ("/var/log/nginx/access.log", "combined"),
        (str(path.parent / "caddy/*.json"), None),
    ]
    export = cfg.exports[0]
    assert export.format is ExportFormat.NGINX
    assert export.status == 444
    assert export.check_cmd == "nginx -t"
    assert export.reload_cmd is None
    assert cfg.thresholds == Thresholds(peak_per_minute=120, no_assets_max_share=0.1)


def test_template_loads() -> None:
    text = template()
    assert "@THRESHOLDS@" not in text
    assert "# peak_per_minute = 90" in text


@pytest.mark.parametrize(
    ("text", "seconds"), [("90m", 5400), ("24h", 86400), ("7d", 604800), ("2w", 1209600)]
)
def test_parse_window(text: str, seconds: int) -> None:
    assert parse_window(text).span.total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "0h", "7", "h", "1.5d", "-1d", "3 days"])
def test_parse_window_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="is not a window"):
        parse_window(text)


def _args(**given: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "logs": None,
        "log_format": None,
        "trusted_proxy": None,
        "strict": False,
        "rules": None,
        "policy": None,
        "no_default_allowlist": False,
        "allow": None,
        "ranges": None,
        "robots": None,
        "canary": None,
        "asn_db": None,
        "geo_db": None,
        "state": None,
        "store": None,
        "window": None,
        "now": None,
        "export": None,
        "check_cmd": None,
        "reload_cmd": None,
    }
    base.update(given)
    return base


def test_command_line_wins_and_lists_add(tmp_path: Path) -> None:
    cfg = load_config_text(
        tmp_path,
        'state = "st"\nwindows = ["7d"]\nallowlist = ["192.0.2.1"]\npolicy = "strict"\n'
        '[[logs]]\npath = "/logs/a.log"\nformat = "combined"\n'
        '[[logs]]\npath = "/logs/b.json"\nformat = "caddy"\n'
        '[[exports]]\nformat = "json"\npath = "/out/o.json"\n',
    )
    settings, nightly, exports = _nightly_settings(_args(allow=["198.51.100.0/24"]), cfg)
    assert nightly.logs == (("/logs/a.log", "combined"), ("/logs/b.json", "caddy"))
    assert settings.allowlist == ("192.0.2.1", "198.51.100.0/24")
    assert settings.policy == "strict"
    assert [w.text for w in nightly.windows] == ["7d"]
    assert [e.format for e in exports] == [ExportFormat.JSON]

    settings, nightly, exports = _nightly_settings(
        _args(
            logs=["/other.log"],
            log_format="main",
            window=["24h"],
            policy="mastodon-social",
            state=tmp_path / "elsewhere",
            export=["plain:/out/list.txt"],
            check_cmd="true",
        ),
        cfg,
    )
    assert nightly.logs == (("/other.log", "main"),)
    assert [w.text for w in nightly.windows] == ["24h"]
    assert settings.policy == "mastodon-social"
    assert nightly.state == tmp_path / "elsewhere"
    assert [(e.format, e.check_cmd) for e in exports] == [(ExportFormat.PLAIN, "true")]


def test_defaults_without_config(tmp_path: Path) -> None:
    settings, nightly, exports = _nightly_settings(_args(logs=["a.log"], state=tmp_path), None)
    assert [w.text for w in nightly.windows] == ["24h"]  # a state or store: the last day
    assert settings.allow_private
    assert exports == []
    _, nightly, _ = _nightly_settings(_args(logs=["a.log"]), Config(path=Path("x.toml")))
    assert nightly.windows == ()  # neither: the whole input, as a plain scan


def load_config_text(folder: Path, text: str) -> Config:
    path = folder / "scraperwatch.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)
