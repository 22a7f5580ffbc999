"""Resume state: rotation, compression, truncation and copytruncate, without a line twice or lost."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from scraperwatch import schema as s
from scraperwatch.errors import StateLockedError
from scraperwatch.reader import ReadOptions, open_inputs
from scraperwatch.state import (
    ResumeState,
    StateError,
    StateLock,
    TailPlan,
    load_state,
    plan_tails,
    save_state,
)


def log_line(i: int) -> str:
    """Line i of a test log: the request path carries its number."""
    return (
        f"198.51.100.{i % 250} - - [17/Nov/2026:{i // 3600 % 24:02d}:{i // 60 % 60:02d}:"
        f'{i % 60:02d} +0000] "GET /p{i} HTTP/1.1" 200 {i} "-" "Mozilla/5.0 test"'
    )


def lines(lo: int, hi: int) -> bytes:
    return "".join(f"{log_line(i)}\n" for i in range(lo, hi)).encode()


class Runner:
    """Runs plan_tails against one state folder, as successive nightly runs would."""

    def __init__(self, root: Path) -> None:
        self.state_dir = root / "state"
        self.state_dir.mkdir()
        self.state = ResumeState()

    def plan(self, *specs: str | Path) -> TailPlan:
        return plan_tails([str(x) for x in specs], self.state, workdir_parent=self.state_dir)

    def run(self, *specs: str | Path) -> list[tuple[str, int, int]]:
        """One run: (file name, line number, request number) of every line read, then the
        state is saved as a successful run does."""
        plan = self.plan(*specs)
        try:
            out = read_tails(plan)
        finally:
            plan.cleanup()
        save_state(self.state_dir, plan.state)
        self.state = load_state(self.state_dir)
        return out


def read_tails(plan: TailPlan) -> list[tuple[str, int, int]]:
    if not plan.tails:
        return []
    logs = open_inputs(
        [t.item for t in plan.tails],
        ReadOptions("combined"),
        line_offsets=[t.line_offset for t in plan.tails],
    )
    try:
        (frame,), _ = logs.run(lambda r: [r.select(s.SOURCE_FILE, s.LINE_NO, s.PATH)])
    finally:
        logs.cleanup()
    return [
        (Path(name).name, no, int(path[2:]))
        for name, no, path in frame.sort(s.SOURCE_FILE, s.LINE_NO).iter_rows()
    ]


def numbers(rows: list[tuple[str, int, int]]) -> list[int]:
    return sorted(n for _, _, n in rows)


@pytest.fixture
def runner(tmp_path: Path) -> Runner:
    return Runner(tmp_path)


def test_new_file_then_nothing_new(tmp_path: Path, runner: Runner) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(lines(0, 50))
    rows = runner.run(log)
    assert numbers(rows) == list(range(50))
    assert [no for _, no, _ in rows] == list(range(1, 51))
    assert runner.run(log) == []


def test_append_keeps_true_line_numbers(tmp_path: Path, runner: Runner) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(lines(0, 10))
    runner.run(log)
    with log.open("ab") as fh:
        fh.write(lines(10, 25))
    rows = runner.run(log)
    assert rows == [("access.log", i + 1, i) for i in range(10, 25)]


def test_partial_last_line_waits_for_its_newline(tmp_path: Path, runner: Runner) -> None:
    log = tmp_path / "access.log"
    whole = lines(0, 5)
    cut = len(lines(0, 4)) + 20  # nginx is still writing line 4
    log.write_bytes(whole[:cut])
    assert numbers(runner.run(log)) == [0, 1, 2, 3]
    log.write_bytes(whole)
    assert runner.run(log) == [("access.log", 5, 4)]


def test_rotation_to_1_then_2_gz(tmp_path: Path, runner: Runner) -> None:
    log, one, two = (tmp_path / n for n in ("access.log", "access.log.1", "access.log.2.gz"))
    log.write_bytes(lines(0, 10))
    runner.run(f"{tmp_path}/access.log*")
    # nginx writes 5 more lines, then logrotate renames and nginx reopens a new file.
    with log.open("ab") as fh:
        fh.write(lines(10, 15))
    log.rename(one)
    log.write_bytes(lines(15, 30))
    rows = runner.run(f"{tmp_path}/access.log*")
    assert numbers(rows) == list(range(10, 30))
    assert ("access.log.1", 11, 10) in rows  # the old file's numbering goes on in .1
    assert ("access.log", 1, 15) in rows
    # Next rotation: .1 is compressed to .2.gz (delaycompress), access.log becomes .1.
    with log.open("ab") as fh:
        fh.write(lines(30, 33))
    two.write_bytes(gzip.compress(one.read_bytes()))
    one.unlink()
    log.rename(one)
    log.write_bytes(lines(33, 40))
    rows = runner.run(f"{tmp_path}/access.log*")
    assert numbers(rows) == list(range(30, 40))
    gz = next(f for f in runner.state.files if f.path.endswith(".2.gz"))
    assert gz.complete
    assert gz.compressed
    assert gz.lines == 15
    # A run with nothing new: the .gz is skipped without being inflated.
    assert runner.run(f"{tmp_path}/access.log*") == []


def test_lines_written_before_compression_are_read_from_the_gz(
    tmp_path: Path, runner: Runner
) -> None:
    log, gz = tmp_path / "access.log", tmp_path / "access.log.1.gz"
    log.write_bytes(lines(0, 10))
    runner.run(tmp_path)
    with log.open("ab") as fh:
        fh.write(lines(10, 12))
    gz.write_bytes(gzip.compress(log.read_bytes()))
    log.write_bytes(b"")  # a fresh, still empty log
    rows = runner.run(tmp_path)
    assert rows == [("access.log.1.gz", 11, 10), ("access.log.1.gz", 12, 11)]


def test_named_file_follows_its_rotation(tmp_path: Path, runner: Runner) -> None:
    log, one = tmp_path / "access.log", tmp_path / "access.log.1"
    old = tmp_path / "access.log.5.gz"  # history from before the first run: not read
    old.write_bytes(gzip.compress(lines(900, 910)))
    log.write_bytes(lines(0, 10))
    assert numbers(runner.run(log)) == list(range(10))
    with log.open("ab") as fh:
        fh.write(lines(10, 14))
    log.rename(one)
    log.write_bytes(lines(14, 20))
    # Only access.log is named: the end of access.log.1 is still read, once.
    assert numbers(runner.run(log)) == list(range(10, 20))
    assert runner.run(log) == []


def _bytes_read() -> int:
    with Path("/proc/self/io").open() as fh:
        return next(int(x.split()[1]) for x in fh if x.startswith("rchar:"))


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
@pytest.mark.parametrize("compressed", [False, True])
def test_resume_reads_only_the_new_bytes(tmp_path: Path, runner: Runner, compressed: bool) -> None:
    """A plain file is not read again up to the offset; a .gz read to its end is not opened."""
    log = tmp_path / "access.log"
    log.write_bytes(lines(0, 100_000))  # about 10 MB
    runner.run(log)
    if compressed:
        gz = tmp_path / "access.log.1.gz"
        gz.write_bytes(gzip.compress(log.read_bytes(), compresslevel=1))
        log.unlink()
        log.write_bytes(lines(100_000, 100_010))
        runner.run(f"{tmp_path}/access.log*")  # the .gz: nothing new (gzip trailer)
    else:
        with log.open("ab") as fh:
            fh.write(lines(100_000, 100_010))
    before = _bytes_read()
    plan = runner.plan(f"{tmp_path}/access.log*")
    read = _bytes_read() - before
    plan.cleanup()
    assert sum(t.lines for t in plan.tails) == (0 if compressed else 10)
    assert read < 200_000, f"{read} bytes read to find {len(plan.tails)} tails"


def test_truncated_file_is_read_from_the_start(tmp_path: Path, runner: Runner) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(lines(0, 20))
    runner.run(log)
    log.write_bytes(lines(100, 103))  # shorter, and other first bytes
    rows = runner.run(log)
    assert rows == [("access.log", 1, 100), ("access.log", 2, 101), ("access.log", 3, 102)]


def test_truncated_in_place_with_same_first_bytes(tmp_path: Path, runner: Runner) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(lines(0, 20))
    runner.run(log)
    with log.open("r+b") as fh:  # same first lines, but now shorter than the offset
        fh.truncate(len(lines(0, 5)))
    rows = runner.run(log)
    assert numbers(rows) == list(range(5))
    assert [no for _, no, _ in rows] == [1, 2, 3, 4, 5]


def test_copytruncate(tmp_path: Path, runner: Runner) -> None:
    log, one = tmp_path / "access.log", tmp_path / "access.log.1"
    log.write_bytes(lines(0, 10))
    runner.run(f"{tmp_path}/access.log*")
    with log.open("ab") as fh:
        fh.write(lines(10, 13))
    # logrotate copytruncate: copy (a new inode), then truncate the live file in place.
    one.write_bytes(log.read_bytes())
    inode = log.stat().st_ino
    with log.open("r+b") as fh:
        fh.truncate(0)
    with log.open("ab") as fh:
        fh.write(lines(13, 16))
    assert log.stat().st_ino == inode
    rows = runner.run(f"{tmp_path}/access.log*")
    assert numbers(rows) == list(range(10, 16))
    assert ("access.log.1", 11, 10) in rows
    assert ("access.log", 1, 13) in rows


def test_copy_caught_before_the_truncate_is_not_read_twice(tmp_path: Path, runner: Runner) -> None:
    log, one = tmp_path / "access.log", tmp_path / "access.log.1"
    log.write_bytes(lines(0, 10))
    runner.run(f"{tmp_path}/access.log*")
    with log.open("ab") as fh:
        fh.write(lines(10, 12))
    one.write_bytes(log.read_bytes())  # copied, not yet truncated: two files, same content
    plan = runner.plan(f"{tmp_path}/access.log*")
    try:
        rows = read_tails(plan)
    finally:
        plan.cleanup()
    assert numbers(rows) == [10, 11]
    assert any("a copy of a file read elsewhere" in n for n in plan.notes)


def test_two_new_copies_are_read_once(tmp_path: Path, runner: Runner) -> None:
    (tmp_path / "a.log").write_bytes(lines(0, 5))
    (tmp_path / "b.log").write_bytes(lines(0, 5))
    assert numbers(runner.run(tmp_path)) == list(range(5))


def test_short_file_that_grows_is_recognised(tmp_path: Path, runner: Runner) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(lines(0, 2))  # far less than the 4 KiB fingerprint
    runner.run(log)
    with log.open("ab") as fh:
        fh.write(lines(2, 200))
    assert numbers(runner.run(log)) == list(range(2, 200))
    assert runner.state.files[0].fp_len == 4096


def test_damaged_gz_tail_is_read_up_to_the_damage(tmp_path: Path, runner: Runner) -> None:
    gz = tmp_path / "access.log.1.gz"
    data = gzip.compress(lines(0, 400))
    gz.write_bytes(data[: len(data) * 2 // 3])  # still being written by logrotate
    plan = runner.plan(gz)
    try:
        rows = read_tails(plan)
    finally:
        plan.cleanup()
    save_state(runner.state_dir, plan.state)
    runner.state = load_state(runner.state_dir)
    got = numbers(rows)
    assert got == list(range(len(got)))
    assert 0 < len(got) < 400
    assert any("ends early" in n for n in plan.notes)
    gz.write_bytes(data)  # finished: the rest is read, nothing twice
    assert numbers(runner.run(gz)) == list(range(len(got), 400))


def test_state_round_trip_and_damage(tmp_path: Path) -> None:
    (tmp_path / "resume.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(StateError, match=r"resume\.json: the resume state is damaged"):
        load_state(tmp_path)
    assert load_state(tmp_path / "none").files == []


def test_lock_names_the_file_and_the_holder(tmp_path: Path) -> None:
    with StateLock(tmp_path):
        with pytest.raises(StateLockedError) as err:
            StateLock(tmp_path).acquire()
        assert str(tmp_path / "lock") in str(err.value)
        assert f"process {os.getpid()}" in str(err.value)
    with StateLock(tmp_path):  # released: the next run gets it
        pass


def test_lock_of_another_process_and_timeout(tmp_path: Path) -> None:
    code = (
        "import sys, time; from pathlib import Path; from scraperwatch.state import StateLock\n"
        "with StateLock(Path(sys.argv[1])):\n"
        "    print('locked', flush=True); time.sleep(1.5)\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "locked"
        with pytest.raises(StateLockedError, match=f"process {child.pid}"):
            StateLock(tmp_path, timeout=0.2).acquire()
        started = time.monotonic()
        with StateLock(tmp_path, timeout=30):  # waits for the other run to finish
            assert time.monotonic() - started < 30
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()


def test_plan_leaves_no_copies_behind(tmp_path: Path, runner: Runner) -> None:
    log = tmp_path / "access.log"
    log.write_bytes(lines(0, 3))
    plan = runner.plan(log)
    assert plan.workdir.is_dir()
    assert plan.tails
    plan.cleanup()
    assert not list(runner.state_dir.glob(".tails-*"))


def test_frame_of_tails_matches_whole_file(tmp_path: Path, runner: Runner) -> None:
    """Reading a file in three nightly pieces gives the rows of reading it whole."""
    log = tmp_path / "access.log"
    data = lines(0, 300)
    frames = []
    for cut in (len(lines(0, 100)) + 7, len(lines(0, 250)), len(data)):
        log.write_bytes(data[:cut])
        plan = runner.plan(log)
        logs = open_inputs(
            [t.item for t in plan.tails],
            ReadOptions("combined"),
            line_offsets=[t.line_offset for t in plan.tails],
        )
        (frame,), _ = logs.run(lambda r: [r])
        logs.cleanup()
        plan.cleanup()
        save_state(runner.state_dir, plan.state)
        runner.state = load_state(runner.state_dir)
        frames.append(frame)
    whole = open_inputs(
        [plan.tails[0].item.__class__(log, str(log), None, log.stat().st_size)],
        ReadOptions("combined"),
    )
    (expected,), _ = whole.run(lambda r: [r])
    got = pl.concat(frames)
    assert got.equals(expected)
