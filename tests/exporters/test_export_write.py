"""The safe writer: atomic write, check command, restore on failure, reload, dry-run diff."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from export_frames import OPTIONS, SCAN, frame, offender
from servers import http_get, nginx_argv, nginx_config, requires, run_nginx, write_site

from scraperwatch.errors import ExitCode, ExportError
from scraperwatch.exporters import (
    ExportFormat,
    ExportOptions,
    diff_exports,
    nginx_check_snippet,
    render_export,
    write_export,
)
from scraperwatch.exporters.write import BACKUP_SUFFIX, export_entries

LOCAL = ExportOptions(allow_private=False, agent_tokens=("GPTBot",))


def test_first_write_creates_the_file(tmp_path: Path) -> None:
    target = tmp_path / "block.conf"
    result = write_export("deny 192.0.2.1;\n", target)
    assert result.written
    assert not result.unchanged
    assert result.backup is None
    assert target.read_text() == "deny 192.0.2.1;\n"
    assert result.diff.added_addresses == ("192.0.2.1",)
    assert oct(target.stat().st_mode & 0o777) == "0o644"
    assert [p.name for p in tmp_path.iterdir()] == ["block.conf"]  # no temporary file left


def test_rewrite_keeps_previous_file_and_mode(tmp_path: Path) -> None:
    target = tmp_path / "block.conf"
    target.write_text("deny 192.0.2.1;\n")
    target.chmod(0o640)
    result = write_export("deny 192.0.2.2;\n", target)
    assert result.written
    assert result.backup == tmp_path / f"block.conf{BACKUP_SUFFIX}"
    assert result.backup.read_text() == "deny 192.0.2.1;\n"
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    assert result.diff.added_addresses == ("192.0.2.2",)
    assert result.diff.removed_addresses == ("192.0.2.1",)


def test_unchanged_text_is_not_rewritten(tmp_path: Path) -> None:
    target = tmp_path / "block.conf"
    text = render_export(ExportFormat.NGINX, SCAN, OPTIONS)
    write_export(text, target)
    past = time.time() - 3600
    os.utime(target, (past, past))
    before = target.stat()
    # the check would fail if it ran: identical text runs neither command
    result = write_export(text, target, check_cmd="false", reload_cmd="false")
    assert result.unchanged
    assert not result.written
    assert not result.reloaded
    after = target.stat()
    assert (after.st_mtime_ns, after.st_ino) == (before.st_mtime_ns, before.st_ino)


def test_dry_run_reports_the_diff_and_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "map.conf"
    old = frame(offender("203.0.113.4"), offender("198.51.100.0/24"))
    new = frame(offender("203.0.113.4"), offender("192.0.2.0/24"), offender("2001:db8::/48"))
    write_export(
        render_export(ExportFormat.NGINX_MAP, old, ExportOptions(agent_tokens=("GPTBot", "CCBot"))),
        target,
    )
    before = target.read_text()
    new_text = render_export(
        ExportFormat.NGINX_MAP, new, ExportOptions(agent_tokens=("GPTBot", "Brightbot 1.0"))
    )
    result = write_export(new_text, target, dry_run=True, check_cmd="false")
    assert result.dry_run
    assert not result.written
    assert target.read_text() == before
    assert result.diff.added_addresses == ("192.0.2.0/24", "2001:db8::/48")
    assert result.diff.removed_addresses == ("198.51.100.0/24",)
    assert result.diff.added_tokens == ("Brightbot 1.0",)
    assert result.diff.removed_tokens == ("CCBot",)
    assert result.diff.lines() == [
        "+ 192.0.2.0/24",
        "+ 2001:db8::/48",
        "+ user-agent Brightbot 1.0",
        "- 198.51.100.0/24",
        "- user-agent CCBot",
    ]


def test_dry_run_of_a_new_file(tmp_path: Path) -> None:
    result = write_export("203.0.113.9\n", tmp_path / "new.txt", dry_run=True)
    assert result.diff.added_addresses == ("203.0.113.9",)
    assert not (tmp_path / "new.txt").exists()


@pytest.mark.parametrize("fmt", list(ExportFormat))
def test_diff_understands_every_format(fmt: ExportFormat) -> None:
    old = frame(offender("203.0.113.4"), offender("198.51.100.0/24"), offender("2001:db8::1"))
    new = frame(offender("203.0.113.4"), offender("192.0.2.0/24", tokens=["CCBot"]))
    old_opts = ExportOptions(
        agent_tokens=("GPTBot", "iaskspider/2.0"), robots_tokens=("GPTBot", "iaskspider/2.0")
    )
    new_opts = ExportOptions(agent_tokens=("GPTBot", "CCBot"), robots_tokens=("GPTBot", "CCBot"))
    diff = diff_exports(render_export(fmt, old, old_opts), render_export(fmt, new, new_opts))
    if fmt is ExportFormat.ROBOTS_TXT or fmt is ExportFormat.HAPROXY_UA:
        assert diff.added_addresses == diff.removed_addresses == ()
    else:
        assert diff.added_addresses == ("192.0.2.0/24",)
        assert diff.removed_addresses == ("198.51.100.0/24", "2001:db8::1")
    if fmt in (
        ExportFormat.NGINX,
        ExportFormat.NGINX_MAP,
        ExportFormat.CADDY,
        ExportFormat.HAPROXY_UA,
        ExportFormat.ROBOTS_TXT,
    ):
        assert diff.added_tokens == ("CCBot",)
        assert diff.removed_tokens == ("iaskspider/2.0",)
    elif fmt in (ExportFormat.JSON, ExportFormat.CSV):  # the offenders' own tokens
        assert diff.added_tokens == ("CCBot",)
        assert diff.removed_tokens == ()
    else:
        assert not diff.added_tokens
        assert not diff.removed_tokens


def test_entries_ignore_comments() -> None:
    entries = export_entries("# 203.0.113.1 GPTBot \\bCCBot\\b\n198.51.100.7\n")
    assert entries.addresses == {"198.51.100.7"}
    assert entries.tokens == frozenset()


def test_commands_run_without_a_shell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.txt"
    monkeypatch.chdir(tmp_path)
    write_export("203.0.113.9\n", target, check_cmd="touch 'made by check;' && false")
    # a shell would have run `false` and failed; without one, touch made three files
    assert (tmp_path / "made by check;").exists()
    assert (tmp_path / "&&").exists()
    assert (tmp_path / "false").exists()


def test_failing_check_restores_previous_file(tmp_path: Path) -> None:
    target = tmp_path / "block.conf"
    target.write_text("deny 192.0.2.1;\n")
    marker = tmp_path / "reloaded"
    with pytest.raises(ExportError, match="check command 'false' failed") as err:
        write_export("deny 192.0.2.2;\n", target, check_cmd="false", reload_cmd=f"touch {marker}")
    assert err.value.exit_code == ExitCode.OUTPUT
    assert "previous file was restored" in str(err.value)
    assert target.read_text() == "deny 192.0.2.1;\n"
    assert not marker.exists()


def test_failing_check_without_previous_file_removes_the_new_one(tmp_path: Path) -> None:
    target = tmp_path / "block.conf"
    with pytest.raises(ExportError, match="new file was removed"):
        write_export("deny 192.0.2.2;\n", target, check_cmd="false")
    assert not target.exists()


def test_missing_check_program_restores(tmp_path: Path) -> None:
    target = tmp_path / "block.conf"
    target.write_text("old\n")
    with pytest.raises(ExportError, match="command not found"):
        write_export("new\n", target, check_cmd="/nonexistent/nginx -t")
    assert target.read_text() == "old\n"


def test_failing_reload_keeps_checked_file(tmp_path: Path) -> None:
    target = tmp_path / "block.conf"
    with pytest.raises(ExportError, match="reload command 'false' failed"):
        write_export("new\n", target, check_cmd="true", reload_cmd="false")
    assert target.read_text() == "new\n"


@pytest.mark.parametrize("cmd", ["", "nginx 'unclosed"])
def test_unusable_commands(tmp_path: Path, cmd: str) -> None:
    with pytest.raises(ExportError):
        write_export("x\n", tmp_path / "f", check_cmd=cmd or " ")


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="does not exist"):
        write_export("x\n", tmp_path / "nope" / "f")


@pytest.mark.server
@requires("nginx")
def test_nginx_t_as_check_command(tmp_path: Path) -> None:
    """`nginx -t` guards the write: a good export passes, a broken one is rolled back."""
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    include = conf_dir / "scraperwatch-map.conf"
    config = conf_dir / "nginx.conf"
    root = write_site(tmp_path / "html")
    config.write_text(
        nginx_config(
            port=8,  # never started: only tested
            workdir=conf_dir,
            root=root,
            http_snippet=f"include {include};",
            server_snippet=nginx_check_snippet(),
        )
    )
    check = " ".join([*nginx_argv(conf_dir, config), "-t"])
    good = render_export(ExportFormat.NGINX_MAP, SCAN, OPTIONS)
    result = write_export(good, include, check_cmd=check)
    assert result.written
    assert "test is successful" in result.check_output
    broken = good.replace("default 0;", "default 0", 1)
    with pytest.raises(ExportError) as err:
        write_export(broken, include, check_cmd=check)
    assert "nginx" in str(err.value)
    assert "scraperwatch-map.conf" in str(err.value)
    assert include.read_text() == good


@pytest.mark.server
@requires("nginx")
def test_check_then_reload_a_running_nginx(tmp_path: Path) -> None:
    """The nightly cycle on a real nginx: write, `nginx -t`, `nginx -s reload`, new list live."""
    include = tmp_path / "scraperwatch-map.conf"
    include.write_text(render_export(ExportFormat.NGINX_MAP, frame(offender("127.0.0.5")), LOCAL))
    with run_nginx(
        tmp_path / "nginx", http_snippet=f"include {include};", server_snippet=nginx_check_snippet()
    ) as srv:
        assert _status(srv.port, "127.0.0.5") == 403
        assert _status(srv.port, "127.0.0.6") == 200
        argv = " ".join(nginx_argv(srv.workdir, srv.config))
        new = render_export(ExportFormat.NGINX_MAP, frame(offender("127.0.0.6")), LOCAL)
        result = write_export(new, include, check_cmd=f"{argv} -t", reload_cmd=f"{argv} -s reload")
        assert result.reloaded
        assert result.diff.lines() == ["+ 127.0.0.6", "- 127.0.0.5"]
        # During a reload the old worker still accepts connections for a moment: wait until
        # the new list has answered ten times in a row.
        deadline = time.monotonic() + 15
        steady = 0
        while steady < 10 and time.monotonic() < deadline:
            new_list = (_status(srv.port, "127.0.0.6"), _status(srv.port, "127.0.0.5"))
            steady = steady + 1 if new_list == (403, 200) else 0
            time.sleep(0.02)
        assert steady == 10, srv.diagnostics()


def _status(port: int, source: str) -> int | None:
    resp = http_get(port, "/", source=source)
    return resp.status if resp else None


def test_robots_tokens_are_not_addresses() -> None:
    entries = export_entries("User-agent: Foo 1.2.3.4\nDisallow: /\n")
    assert entries.tokens == {"Foo 1.2.3.4"}
    assert entries.addresses == frozenset()


def test_symlinked_target_keeps_its_link(tmp_path: Path) -> None:
    real = tmp_path / "real.conf"
    real.write_text("deny 192.0.2.1;\n")
    link = tmp_path / "link.conf"
    link.symlink_to(real)
    write_export("deny 192.0.2.2;\n", link)
    assert link.is_symlink()
    assert real.read_text() == "deny 192.0.2.2;\n"
