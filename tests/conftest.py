"""Shared test fixtures: log fixtures, the CLI runner, golden files, and a small ingest helper.

Several helpers add to this file: keep each addition small and self-contained.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest
from typer.testing import CliRunner

from scraperwatch.reader import FileReport, ReadOptions, open_logs

TESTS = Path(__file__).parent
FIXTURES = TESTS / "fixtures"
LOG_FIXTURES = FIXTURES / "logs"
EXTERNAL_FIXTURES = FIXTURES / "external"
GOLDEN = TESTS / "golden"
GENERATOR = TESTS.parent / "benchmarks" / "generate_logs.py"

# Environment of every CLI test: no colours, a wide terminal so messages are not wrapped.
CLI_ENV = {"NO_COLOR": "1", "COLUMNS": "200", "TERM": "dumb"}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        default=False,
        help="Rewrite the golden files under tests/golden/ with the current output.",
    )


# CI sets this (.ci/run): there every program a test needs is installed, so a skip means a
# test that silently stopped running (nftables and ipset were not installed by
# .ci/install-deps, and the three tests that load the firewall exports skipped there).
NO_SKIP = os.environ.get("SCRAPERWATCH_NO_SKIP") == "1"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if NO_SKIP and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = (
            f"skipped where SCRAPERWATCH_NO_SKIP=1 (CI) demands that every test runs: {reason}"
        )
    return report


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Callable[[str, str], None]:
    """Compare text with tests/golden/NAME; `pytest --update-golden` rewrites the file."""
    update = bool(request.config.getoption("--update-golden"))

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if update or not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            if not update:
                pytest.fail(f"golden file {path} was missing and has been written; review it")
            return
        assert text == path.read_text(encoding="utf-8"), f"differs from {path}"

    return check


@pytest.fixture
def runner() -> CliRunner:
    """Typer's CliRunner: stdout and stderr are kept apart (result.stdout / result.stderr)."""
    return CliRunner(env=CLI_ENV)


@pytest.fixture
def log_fixture() -> Callable[[str], Path]:
    """The path of tests/fixtures/logs/NAME (fails clearly when the fixture is missing)."""

    def get(name: str) -> Path:
        path = LOG_FIXTURES / name
        assert path.exists(), f"missing log fixture {path}"
        return path

    return get


@dataclass
class Ingested:
    """What one read of some lines gave: the requests, the rejected lines and the file reports."""

    requests: pl.DataFrame
    rejected: pl.DataFrame
    reports: list[FileReport]

    @property
    def report(self) -> FileReport:
        assert len(self.reports) == 1
        return self.reports[0]


IngestLines = Callable[..., Ingested]


@pytest.fixture
def ingest_lines(tmp_path: Path) -> IngestLines:
    """Write lines to a file and read it through the real reader (open_logs + Logs.run)."""
    counter = iter(range(1_000_000))

    def run(
        lines: Sequence[str | bytes] | bytes,
        *,
        log_format: str | None = None,
        trusted: Sequence[str] = (),
        name: str = "access.log",
    ) -> Ingested:
        path = tmp_path / f"in{next(counter)}" / name
        path.parent.mkdir(parents=True)
        if isinstance(lines, bytes):
            data = lines
        else:
            data = b"".join(
                (x if isinstance(x, bytes) else x.encode("utf-8")) + b"\n" for x in lines
            )
        path.write_bytes(data)
        return ingest_paths([path], log_format=log_format, trusted=trusted)

    return run


def ingest_paths(
    paths: Sequence[str | Path], *, log_format: str | None = None, trusted: Sequence[str] = ()
) -> Ingested:
    """Read files through the real reader and collect everything."""
    logs = open_logs(list(paths), ReadOptions(log_format, tuple(trusted)))
    try:
        (requests,), rejected = logs.run(lambda r: [r])
    finally:
        logs.cleanup()
    return Ingested(requests, rejected, logs.reports)


def load_generator() -> ModuleType:
    """benchmarks/generate_logs.py as a module (it is a script, not part of the package);
    loaded once and shared by the tests that use it."""
    loaded = sys.modules.get("generate_logs")
    if loaded is not None:
        return loaded
    spec = importlib.util.spec_from_file_location("generate_logs", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate_logs"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module
