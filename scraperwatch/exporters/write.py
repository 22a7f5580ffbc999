"""Export stage: write an export safely (atomic, checked, restored on failure) and diff it."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from scraperwatch.errors import ExportError
from scraperwatch.exporters.addresses import network_text, parse_network, sort_key
from scraperwatch.exporters.tokens import tokens_in_regex_text

BACKUP_SUFFIX: Final = ".scraperwatch-prev"
COMMAND_TIMEOUT: Final = 120.0  # seconds; `nginx -t` and reloads take well under one
_OUTPUT_CHARS: Final = 4000
_ADDRESS_RE: Final = re.compile(r"(?<![\w:.])[0-9A-Fa-f:.]*[:.][0-9A-Fa-f:.]*(?:/\d{1,3})?")
_ROBOTS_UA_RE: Final = re.compile(r"^\s*user-agent\s*:\s*(\S.*?)\s*$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Entries:
    """What an export blocks: normalised addresses/CIDRs and user-agent tokens."""

    addresses: frozenset[str]
    tokens: frozenset[str]


@dataclass(frozen=True)
class ExportDiff:
    """What a new export adds and removes compared with the file on disk."""

    added_addresses: tuple[str, ...] = ()
    removed_addresses: tuple[str, ...] = ()
    added_tokens: tuple[str, ...] = ()
    removed_tokens: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(
            self.added_addresses
            or self.removed_addresses
            or self.added_tokens
            or self.removed_tokens
        )

    def lines(self) -> list[str]:
        """`+ 1.2.3.0/24`, `- GPTBot` ...: additions then removals, addresses then tokens."""
        return [
            *(f"+ {a}" for a in self.added_addresses),
            *(f"+ user-agent {t}" for t in self.added_tokens),
            *(f"- {a}" for a in self.removed_addresses),
            *(f"- user-agent {t}" for t in self.removed_tokens),
        ]


@dataclass(frozen=True)
class WriteResult:
    path: Path
    dry_run: bool
    written: bool  # the file on disk was replaced
    unchanged: bool  # the new text equals the file on disk (nothing written, mtime kept)
    diff: ExportDiff
    backup: Path | None  # the previous file, kept beside the new one
    check_output: str  # stdout + stderr of the check command
    reloaded: bool


def _addresses(values: list[str]) -> frozenset[str]:
    nets = {net for v in values if (net := parse_network(v.strip())) is not None}
    return frozenset(network_text(n) for n in sorted(nets, key=sort_key))


def export_entries(text: str) -> Entries:
    """The addresses and tokens an export carries, whatever its format.

    JSON and CSV are read as data (`ip` and `tokens` of every offender); the configuration
    formats are read without their `#` comments: addresses are the words that parse as one,
    tokens the `\\bToken\\b` units of user-agent regexes and robots.txt `User-agent` lines.
    """
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            doc = json.loads(text)
            offenders = doc["offenders"]
            return Entries(
                _addresses([str(o.get("ip", "")) for o in offenders]),
                frozenset(str(t) for o in offenders for t in (o.get("tokens") or [])),
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return Entries(frozenset(), frozenset())
    if stripped.startswith("ip,"):
        rows = list(csv.DictReader(io.StringIO(text)))
        return Entries(
            _addresses([r.get("ip") or "" for r in rows]),
            frozenset(
                t for r in rows for t in (r.get("tokens") or "").split(" | ") if t and t.strip()
            ),
        )
    body = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    robots = {m.group(1) for m in _ROBOTS_UA_RE.finditer(body)}
    body = _ROBOTS_UA_RE.sub("", body)  # "User-agent: Foo 1.2.3.4" names no address
    tokens = tokens_in_regex_text(body) | robots
    return Entries(_addresses(_ADDRESS_RE.findall(body)), frozenset(tokens))


def diff_exports(old: str | None, new: str) -> ExportDiff:
    """Entries added and removed between two export texts (old None: the file is new)."""
    before = export_entries(old) if old is not None else Entries(frozenset(), frozenset())
    after = export_entries(new)

    def ordered(items: frozenset[str]) -> tuple[str, ...]:
        nets = [(parse_network(i), i) for i in items]
        return tuple(
            i for _, i in sorted(nets, key=lambda p: (sort_key(p[0]) if p[0] else (9, 0, 0), p[1]))
        )

    return ExportDiff(
        added_addresses=ordered(after.addresses - before.addresses),
        removed_addresses=ordered(before.addresses - after.addresses),
        added_tokens=tuple(sorted(after.tokens - before.tokens, key=str.casefold)),
        removed_tokens=tuple(sorted(before.tokens - after.tokens, key=str.casefold)),
    )


def _run(cmd: str, *, what: str) -> tuple[int, str]:
    """Run an admin-given command without a shell; (exit status, output)."""
    try:
        argv = shlex.split(cmd)
    except ValueError as err:
        raise ExportError(f"{what} {cmd!r} cannot be parsed ({err}): fix its quoting") from None
    if not argv:
        raise ExportError(f"{what} is empty: give a command such as 'nginx -t'")
    try:
        proc = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=COMMAND_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        return 127, f"{argv[0]}: command not found"
    except PermissionError as err:
        return 126, f"{argv[0]}: {err.strerror}"
    except subprocess.TimeoutExpired:
        return 124, f"{cmd} did not finish within {COMMAND_TIMEOUT:.0f} s"
    output = (proc.stdout + proc.stderr).strip()
    if len(output) > _OUTPUT_CHARS:
        output = "..." + output[-_OUTPUT_CHARS:]
    return proc.returncode, output


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be opened
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _atomic_write(path: Path, data: bytes, *, like: os.stat_result | None) -> None:
    """Write data to a temporary file beside path, fsync it, then rename it over path."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file 0600; a server running as its own user (caddy, haproxy)
        # must still read it, so keep the old file's mode and owner, else 0644.
        tmp.chmod(stat.S_IMODE(like.st_mode) if like else 0o644)
        if like is not None:
            with contextlib.suppress(OSError):
                os.chown(tmp, like.st_uid, like.st_gid)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _keep_backup(path: Path, backup: Path) -> None:
    """Keep the current file as backup (a hard link when possible, else a copy)."""
    tmp = backup.with_name(backup.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(path, tmp)
    except OSError:
        shutil.copy2(path, tmp)
    tmp.replace(backup)


def write_export(
    text: str,
    path: Path | str,
    *,
    check_cmd: str | None = None,
    reload_cmd: str | None = None,
    dry_run: bool = False,
) -> WriteResult:
    """Replace path with text safely, then check and reload.

    The write is atomic (temporary file in the same directory, fsync, rename) and the
    previous file is kept as `<path>.scraperwatch-prev`. check_cmd (split like a shell
    would, run without one) runs after the write; if it fails the previous file is put back
    (or the new one removed when there was none) and ExportError carries the check's output.
    reload_cmd runs only after a passing check. Identical text leaves the file untouched
    (mtime kept) and runs neither command. dry_run only computes the diff.
    """
    path = Path(path)
    if path.is_symlink():  # replace the file the link points to, keep the link
        path = path.resolve()
    if path.is_dir():
        raise ExportError(f"{path} is a directory: give the path of the file to write")
    try:
        old_bytes = path.read_bytes() if path.exists() else None
    except OSError as err:
        raise ExportError(f"cannot read {path}: {err.strerror}") from None
    old_text = old_bytes.decode("utf-8", errors="replace") if old_bytes is not None else None
    diff = diff_exports(old_text, text)
    new_bytes = text.encode("utf-8")
    backup = path.with_name(path.name + BACKUP_SUFFIX)
    unchanged = old_bytes == new_bytes

    def result(**kw: object) -> WriteResult:
        fields: dict[str, object] = {
            "path": path,
            "dry_run": dry_run,
            "written": False,
            "unchanged": unchanged,
            "diff": diff,
            "backup": None,
            "check_output": "",
            "reloaded": False,
        }
        fields.update(kw)
        return WriteResult(**fields)  # type: ignore[arg-type]

    if dry_run or unchanged:
        return result()
    if not path.parent.is_dir():
        raise ExportError(f"cannot write {path}: the directory {path.parent} does not exist")
    try:
        like = path.stat() if old_bytes is not None else None
        if old_bytes is not None:
            _keep_backup(path, backup)
        _atomic_write(path, new_bytes, like=like)
    except OSError as err:
        raise ExportError(
            f"cannot write {path}: {err.strerror or err}; check the directory's permissions"
        ) from None
    kept = backup if old_bytes is not None else None

    check_output = ""
    if check_cmd:
        rc, check_output = _run(check_cmd, what="check command")
        if rc != 0:
            try:
                if old_bytes is not None:
                    _atomic_write(path, old_bytes, like=path.stat())
                else:
                    path.unlink(missing_ok=True)
            except OSError as err:
                raise ExportError(
                    f"check command {check_cmd!r} failed (exit {rc}) on the new {path}, and "
                    f"restoring the previous file failed too ({err.strerror}): the previous "
                    f"version is in {backup}. Check output:\n{check_output}"
                ) from None
            restored = (
                "the previous file was restored"
                if old_bytes is not None
                else ("the new file was removed")
            )
            raise ExportError(
                f"check command {check_cmd!r} failed (exit {rc}) after writing {path}; "
                f"{restored}. Check output:\n{check_output}"
            )
    reloaded = False
    if reload_cmd:
        rc, out = _run(reload_cmd, what="reload command")
        if rc != 0:
            raise ExportError(
                f"reload command {reload_cmd!r} failed (exit {rc}); {path} was written and "
                f"passed its check, so the server still runs the old list. Output:\n{out}"
            )
        reloaded = True
    return result(written=True, backup=kept, check_output=check_output, reloaded=reloaded)
