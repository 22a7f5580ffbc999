"""`scraperwatch init`: write a commented scraperwatch.toml to start the nightly job from."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from scraperwatch import console
from scraperwatch.cli.base import app, guarded
from scraperwatch.config import template
from scraperwatch.errors import OutputError


@app.command("init")
@guarded
def init_cmd(
    path: Annotated[
        Path,
        typer.Argument(help="Where to write the configuration (- for standard output)."),
    ] = Path("scraperwatch.toml"),
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite the file if it exists.")
    ] = False,
) -> None:
    """Write a commented scraperwatch.toml (docs/config.md): every key, with safe defaults."""
    text = template()
    if str(path) == "-":
        sys.stdout.write(text)
        return
    if path.is_dir():
        raise OutputError(
            f"{path} is a directory; give the file to write, e.g. {path}/scraperwatch.toml"
        )
    if path.exists() and not force:
        raise OutputError(f"{path} exists; keep it, or give --force to overwrite it")
    if not path.parent.is_dir():
        raise OutputError(f"cannot write {path}: the directory {path.parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            Path(tmp).chmod(0o644)
            Path(tmp).replace(path)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
            raise
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from None
    console.info(
        f"wrote {path}: set the [[logs]] and [[exports]] paths, then run "
        f"`scraperwatch scan --config {path}` (docs/nightly.md)"
    )
