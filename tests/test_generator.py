"""Tests of the benchmark log generator (benchmarks/generate_logs.py) and of sample_logs/."""

from __future__ import annotations

import csv
import gzip
import ipaddress
import json
import re
import shlex
from pathlib import Path

import pytest
from conftest import load_generator

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_LOGS = ROOT / "sample_logs"


gen = load_generator()

COMBINED = re.compile(
    r"^(?P<ip>[0-9a-f.:]+) - - \[(?P<time>\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})\] "
    r'"(?P<request>[^"]*)" (?P<status>\d{3}) (?P<bytes>\d+) "(?P<referer>[^"]*)" "(?P<ua>[^"]*)"'
)
CUSTOM_TAIL = re.compile(r' host=[a-z.]+ rt=\d+\.\d{3} urt="(-|\d+\.\d{3})"$')


def _run(tmp_path: Path, *args: str) -> Path:
    out = tmp_path / "out.log"
    assert gen.main([*args, "-o", str(out)]) == 0
    return out


def _labels(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _text(path: Path) -> str:
    if path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            return fh.read()
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("fmt", ["combined", "custom", "caddy"])
def test_deterministic_for_a_seed(tmp_path: Path, fmt: str) -> None:
    a = _run(tmp_path / "a", "--format", fmt, "--lines", "1500", "--seed", "7")
    b = _run(tmp_path / "b", "--format", fmt, "--lines", "1500", "--seed", "7")
    c = _run(tmp_path / "c", "--format", fmt, "--lines", "1500", "--seed", "8")
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()


@pytest.mark.parametrize("lines", [1, 37, 999, 4321])
@pytest.mark.parametrize("fmt", ["combined", "custom", "caddy"])
def test_writes_the_line_count_asked_for(tmp_path: Path, fmt: str, lines: int) -> None:
    out = _run(tmp_path, "--format", fmt, "--lines", str(lines), "--seed", "3")
    text = out.read_text(encoding="utf-8")
    assert text.endswith("\n")
    assert len(text.splitlines()) == lines


def test_lines_have_the_format_asked_for(tmp_path: Path) -> None:
    combined = _run(tmp_path / "a", "--lines", "3000", "--tz-offset", "+0100")
    for line in combined.read_text(encoding="utf-8").splitlines():
        m = COMBINED.match(line)
        assert m, line
        assert m.end() == len(line), line
        assert m["time"].endswith(" +0100")
    custom = _run(tmp_path / "b", "--format", "custom", "--lines", "3000")
    for line in custom.read_text(encoding="utf-8").splitlines():
        m = COMBINED.match(line)
        assert m, line
        assert CUSTOM_TAIL.fullmatch(line[m.end() :]), line
    caddy = _run(tmp_path / "c", "--format", "caddy", "--lines", "3000")
    last = 0.0
    for line in caddy.read_text(encoding="utf-8").splitlines():
        rec = json.loads(line)
        assert rec["msg"] == "handled request"
        assert rec["ts"] >= last
        last = rec["ts"]
        req = rec["request"]
        assert req["client_ip"] == req["remote_ip"]
        assert int(req["remote_port"]) > 1024
        assert req["uri"].startswith("/")
        assert all(isinstance(v, list) for v in req["headers"].values())
        assert {"duration", "size", "status", "resp_headers", "bytes_read"} <= rec.keys()


def test_every_label_class_appears(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    out = _run(tmp_path, "--lines", "3000", "--labels", str(labels))
    rows = _labels(labels)
    expected = {s.label for s in gen.SCENARIOS} | {"browser"}
    assert {r["label"] for r in rows} == expected
    assert {r["expected"] for r in rows} == {"allow", "block"}
    # The labels cover every address of the log, and count its lines.
    counts: dict[str, int] = {}
    for line in out.read_text(encoding="utf-8").splitlines():
        ip = line.split(" ", 1)[0]
        counts[ip] = counts.get(ip, 0) + 1
    assert counts == {r["ip"]: int(r["requests"]) for r in rows}


@pytest.mark.parametrize("lines", [700, 3000])
def test_the_behaviours_the_labels_promise(tmp_path: Path, lines: int) -> None:
    labels = tmp_path / "labels.csv"
    out = _run(tmp_path, "--lines", str(lines), "--labels", str(labels))
    label_of = {r["ip"]: r["label"] for r in _labels(labels)}
    paths: dict[str, list[str]] = {}
    for line in out.read_text(encoding="utf-8").splitlines():
        m = COMBINED.match(line)
        assert m
        paths.setdefault(label_of[m["ip"]], []).append(m["request"].split(" ")[1:2][0] if " " in m["request"] else "")  # fmt: skip
    disallowed = ("/media_proxy/", "/interact/")
    assert gen.CANARY_PATH in paths["honeypot"]
    assert all(gen.CANARY_PATH not in p for label, p in paths.items() if label != "honeypot")
    assert paths["robots-violator"][0] == "/robots.txt"
    assert any(p.startswith(disallowed) for p in paths["robots-violator"])
    for label in ("googlebot", "bingbot", "gptbot", "ccbot", "wget-mirror"):
        assert not any(p.startswith(disallowed) for p in paths[label]), label
    assert sum("max_id=" in p for p in paths["api-harvester-timeline"]) >= len(paths["api-harvester-timeline"]) - 1  # fmt: skip


def test_addresses_are_public_and_the_crawl_prefix_is_clean(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    _run(tmp_path, "--lines", "20000", "--labels", str(labels))
    rows = _labels(labels)
    ips = [ipaddress.ip_address(r["ip"]) for r in rows]
    assert all(ip.is_global and not ip.is_private for ip in ips)
    assert any(ip.version == 6 for ip in ips)
    crawl = {r["offender"] for r in rows if r["label"] == "distributed-crawl"}
    assert crawl
    for cidr in crawl:
        net = ipaddress.ip_network(cidr)
        assert net.prefixlen == 24
        inside = {r["label"] for r in rows if ipaddress.ip_address(r["ip"]) in net}
        assert inside == {"distributed-crawl"}


def test_verified_crawlers_are_inside_their_ranges(tmp_path: Path) -> None:
    labels = tmp_path / "labels.csv"
    _run(tmp_path, "--lines", "5000", "--labels", str(labels))
    nets = {
        "googlebot": gen.GOOGLEBOT_NETS,
        "bingbot": gen.BINGBOT_NETS,
        "gptbot": gen.GPTBOT_NETS,
        "fake-googlebot": gen.GOOGLEBOT_NETS,
    }
    for r in _labels(labels):
        if r["label"] in nets:
            ip = ipaddress.ip_address(r["ip"])
            inside = any(ip in ipaddress.ip_network(n) for n in nets[r["label"]])
            assert inside == (r["label"] != "fake-googlebot"), r


def test_rotate_writes_one_file_per_day(tmp_path: Path) -> None:
    out = tmp_path / "access.log"
    assert gen.main(["--days", "3", "--lines", "3000", "--rotate", "-o", str(out)]) == 0
    files = [tmp_path / "access.log.2.gz", tmp_path / "access.log.1", out]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in files)
    assert sum(len(_text(p).splitlines()) for p in files) == 3000
    for day, path in zip((16, 17, 18), files, strict=True):
        days = {line.split("[", 1)[1][:2] for line in _text(path).splitlines()}
        assert str(day) in days
        assert days <= {str(day), str(day + 1)}  # a session may run past midnight


def _documented_commands() -> list[list[str]]:
    """The generator commands in sample_logs/README.md, as argument lists."""
    text = (SAMPLE_LOGS / "README.md").read_text(encoding="utf-8")
    cmds = []
    for line in text.splitlines():
        if line.startswith("python benchmarks/generate_logs.py "):
            cmds.append(shlex.split(line)[2:])
    return cmds


def test_sample_logs_are_what_the_documented_commands_make(tmp_path: Path) -> None:
    cmds = _documented_commands()
    assert len(cmds) == 3
    for argv in cmds:
        assert gen.main([a.replace("sample_logs/", f"{tmp_path}/") for a in argv]) == 0
    made = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    shipped = sorted(
        p.relative_to(SAMPLE_LOGS)
        for p in SAMPLE_LOGS.rglob("*")
        if p.is_file() and p.name != "README.md"
    )
    assert made == shipped
    for rel in made:
        if rel.suffix == ".gz":  # gzip bytes depend on the zlib build: compare the content
            assert _text(tmp_path / rel) == _text(SAMPLE_LOGS / rel), rel
        else:
            assert (tmp_path / rel).read_bytes() == (SAMPLE_LOGS / rel).read_bytes(), rel


def test_sample_logs_are_small_and_consistent() -> None:
    total = sum(p.stat().st_size for p in SAMPLE_LOGS.rglob("*") if p.is_file())
    assert total < 1_000_000
    by_ip: dict[str, str] = {}
    rows = []
    for path in sorted((SAMPLE_LOGS / "meta").glob("labels-*.csv")):
        file_rows = _labels(path)
        assert {r["label"] for r in file_rows} == {s.label for s in gen.SCENARIOS} | {"browser"}
        rows += file_rows
    for r in rows:  # one address, one label, across all the sample files
        assert by_ip.setdefault(r["ip"], r["label"]) == r["label"], r
    # No allowed client sits in the /24 of a distributed crawl, in any file.
    for cidr in {r["offender"] for r in rows if r["label"] == "distributed-crawl"}:
        net = ipaddress.ip_network(cidr)
        assert not [r for r in rows if r["expected"] == "allow" and ipaddress.ip_address(r["ip"]) in net]  # fmt: skip
    readme = (SAMPLE_LOGS / "README.md").read_text(encoding="utf-8")
    assert gen.CUSTOM_LOG_FORMAT_NGINX_CONF in readme
    assert gen.CANARY_PATH in readme
