"""The nightly job end to end: `scan --state`, the store, windows, the lock, exports, systemd."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from nightly_logs import EARLY_BOT_IP, GPTBOT_IP, SLOW_IP, day_lines, write_day
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from scraperwatch import schema as s
from scraperwatch.cli import app  # every command registered (`init` too)
from scraperwatch.config import parse_window
from scraperwatch.errors import ExitCode
from scraperwatch.nightly import WINDOW_EVIDENCE_ID, NightlySettings, run_nightly
from scraperwatch.pipeline import ScanSettings, run_scan
from scraperwatch.reader import ReadOptions
from scraperwatch.state import PendingCommit, StateLock, load_state, save_state
from scraperwatch.store import StoreWriter, scan_store

REPO = Path(__file__).resolve().parent.parent
CONTRIB = REPO / "contrib"


def run_cli(runner: CliRunner, *args: str | Path) -> Any:
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def offenders_json(text: str) -> list[dict[str, Any]]:
    return list(json.loads(text)["offenders"])


def without_window(frame: pl.DataFrame) -> pl.DataFrame:
    """The offenders with the window note taken out of their evidence."""
    return frame.with_columns(
        pl.col(s.EVIDENCE).list.eval(
            pl.element().filter(pl.element().struct.field("id") != WINDOW_EVIDENCE_ID)
        )
    )


def rotate(folder: Path) -> None:
    """logrotate with delaycompress: .1 -> .2.gz, access.log -> .1, a new access.log."""
    log, one, two = folder / "access.log", folder / "access.log.1", folder / "access.log.2.gz"
    if one.exists():
        two.write_bytes(gzip.compress(one.read_bytes()))
        one.unlink()
    log.rename(one)
    log.touch()


def test_three_nightly_runs_equal_one_scan_of_three_days(tmp_path: Path) -> None:
    """Runs that fall mid-day, with rotations between them, store every line once and judge
    (over a 7d window) exactly as one scan of the three days together."""
    logs, state = tmp_path / "logs", tmp_path / "state"
    logs.mkdir()
    live = logs / "access.log"
    text = ["".join(f"{x}\n" for x in day_lines(day)) for day in range(3)]
    halves = [(x[: len(x) // 2], x[len(x) // 2 :]) for x in text]
    settings = ScanSettings(read=ReadOptions("combined"))
    nightly = NightlySettings(logs=((str(live), None),), state=state, windows=(parse_window("7d"),))

    def append(chunk: str) -> None:
        with live.open("a", encoding="utf-8") as fh:
            fh.write(chunk)

    append(text[0] + halves[1][0])
    first = run_nightly(settings, nightly)
    append(halves[1][1])  # written after the run, before logrotate
    rotate(logs)
    append(halves[2][0])
    second = run_nightly(settings, nightly)
    append(halves[2][1])
    rotate(logs)  # .1 -> .2.gz, live -> .1, a new empty live file
    last = run_nightly(settings, nightly)
    total = first.appended + second.appended + last.appended

    days = []
    for day in range(3):
        path = tmp_path / f"day{day}.log"
        path.write_text(text[day], encoding="utf-8")
        days.append(str(path))
    once = run_scan(ScanSettings(logs=tuple(days), read=ReadOptions("combined")))
    assert total == sum(len(day_lines(d)) for d in range(3)) == once.requests
    assert last.appended == len(halves[2][1].splitlines())
    assert scan_store(state / "store").select(pl.len()).collect().item() == total
    assert once.offenders.height >= 2
    assert_frame_equal(without_window(last.scan.offenders), once.offenders)
    assert SLOW_IP in set(once.offenders[s.IP])


def test_three_nightly_runs_through_the_cli_with_windows(tmp_path: Path, runner: CliRunner) -> None:
    logs, state = tmp_path / "logs", tmp_path / "state"
    logs.mkdir()
    live = logs / "access.log"
    outputs = []
    for day in range(3):
        if day:
            rotate(logs)
        write_day(live, day, append=True)
        windows = ["--window", "24h"] + (["--window", "7d"] if day == 2 else [])
        result = run_cli(
            runner,
            "scan",
            "--state",
            state,
            live,
            *windows,
            "--format",
            "json",
            "--log-format",
            "combined",
        )
        assert result.exit_code == 0, result.output
        assert f"{len(day_lines(day))} new requests stored" in result.stderr
        outputs.append(offenders_json(result.stdout))
    last = {o["ip"]: o for o in outputs[-1]}
    # The slow crawler is a scraper only over the days: the 7d window caught it.
    slow = last[SLOW_IP]
    window = [e for e in slow["evidence"] if e["id"] == WINDOW_EVIDENCE_ID]
    assert len(window) == 1
    assert "last 7d" in window[0]["detail"]
    assert "an offender in: 7d" in window[0]["detail"]
    gpt = next(e for e in last[GPTBOT_IP]["evidence"] if e["id"] == WINDOW_EVIDENCE_ID)
    assert "an offender in: 24h, 7d" in gpt["detail"]
    assert SLOW_IP not in {o["ip"] for o in outputs[0]}
    # The scraper of day 0 is still inside the 7d window on day 2.
    assert EARLY_BOT_IP in last

    # One window of 24h sees only day 2: the slow crawler is no offender there.
    result = run_cli(runner, "scan", "--state", state, live, "--window", "24h", "--format", "json")
    assert result.exit_code == 0, result.output
    assert "0 new requests stored" in result.stderr
    ips = {o["ip"] for o in offenders_json(result.stdout)}
    assert GPTBOT_IP in ips
    assert SLOW_IP not in ips
    assert EARLY_BOT_IP not in ips


def test_second_run_is_refused_while_the_lock_is_held(tmp_path: Path, runner: CliRunner) -> None:
    log = tmp_path / "access.log"
    write_day(log, 0)
    state = tmp_path / "state"
    with StateLock(state):
        result = run_cli(runner, "scan", "--state", state, log)
    assert result.exit_code == ExitCode.LOCKED, result.output
    assert str(state / "lock") in result.stderr
    assert f"process {os.getpid()}" in result.stderr
    assert result.stdout == ""
    assert not (state / "resume.json").exists()


def test_concurrent_process_refused_with_exit_6(tmp_path: Path) -> None:
    """A real second process (the installed entry point) while the first holds the lock."""
    log = tmp_path / "access.log"
    write_day(log, 0)
    state = tmp_path / "state"
    with StateLock(state):
        proc = subprocess.run(
            [sys.executable, "-m", "scraperwatch", "scan", "--state", str(state), str(log)],
            capture_output=True,
            text=True,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
            timeout=120,
            check=False,
        )
    assert proc.returncode == ExitCode.LOCKED, proc.stderr
    assert f"{state / 'lock'} is locked by process {os.getpid()}" in proc.stderr


def test_read_failure_leaves_state_and_store_untouched(tmp_path: Path, runner: CliRunner) -> None:
    log = tmp_path / "access.log"
    write_day(log, 0)
    state = tmp_path / "state"
    assert run_cli(runner, "scan", "--state", state, log, "-q").exit_code == 0
    before = (state / "resume.json").read_text()
    stored = sorted(p.name for p in (state / "store").rglob("*.parquet"))
    with log.open("a", encoding="utf-8") as fh:
        fh.write(day_lines(1)[0] + "\n" + "this is no log line\n")
    result = run_cli(runner, "scan", "--state", state, log, "--strict")
    assert result.exit_code == ExitCode.INPUT, result.output
    assert (state / "resume.json").read_text() == before
    assert sorted(p.name for p in (state / "store").rglob("*.parquet")) == stored
    assert not list(state.glob(".tails-*"))
    # Without --strict the same lines are read once, the bad one rejected and counted.
    result = run_cli(runner, "scan", "--state", state, log)
    assert result.exit_code == 0, result.output
    assert "1 new requests stored" in result.stderr


def test_run_killed_between_state_and_store_is_finished(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    write_day(log, 0)
    state, store = tmp_path / "state", tmp_path / "store"
    nightly = NightlySettings(logs=((str(log), None),), state=state, store=store)
    run_nightly(ScanSettings(), nightly)
    # Stage a run's files and record them as pending, as a run killed right after saving its
    # state would leave them.
    writer = StoreWriter(store)
    pl.collect_all([writer.sink(scan_store(store).drop("day").head(5))])
    saved = load_state(state)
    saved.pending = [PendingCommit(str(store.resolve()), writer.run)]
    save_state(state, saved)
    out = run_nightly(ScanSettings(), nightly)
    assert out.appended == 0
    assert not writer.staging.exists()
    assert load_state(state).pending == []
    assert scan_store(store).select(pl.len()).collect().item() == len(day_lines(0)) + 5


def test_exports_with_expiry(tmp_path: Path, runner: CliRunner) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state"
    conf = tmp_path / "nginx" / "scraperwatch.conf"
    conf.parent.mkdir()
    write_day(log, 0)
    base: list[str | Path] = ["scan", "--state", state, log, "-q", "--export", f"nginx:{conf}"]
    result = run_cli(runner, *base, "--check-cmd", "true", "--reload-cmd", "true")
    assert result.exit_code == 0, result.output
    text = conf.read_text()
    assert EARLY_BOT_IP in text
    assert GPTBOT_IP in text
    # The next day the early GPTBot address is gone from the 24h window: its block stays.
    write_day(log, 1, append=True)
    result = run_cli(runner, *base, "--expiry-days", "7", "--format", "json")
    assert result.exit_code == 0, result.output
    assert EARLY_BOT_IP in conf.read_text()
    assert EARLY_BOT_IP not in {o["ip"] for o in offenders_json(result.stdout)}
    # Ten days later (no new requests, so nothing in the window) it has expired.
    result = run_cli(runner, *base, "--now", "2026-11-30T00:00:00+00:00")
    assert result.exit_code == 0, result.output
    assert EARLY_BOT_IP not in conf.read_text()


def test_failed_check_keeps_the_old_export_and_exits_4(tmp_path: Path, runner: CliRunner) -> None:
    log, state = tmp_path / "access.log", tmp_path / "state"
    conf = tmp_path / "blocklist.conf"
    conf.write_text("# the admin's previous list\n")
    write_day(log, 0)
    result = run_cli(
        runner,
        "scan",
        "--state",
        state,
        log,
        "-q",
        "--export",
        f"nginx:{conf}",
        "--check-cmd",
        "false",
    )
    assert result.exit_code == ExitCode.OUTPUT, result.output
    assert "check command 'false' failed" in result.stderr
    assert conf.read_text() == "# the admin's previous list\n"
    # The requests are in the store and the state says so: the next run reads nothing twice.
    again = run_cli(runner, "scan", "--state", state, log)
    assert again.exit_code == 0
    assert "0 new requests stored" in again.stderr


def test_fail_on_offenders_exit_1(tmp_path: Path, runner: CliRunner) -> None:
    log = tmp_path / "access.log"
    write_day(log, 0)
    result = run_cli(runner, "scan", "--state", tmp_path / "st", log, "-q", "--fail-on-offenders")
    assert result.exit_code == ExitCode.OFFENDERS, result.output


def test_config_file_drives_the_run(tmp_path: Path, runner: CliRunner) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    write_day(logs / "access.log", 0)
    (tmp_path / "scraperwatch.toml").write_text(
        'state = "state"\n'
        'windows = ["24h", "7d"]\n'
        "expiry_days = 3\n"
        "[[logs]]\n"
        'path = "logs/access.log"\n'
        'format = "combined"\n'
        "[[exports]]\n"
        'format = "plain"\n'
        'path = "out/blocklist.txt"\n'
        'check_cmd = "true"\n',
        encoding="utf-8",
    )
    (tmp_path / "out").mkdir()
    config = tmp_path / "scraperwatch.toml"
    result = run_cli(runner, "scan", "--config", config, "--format", "json")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "state" / "resume.json").exists()
    assert GPTBOT_IP in (tmp_path / "out" / "blocklist.txt").read_text()
    assert "last 24h:" in result.stderr
    assert "last 7d:" in result.stderr
    # The command line wins: one window only, and no new lines the second time.
    result = run_cli(runner, "scan", "--config", config, "--window", "1h")
    assert result.exit_code == 0, result.output
    assert "last 1h:" in result.stderr
    assert "last 7d:" not in result.stderr
    assert "0 new requests stored" in result.stderr


def test_scan_without_logs_or_config_is_a_usage_error(runner: CliRunner) -> None:
    result = run_cli(runner, "scan")
    assert result.exit_code == ExitCode.USAGE


def test_bad_window_and_now_are_usage_errors(tmp_path: Path, runner: CliRunner) -> None:
    log = tmp_path / "access.log"
    write_day(log, 0)
    for args in (["--window", "3 days"], ["--now", "yesterday"]):
        result = run_cli(runner, "scan", "--state", tmp_path / "st", log, *args)
        assert result.exit_code == ExitCode.USAGE, result.output


# --- init --------------------------------------------------------------------------------


def test_init_writes_a_config_that_loads(tmp_path: Path, runner: CliRunner) -> None:
    from scraperwatch.config import load_config

    path = tmp_path / "scraperwatch.toml"
    result = run_cli(runner, "init", path)
    assert result.exit_code == 0, result.output
    cfg = load_config(path)
    assert cfg.state == Path("/var/lib/scraperwatch")
    assert [w.text for w in cfg.windows] == ["24h", "7d"]
    assert cfg.exports[0].check_cmd == "nginx -t"
    again = run_cli(runner, "init", path)
    assert again.exit_code == ExitCode.OUTPUT
    assert "--force" in again.stderr
    path.write_text("# mine\n")
    assert run_cli(runner, "init", path, "--force").exit_code == 0
    assert path.read_text().startswith("# scraperwatch.toml")
    printed = run_cli(runner, "init", "-")
    assert printed.stdout == path.read_text()


def test_init_thresholds_uncommented_are_the_defaults(tmp_path: Path) -> None:
    from scraperwatch.config import load_config, template
    from scraperwatch.detect.heuristics import Thresholds

    head, _, thresholds = template().partition("[thresholds]\n")
    uncommented = "\n".join(x.removeprefix("# ") for x in thresholds.splitlines())
    path = tmp_path / "c.toml"
    path.write_text(f"{head}[thresholds]\n{uncommented}\n", encoding="utf-8")
    assert load_config(path).thresholds == Thresholds()


# --- systemd and cron --------------------------------------------------------------------


def render_unit(target: Path, executable: Path) -> Path:
    """Copy the shipped units, ExecStart pointing at an executable that exists here."""
    target.mkdir(parents=True, exist_ok=True)
    for name in ("scraperwatch.service", "scraperwatch.timer"):
        text = (CONTRIB / "systemd" / name).read_text(encoding="utf-8")
        (target / name).write_text(
            text.replace("/usr/local/bin/scraperwatch", str(executable)), encoding="utf-8"
        )
    return target / "scraperwatch.service"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_systemd_units_verify(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "scraperwatch"
    if not exe.exists():
        exe = Path(sys.executable)
    service = render_unit(tmp_path / "units", exe)
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(service), str(service.with_suffix(".timer"))],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "notice"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr.strip() == "", proc.stderr


def test_unit_files_say_what_the_docs_say() -> None:
    service = (CONTRIB / "systemd" / "scraperwatch.service").read_text()
    timer = (CONTRIB / "systemd" / "scraperwatch.timer").read_text()
    for needle in (
        "Type=oneshot",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "ReadWritePaths=/var/lib/scraperwatch -/etc/nginx/scraperwatch",
        "ExecStart=/usr/local/bin/scraperwatch scan --config /etc/scraperwatch.toml",
    ):
        assert needle in service
    for needle in ("Persistent=true", "RandomizedDelaySec=", "OnCalendar="):
        assert needle in timer
    cron = (CONTRIB / "cron" / "scraperwatch").read_text()
    assert "scraperwatch scan --config /etc/scraperwatch.toml" in cron
    docs = (REPO / "docs" / "nightly.md").read_text()
    assert "systemd-analyze verify" in docs or "systemctl enable --now scraperwatch.timer" in docs


def test_exit_codes_documented() -> None:
    docs = (REPO / "docs" / "nightly.md").read_text()
    for code in ExitCode:
        if code is not ExitCode.INTERRUPTED:
            assert f"| {int(code)} |" in docs, code
