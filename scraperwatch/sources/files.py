"""Log inputs: files, globs, directories, rotated and compressed logs, and standard input."""

from __future__ import annotations

import bz2
import glob
import gzip
import lzma
import os
import re
import shutil
import sys
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final

from scraperwatch.errors import LogSourceError

HEAD_BYTES: Final = 64 * 1024
# Compression by magic bytes, not by name: rotated files are not always named .gz.
_MAGIC: Final = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\x28\xb5\x2f\xfd": "zstd",
    b"\xfd7zXZ\x00": "xz",
}
# Files in a directory that are logs: access.log, access.log.1, access.log.2.gz, caddy.json ...
_LOG_NAME: Final = re.compile(r"\.(log|json|ndjson|txt)(\.\d+)?(\.(gz|bz2|zst|xz))?$|\.log[.-]\d{8}")
_ROTATION: Final = re.compile(r"^(?P<base>.*?)(?:\.(?P<n>\d+))?(?:\.(?:gz|bz2|zst|xz))?$")


@dataclass(frozen=True)
class LogInput:
    """One file to read. `path` is what Polars reads; `name` is what messages show."""

    path: Path
    name: str
    compression: str | None  # None, "gzip", "bzip2", "zstd", "xz"
    size: int
    temporary: bool = False  # a spooled copy (stdin, bzip2, xz) to delete afterwards

    def cleanup(self) -> None:
        if self.temporary:
            self.path.unlink(missing_ok=True)


def compression_of(head: bytes) -> str | None:
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind
    return None


def open_decompressed(path: Path, compression: str | None) -> IO[bytes]:
    if compression == "gzip":
        return gzip.open(path, "rb")
    if compression == "bzip2":
        return bz2.open(path, "rb")
    if compression == "xz":
        return lzma.open(path, "rb")
    if compression == "zstd":
        import zstandard

        return zstandard.open(path, "rb")
    return path.open("rb")


def read_head(item: LogInput, nbytes: int = HEAD_BYTES) -> bytes:
    """The first bytes of the decompressed content (for sniffing the format)."""
    try:
        with open_decompressed(item.path, item.compression) as fh:
            return fh.read(nbytes)
    except (OSError, EOFError, zlib.error, lzma.LZMAError) as err:
        raise LogSourceError(
            f"{item.name}: cannot read it as {item.compression or 'plain text'} ({err}); "
            "check that the file is complete and not damaged"
        ) from err


def _rotation_key(path: Path) -> tuple[str, int, str]:
    # Oldest first: access.log.3.gz, access.log.2.gz, access.log.1, access.log
    m = _ROTATION.match(path.name)
    base = m.group("base") if m else path.name
    n = int(m.group("n")) if m and m.group("n") else 0
    return (str(path.parent / base), -n, path.name)


def _spool(source: IO[bytes], name: str) -> LogInput:
    fd, tmp = tempfile.mkstemp(prefix="scraperwatch-", suffix=".log")
    with os.fdopen(fd, "wb") as out:
        shutil.copyfileobj(source, out, 1024 * 1024)
    return LogInput(Path(tmp), name, None, Path(tmp).stat().st_size, temporary=True)


def _input_for(path: Path, name: str) -> LogInput:
    try:
        with path.open("rb") as fh:
            magic = fh.read(8)
        size = path.stat().st_size
    except OSError as err:
        raise LogSourceError(f"{name}: cannot open it ({err.strerror}); check the path and permissions") from err
    kind = compression_of(magic)
    if kind in ("bzip2", "xz"):
        # Polars reads plain, gzip and zstd files itself; the others are inflated to a temp file.
        try:
            with open_decompressed(path, kind) as src:
                spooled = _spool(src, name)
        except (OSError, EOFError, lzma.LZMAError) as err:
            raise LogSourceError(f"{name}: the {kind} data is damaged or truncated ({err})") from err
        return LogInput(spooled.path, name, None, size, temporary=True)
    return LogInput(path, name, kind, size)


def expand_inputs(specs: Sequence[str | Path]) -> list[LogInput]:
    """Files, globs and directories to LogInputs, rotated files oldest first; `-` is stdin."""
    out: list[LogInput] = []
    for spec in specs:
        text = str(spec)
        if text == "-":
            out.append(_spool(sys.stdin.buffer, "<stdin>"))
            continue
        paths: list[Path]
        if any(ch in text for ch in "*?[") and not Path(text).exists():
            paths = [Path(p) for p in glob.glob(text)]
            if not paths:
                raise LogSourceError(f"{text}: no file matches this pattern; check the glob")
        else:
            p = Path(text)
            if not p.exists():
                raise LogSourceError(f"{text}: no such file or directory; check the path")
            if p.is_dir():
                paths = [c for c in p.iterdir() if c.is_file() and _LOG_NAME.search(c.name)]
                if not paths:
                    raise LogSourceError(
                        f"{text}: the directory holds no log files (looked for *.log, *.log.N, "
                        "*.log.N.gz, *.json); name the files instead"
                    )
            else:
                paths = [p]
        for path in sorted(paths, key=_rotation_key):
            if path.is_dir():
                continue
            out.append(_input_for(path, str(path)))
    return out


def iter_lines(item: LogInput) -> Iterator[bytes]:
    """Raw lines of a file, for the careful path (damaged files)."""
    with open_decompressed(item.path, item.compression) as fh:
        yield from fh
