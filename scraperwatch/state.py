"""Nightly stage: where each log file was left (resume state), the state directory's lock, tails.

A file is recognised by a fingerprint of its first bytes (sha256 of up to the first 4 KiB of
the decompressed content), wherever it lives now: `access.log` that became `access.log.1`, then
`access.log.2.gz`, is the same file, and only the bytes past the recorded offset are read. The
device and inode break ties (copytruncate leaves two files with the same first bytes) and let a
compressed file already read to its end be skipped without inflating it. A file whose
fingerprint is unknown, or that is now shorter than the recorded offset, is read from the
start. A plain file is read up to its last newline only: a line nginx is still writing is left
for the next run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import struct
import tempfile
import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Final

from scraperwatch.errors import InputError, OutputError, StateLockedError
from scraperwatch.sources.files import (
    LogInput,
    compression_of,
    expand_inputs,
    open_decompressed,
    read_head,
)

STATE_FILE: Final = "resume.json"
LOCK_FILE: Final = "lock"
FORMAT_VERSION: Final = 1
FP_BYTES: Final = 4096  # fingerprint: sha256 of up to this many decompressed bytes
FORGET_AFTER_S: Final = 45 * 86400  # a file unseen this long is dropped from the state
_CHUNK: Final = 1024 * 1024
_TAILS_PREFIX: Final = ".tails-"
# Rotated siblings of a named file: access.log.1, access.log.2.gz, access.log-20261122(.gz)
_SIBLING: Final = r"(?:\.\d+|-\d{8}(?:\d{2})?)(?:\.(?:gz|bz2|zst|xz))?"


class StateError(InputError):
    """The resume state cannot be read (exit 3)."""


# --- the state --------------------------------------------------------------------------


@dataclass(frozen=True)
class FileState:
    """How far one log file has been read."""

    fp_len: int  # bytes the fingerprint covers (< FP_BYTES while the file was short)
    fp_sha256: str
    offset: int  # decompressed bytes consumed; always just after a newline (or at a final EOF)
    lines: int  # lines consumed, so line numbers stay true when reading the rest
    path: str  # where it was last seen
    dev: int
    ino: int
    size: int  # on-disk size when last seen
    mtime_ns: int
    compressed: bool
    complete: bool  # a compressed file read to its end: skipped while dev/ino/size/mtime hold
    seen: float  # wall-clock time of the last run that saw it


@dataclass(frozen=True)
class PendingCommit:
    """Store files staged by a run whose state was saved before they were moved into place."""

    store: str
    run: str


@dataclass
class ResumeState:
    files: list[FileState] = field(default_factory=list)
    pending: list[PendingCommit] = field(default_factory=list)
    store: str | None = None

    def to_json(self) -> str:
        doc = {
            "version": FORMAT_VERSION,
            "store": self.store,
            "pending": [asdict(p) for p in self.pending],
            "files": [asdict(f) for f in sorted(self.files, key=lambda f: (f.path, f.fp_sha256))],
        }
        return json.dumps(doc, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str, *, where: Path) -> ResumeState:
        try:
            doc = json.loads(text)
            if doc.get("version") != FORMAT_VERSION:
                raise ValueError(f"version {doc.get('version')!r}, expected {FORMAT_VERSION}")
            return cls(
                files=[FileState(**f) for f in doc["files"]],
                pending=[PendingCommit(**p) for p in doc.get("pending", [])],
                store=doc.get("store"),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise StateError(
                f"{where}: the resume state is damaged ({err}). Move it away to start afresh: "
                "the next run then reads every log file from the start, so requests already in "
                "the store would be stored twice; start with an empty store too"
            ) from None


def state_path(directory: Path) -> Path:
    return directory / STATE_FILE


def load_state(directory: Path) -> ResumeState:
    """The saved state, or an empty one when the directory holds none yet."""
    path = state_path(directory)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ResumeState()
    except OSError as err:
        raise StateError(
            f"{path}: cannot read the resume state ({err.strerror}); check its permissions"
        ) from None
    return ResumeState.from_json(text, where=path)


def save_state(directory: Path, state: ResumeState) -> None:
    """Write the state atomically: a temporary file beside it, fsync, rename."""
    path = state_path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{STATE_FILE}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(state.to_json())
                fh.flush()
                os.fsync(fh.fileno())
            Path(tmp).replace(path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        with contextlib.suppress(OSError):
            dfd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
    except OSError as err:
        raise OutputError(
            f"{path}: cannot write the resume state ({err.strerror or err}); check that the "
            "state directory is writable (systemd: ReadWritePaths=)"
        ) from None


# --- the lock -------------------------------------------------------------------------------


class StateLock:
    """An exclusive flock on DIR/lock for the whole run; the file holds the holder's pid.

    The kernel releases a flock when its process ends, so a lock file left behind by a crash
    never blocks the next run.
    """

    def __init__(self, directory: Path, *, timeout: float = 0.0) -> None:
        self.directory = directory
        self.path = directory / LOCK_FILE
        self.timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            raise OutputError(
                f"{self.path}: cannot create the lock file ({err.strerror}); check that the "
                "state directory is writable"
            ) from None
        deadline = time.monotonic() + max(self.timeout, 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as err:
                if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    os.close(fd)
                    raise OutputError(f"{self.path}: cannot lock it ({err.strerror})") from None
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise StateLockedError(self._held_message()) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def _held_message(self) -> str:
        try:
            text = self.path.read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            text = ""
        holder = f"process {text}" if text.isdigit() else "another process"
        waited = f" for {self.timeout:g} s" if self.timeout > 0 else ""
        return (
            f"{self.path} is locked by {holder}: another scraperwatch run is using this state "
            f"directory (waited{waited or ' not at all'}). Two runs at once would read the same "
            "lines twice, so this one stops. Let the other run finish, or give --lock-timeout "
            "SECONDS to wait for it"
        )

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> StateLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# --- tails ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tail:
    """The new complete lines of one log file, copied (decompressed) to a temporary file."""

    item: LogInput  # the copy, named like the log file; read it with `line_offset`
    spec: int  # index of the log spec (file, glob or folder) that named the file
    line_offset: int  # lines of the file before the copy's first line
    lines: int
    start: int  # decompressed byte offset of the copy's first byte in the file
    how: str  # what happened, for the run's notes


@dataclass
class TailPlan:
    tails: list[Tail]
    state: ResumeState  # the state to save once the tails are safely stored
    notes: list[str]
    workdir: Path

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class _Candidate:
    item: LogInput
    spec: int
    head: bytes
    dev: int
    ino: int
    size: int
    mtime_ns: int
    compressed: bool
    follower: bool  # a rotated sibling of a named file: read only to finish a known file


def _fingerprint(head: bytes, length: int) -> str:
    return hashlib.sha256(head[:length]).hexdigest()


def _gzip_isize(path: Path) -> int | None:
    """The uncompressed size mod 2**32 from a gzip trailer (exact for one member < 4 GiB)."""
    try:
        with path.open("rb") as fh:
            fh.seek(-4, os.SEEK_END)
            return int(struct.unpack("<I", fh.read(4))[0])
    except (OSError, struct.error):
        return None


def _siblings(spec: str, known: set[str]) -> list[Path]:
    path = Path(spec)
    if not path.is_file():
        return []
    pattern = re.compile(re.escape(path.name) + _SIBLING + "$")
    try:
        found = [p for p in path.parent.iterdir() if pattern.match(p.name) and p.is_file()]
    except OSError:
        return []
    return sorted(p for p in found if str(p) not in known)


def _candidate(item: LogInput, spec: int, *, follower: bool) -> _Candidate | None:
    if item.name == "<stdin>":
        head = read_head(item, FP_BYTES)
        return _Candidate(item, spec, head, 0, 0, item.size, 0, False, follower)
    try:
        st = Path(item.name).stat()
        with Path(item.name).open("rb") as fh:
            magic = fh.read(8)
    except OSError:
        return None
    head = read_head(item, FP_BYTES)
    return _Candidate(
        item,
        spec,
        head,
        st.st_dev,
        st.st_ino,
        st.st_size,
        st.st_mtime_ns,
        compression_of(magic) is not None,
        follower,
    )


def _match(
    cands: list[_Candidate], files: list[FileState]
) -> tuple[dict[int, FileState], dict[int, FileState]]:
    """Give each known file to one candidate: longest fingerprint, then same inode, then plain.

    Returns (matches, twins): a twin has the first bytes of a known file that another
    candidate continues (copytruncate's copy, a rotation caught while being compressed).
    """
    by_len: dict[int, dict[str, list[FileState]]] = {}
    for fs in files:
        by_len.setdefault(fs.fp_len, {}).setdefault(fs.fp_sha256, []).append(fs)
    pairs: list[tuple[tuple[int, int, int, int], int, FileState]] = []
    for i, c in enumerate(cands):
        if not c.head or c.item.name == "<stdin>":
            continue
        for length, table in by_len.items():
            if length > len(c.head) or length <= 0:
                continue
            for fs in table.get(_fingerprint(c.head, length), []):
                same_inode = int(fs.dev == c.dev and fs.ino == c.ino)
                pairs.append(((-length, -same_inode, int(c.compressed), i), i, fs))
    pairs.sort(key=lambda p: p[0])
    out: dict[int, FileState] = {}
    twins: dict[int, FileState] = {}
    taken: set[int] = set()
    for _, i, fs in pairs:
        if i in out:
            continue
        if id(fs) in taken:
            twins.setdefault(i, fs)
            continue
        out[i] = fs
        taken.add(id(fs))
    return out, {i: fs for i, fs in twins.items() if i not in out}


def _copy_tail(
    src: IO[bytes], dst: IO[bytes], *, skip: int, final: bool
) -> tuple[int, int, int, bool, str | None]:
    """Copy src after `skip` bytes into dst, ending at the last newline unless `final`.

    Returns (bytes skipped, bytes copied, lines copied, reached EOF cleanly, damage note).
    """
    skipped = 0
    while skipped < skip:
        chunk = src.read(min(_CHUNK, skip - skipped))
        if not chunk:
            return skipped, 0, 0, True, None
        skipped += len(chunk)
    copied = lines = 0
    end_at_newline = 0  # bytes copied up to and including the last newline
    damage: str | None = None
    clean = True
    # read1 hands over what was inflated before a truncated stream fails; read would not.
    read = getattr(src, "read1", src.read)
    while True:
        try:
            chunk = read(_CHUNK)
        except (EOFError, OSError, zlib.error) as err:
            damage = str(err) or type(err).__name__
            clean = False
            break
        if not chunk:
            break
        dst.write(chunk)
        nl = chunk.count(b"\n")
        if nl:
            lines += nl
            end_at_newline = copied + chunk.rindex(b"\n") + 1
        copied += len(chunk)
    if copied > end_at_newline:
        if final and clean:
            lines += 1  # a compressed file is finished: its last line is complete as it is
        else:
            dst.truncate(end_at_newline)
            copied = end_at_newline
    return skipped, copied, lines, clean, damage


def plan_tails(
    specs: Sequence[str | Path],
    state: ResumeState,
    *,
    workdir_parent: Path,
    now: float | None = None,
) -> TailPlan:
    """Find the new lines of every log file, copy them aside, and compute the next state.

    Rotated siblings of a named file (`access.log.1`, `access.log.2.gz`) are looked at too,
    but read only when they continue a file the state knows: that is how the lines written
    between the last run and the rotation are not lost.
    """
    now = time.time() if now is None else now
    inputs: list[tuple[int, LogInput]] = []
    follow: list[tuple[int, LogInput]] = []
    known: set[str] = set()
    workdir = Path(tempfile.mkdtemp(prefix=_TAILS_PREFIX, dir=workdir_parent))
    plan = TailPlan([], ResumeState(store=state.store, pending=list(state.pending)), [], workdir)
    try:
        for idx, spec in enumerate(specs):
            for item in expand_inputs([spec]):
                if item.name in known and item.name != "<stdin>":
                    item.cleanup()  # named twice (a file and a glob): read once
                    continue
                known.add(item.name)
                inputs.append((idx, item))
        for idx, spec in enumerate(specs):
            if str(spec) == "-" or any(ch in str(spec) for ch in "*?["):
                continue
            for sib in _siblings(str(spec), known):
                follow.extend((idx, item) for item in expand_inputs([sib]))
                known.add(str(sib))
        cands = [
            c for idx, item in inputs if (c := _candidate(item, idx, follower=False)) is not None
        ] + [c for idx, item in follow if (c := _candidate(item, idx, follower=True)) is not None]
        matched, twins = _match(cands, state.files)
        used = {id(fs) for fs in matched.values()}
        new_heads: dict[str, str] = {}
        for i, c in enumerate(cands):
            if i in twins:
                plan.notes.append(
                    f"{c.item.name}: a copy of a file read elsewhere this run "
                    f"(first seen as {twins[i].path}); skipped"
                )
                continue
            if i not in matched and c.head and not c.follower:
                fp = _fingerprint(c.head, len(c.head))
                if fp in new_heads:
                    plan.notes.append(
                        f"{c.item.name}: same first bytes as {new_heads[fp]}; read once, "
                        "skipped here"
                    )
                    continue
                new_heads[fp] = c.item.name
            _plan_one(plan, c, matched.get(i), now=now)
        # Files not seen this run are kept for a while (a rotation in flight, a glob that
        # missed them), then forgotten.
        for fs in state.files:
            if id(fs) not in used and now - fs.seen < FORGET_AFTER_S:
                plan.state.files.append(fs)
    except BaseException:
        plan.cleanup()
        raise
    finally:
        for _, item in inputs + follow:
            item.cleanup()
    return plan


def _plan_one(plan: TailPlan, c: _Candidate, known: FileState | None, *, now: float) -> None:
    name = c.item.name
    if c.item.name == "<stdin>":
        _take(plan, c, skip=0, lines_before=0, how="standard input", now=now)
        return
    if known is None:
        if c.follower:
            return  # an old rotation of a named file, from before the state began
        if not c.head:
            return  # empty: nothing to read, nothing to recognise it by
        _take(plan, c, skip=0, lines_before=0, how="new file", now=now)
        return
    moved = "" if known.path == name else f" (was {known.path})"
    if (
        c.compressed
        and known.complete
        and (known.dev, known.ino, known.size, known.mtime_ns) == (c.dev, c.ino, c.size, c.mtime_ns)
    ):
        plan.state.files.append(replace(known, path=name, seen=now))
        return
    if c.compressed and c.item.compression == "gzip" and not known.compressed:
        isize = _gzip_isize(Path(name))
        if isize is not None and isize == known.offset % 2**32:
            # A rotation compressed after every line of it was read: nothing new, not inflated.
            plan.state.files.append(_state_of(c, known.offset, known.lines, True, now))
            return
    if not c.compressed:
        if c.size == known.offset:
            plan.state.files.append(_state_of(c, known.offset, known.lines, False, now))
            return
        if c.size < known.offset:
            plan.notes.append(
                f"{name}: now shorter than the {known.offset} bytes read before{moved}: "
                "truncated, read from the start"
            )
            _take(plan, c, skip=0, lines_before=0, how="truncated", now=now)
            return
    _take(
        plan,
        c,
        skip=known.offset,
        lines_before=known.lines,
        how=f"resumed after line {known.lines}{moved}",
        now=now,
    )


def _state_of(c: _Candidate, offset: int, lines: int, complete: bool, now: float) -> FileState:
    length = min(FP_BYTES, len(c.head))
    return FileState(
        fp_len=length,
        fp_sha256=_fingerprint(c.head, length),
        offset=offset,
        lines=lines,
        path=c.item.name,
        dev=c.dev,
        ino=c.ino,
        size=c.size,
        mtime_ns=c.mtime_ns,
        compressed=c.compressed,
        complete=complete,
        seen=now,
    )


def _take(
    plan: TailPlan,
    c: _Candidate,
    *,
    skip: int,
    lines_before: int,
    how: str,
    now: float,
) -> None:
    """Copy the file's content after `skip` bytes (decompressed) into the run's work folder."""
    fd, tmp = tempfile.mkstemp(dir=plan.workdir, suffix=".log")
    with os.fdopen(fd, "w+b") as dst:
        try:
            src_cm = open_decompressed(c.item.path, c.item.compression)
        except OSError as err:
            raise InputError(f"{c.item.name}: cannot open it ({err.strerror})") from None
        with src_cm as src:
            seekable = c.item.compression is None  # plain text (or a spooled copy): seek
            if seekable and skip:
                src.seek(0, os.SEEK_END)
                if src.tell() < skip:
                    seekable = False  # shorter than the offset: _copy_tail reports it
                src.seek(skip if seekable else 0)
            skipped, copied, lines, clean, damage = _copy_tail(
                src,
                dst,
                skip=0 if seekable else skip,
                final=c.compressed or c.item.name == "<stdin>",
            )
            if seekable:
                skipped = skip
    if skipped < skip:
        # The decompressed content ends before the offset: not the file read before after all.
        plan.notes.append(f"{c.item.name}: shorter than the {skip} bytes read before; read again")
        Path(tmp).unlink()
        _take(plan, c, skip=0, lines_before=0, how="read again", now=now)
        return
    if damage is not None:
        plan.notes.append(
            f"{c.item.name}: the compressed data ends early ({damage}); read up to the last "
            "complete line, the rest is read on a later run if the file is completed"
        )
    complete = c.compressed and clean
    if c.item.name != "<stdin>":
        plan.state.files.append(_state_of(c, skip + copied, lines_before + lines, complete, now))
    if copied == 0:
        Path(tmp).unlink()
        return
    copy = LogInput(Path(tmp), c.item.name, None, copied, temporary=True)
    start = f" from line {lines_before + 1}" if lines_before else ""
    plan.tails.append(
        Tail(copy, c.spec, lines_before, lines, skip, f"{how}: {lines} new lines{start}")
    )


def clean_workdirs(directory: Path) -> None:
    """Remove the tail copies a killed run left in the state directory (call under the lock)."""
    with contextlib.suppress(OSError):
        for p in directory.glob(f"{_TAILS_PREFIX}*"):
            shutil.rmtree(p, ignore_errors=True)
