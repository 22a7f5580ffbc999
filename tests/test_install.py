"""A built and installed package (not the checkout) finds its shipped rules, policies and ranges."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("install")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(work / "dist"),
            str(ROOT),
        ],
        check=True,
    )
    wheel = next((work / "dist").glob("scraperwatch-*.whl"))
    target = work / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)
    return target


def _run(site: Path, code: str, cwd: Path) -> str:
    env = {**os.environ, "PYTHONPATH": str(site), "PYTHONSAFEPATH": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=cwd, env=env
    )
    return out.stdout


def test_the_wheel_carries_every_package_and_the_rule_data(installed: Path) -> None:
    names = {p.relative_to(installed).as_posix() for p in installed.rglob("*") if p.is_file()}
    for pkg in ("cli", "sources", "detect", "exporters", "report"):
        assert f"scraperwatch/{pkg}/__init__.py" in names, pkg
    assert any(n.startswith("scraperwatch/_rules/") and n.endswith(".toml") for n in names)
    assert any(n.startswith("scraperwatch/_rules/policies/") for n in names)
    assert any(n.startswith("scraperwatch/_rules/ranges/") and n.endswith(".json") for n in names)


def test_the_installed_package_loads_its_own_rules(installed: Path, tmp_path: Path) -> None:
    code = (
        "import scraperwatch, scraperwatch.detect.rulefile as r, scraperwatch.detect.policy as p,"
        " scraperwatch.detect.ranges as g\n"
        "rs = r.load_ruleset(); pol = p.load_policy(); rg = g.load_ranges(include_updates=False)\n"
        "print(scraperwatch.__file__); print(len(rs.rules)); print(len(list(rg)))\n"
    )
    where, rules, operators = _run(installed, code, tmp_path).split()
    assert where.startswith(str(installed)), "imported the checkout, not the installed copy"
    assert int(rules) > 100
    assert int(operators) > 10
