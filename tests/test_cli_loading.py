"""The console script imports only the module of the command it runs (cli/base.py COMMANDS)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import typer

from scraperwatch.cli import app
from scraperwatch.cli.base import (
    ALLOCATOR_CONF,
    ALLOCATOR_ENV,
    COMMANDS,
    POLARS_ALLOCATOR_CONF,
)

_REGISTERED = """
import sys
import typer
from scraperwatch.cli import base
base.load_commands(sys.argv[1:])
print(" ".join(sorted(typer.main.get_command(base.app).commands)))
print(" ".join(sorted(m for m in sys.modules if m.startswith("scraperwatch.cli."))))
"""


def test_every_command_is_mapped_to_its_module() -> None:
    assert set(typer.main.get_command(app).commands) == set(COMMANDS)


def _load(*argv: str) -> tuple[set[str], set[str]]:
    """The commands registered and the command modules loaded, in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", _REGISTERED, *argv], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    modules = {m.removeprefix("scraperwatch.cli.") for m in out[1].split()}
    return set(out[0].split()), modules & set(COMMANDS.values())


@pytest.mark.parametrize("word", sorted(COMMANDS))
def test_a_command_line_registers_its_command(word: str) -> None:
    commands, loaded = _load("--debug", word, "--some-option")
    assert word in commands
    assert COMMANDS[word] in loaded


def test_ingest_loads_no_other_command() -> None:
    """The command of the speed target (benchmarks/bench_ingest.py) imports nothing else."""
    assert _load("ingest", "access.log", "-o", "out.parquet")[1] == {"ingest"}


@pytest.mark.parametrize("argv", [["no-such-command"], ["--help"], []])
def test_help_and_unknown_words_load_every_command(argv: list[str]) -> None:
    assert _load(*argv)[0] == set(COMMANDS)


_ALLOCATOR = """
import os, sys
if sys.argv[1] == "polars-first":
    import polars
from scraperwatch.cli import base
base.main = lambda: print(os.environ.get(base.ALLOCATOR_ENV))
base.run()
"""


def _allocator_conf(*, given: str | None = None, polars_first: bool = False) -> str:
    """What `run` leaves in Polars' allocator variable by the time the command runs."""
    env = {k: v for k, v in os.environ.items() if k != ALLOCATOR_ENV}
    if given is not None:
        env[ALLOCATOR_ENV] = given
    argv = [sys.executable, "-c", _ALLOCATOR, "polars-first" if polars_first else "-"]
    return subprocess.run(argv, capture_output=True, text=True, check=True, env=env).stdout.strip()


def test_the_console_script_tunes_polars_allocator() -> None:
    assert _allocator_conf() == ALLOCATOR_CONF


def test_the_users_allocator_settings_win() -> None:
    # jemalloc takes the last value of each option.
    given = "dirty_decay_ms:0"
    assert _allocator_conf(given=given) == f"{ALLOCATOR_CONF},{given}"


def test_polars_own_allocator_settings_are_not_the_users() -> None:
    """A parent Python process that imported Polars leaves Polars' own value behind."""
    env = subprocess.run(
        [sys.executable, "-c", f"import os, polars; print(os.environ[{ALLOCATOR_ENV!r}])"],
        capture_output=True,
        text=True,
        check=True,
        env={k: v for k, v in os.environ.items() if k != ALLOCATOR_ENV},
    ).stdout.strip()
    assert env == POLARS_ALLOCATOR_CONF  # (if Polars changes it, change the constant)
    assert _allocator_conf(given=env) == ALLOCATOR_CONF
    assert _allocator_conf(given=env + ",thp:always") == ALLOCATOR_CONF + ",thp:always"


def test_no_allocator_setting_once_polars_is_loaded() -> None:
    # jemalloc read its settings when Polars loaded (Polars' own): a setting now would only
    # mislead.
    assert ALLOCATOR_CONF not in _allocator_conf(polars_first=True)
