"""End to end: precision and recall of `scraperwatch scan` on the labelled corpus (issue 3, §7).

corpus/generate.py drives a real nginx (`combined` and a custom log_format) and a real Caddy
(JSON log) with real clients from labelled 127.x addresses: people, federation, previews,
verified search engines, monitoring and feed readers, which the terms allow, and AI
crawlers, wget, curl, requests, Scrapy, disguised scrapers, an API harvester, a distributed
crawl, a fake Googlebot, a robots.txt violator and a canary hit, which they forbid. Each of
the three logs is scanned as an admin would, and every label is checked against the verdicts:
an allowed address inside a `block` offender is a false positive, a forbidden address
covered by no `block` or `watch` offender a false negative. Both must be zero.
"""

from __future__ import annotations

import csv
import ipaddress
import json
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from servers import requires

REPO = Path(__file__).resolve().parent.parent
GENERATE = REPO / "corpus" / "generate.py"
LOGS = ("nginx-combined.log", "nginx-custom.log", "caddy.json")
CAUGHT = ("block", "watch")

pytestmark = [
    pytest.mark.server,
    requires("nginx"),
    requires("caddy"),
    requires("wget"),
    requires("curl"),
    pytest.mark.timeout(420),
]


@dataclass(frozen=True)
class Label:
    address: str
    cls: str
    allowed: bool
    client: str


@dataclass(frozen=True)
class Corpus:
    path: Path
    labels: list[Label]
    manifest: dict[str, Any]
    generator_output: str


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    """The corpus, generated once for this module (about 45 s: the clients play in real time)."""
    out = tmp_path_factory.mktemp("corpus")
    proc = subprocess.Popen(
        [sys.executable, str(GENERATE), "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=300)
    except subprocess.TimeoutExpired:
        proc.terminate()  # the generator stops its servers on SIGTERM
        stdout, stderr = proc.communicate(timeout=60)
        pytest.fail(f"corpus generation took over 300 s:\n{stdout}\n{stderr}")
    assert proc.returncode == 0, f"corpus generation failed:\n{stdout}\n{stderr}"
    with (out / "labels.csv").open(encoding="utf-8", newline="") as fh:
        labels = [
            Label(row["address"], row["class"], row["allowed"] == "yes", row["client"])
            for row in csv.DictReader(fh)
        ]
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return Corpus(out, labels, manifest, stdout)


def test_corpus_is_complete(corpus: Corpus) -> None:
    """Every class of client is there, in all three logs, which hold the same requests."""
    classes = corpus.manifest["classes"]
    assert {lab.cls for lab in corpus.labels} == set(classes)
    assert any(lab.allowed for lab in corpus.labels)
    assert any(not lab.allowed for lab in corpus.labels)
    for name, info in classes.items():
        assert info["addresses"] > 0, name
        counts = {info[log] for log in LOGS}
        assert len(counts) == 1, f"{name}: {info}"
        assert counts.pop() > 0, f"{name}: {info}"
    lines = {log: len((corpus.path / log).read_text(encoding="utf-8").splitlines()) for log in LOGS}
    assert len(set(lines.values())) == 1, lines
    for req in ("robots.txt", "ranges/googlebot.txt", "ranges/bingbot.txt"):
        assert (corpus.path / req).is_file(), req


# --- scoring ---------------------------------------------------------------------------------
def scan(corpus: Corpus, log: str, tmp_path: Path) -> list[dict[str, Any]]:
    out = tmp_path / f"{log}.offenders.json"
    argv = [
        sys.executable,
        "-m",
        "scraperwatch",
        "scan",
        str(corpus.path / log),
        "--log-format",
        corpus.manifest["logs"][log]["log_format"],
        "--format",
        "json",
        "-o",
        str(out),
        "--no-default-allowlist",
        "--ranges",
        str(corpus.path / corpus.manifest["ranges"]),
        "--robots",
        str(corpus.path / corpus.manifest["robots"]),
        "--canary",
        corpus.manifest["canary"],
        "--quiet",
    ]
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL
    )
    assert proc.returncode == 0, f"scan failed ({proc.returncode}):\n{proc.stderr}"
    offenders = json.loads(out.read_text(encoding="utf-8"))["offenders"]
    assert isinstance(offenders, list)
    return offenders


def verdict_of(address: str, offenders: list[dict[str, Any]]) -> tuple[str | None, list[str]]:
    """The strongest action of the offenders whose address or CIDR covers address, and the
    rules they cite."""
    ip = ipaddress.ip_address(address)
    actions: set[str] = set()
    rules: list[str] = []
    for off in offenders:
        if ip in ipaddress.ip_network(off["ip"], strict=False):
            actions.add(str(off["action"]))
            rules += [str(r) for r in off.get("rules", [])]
    for action in CAUGHT:
        if action in actions:
            return action, rules
    return None, rules


@dataclass
class ClassScore:
    cls: str
    allowed: bool
    addresses: int = 0
    block: int = 0
    watch: int = 0
    none: int = 0
    rules: Counter[str] = field(default_factory=Counter)

    @property
    def caught(self) -> int:
        return self.block + self.watch

    @property
    def errors(self) -> int:
        """False positives (allowed and blocked) or false negatives (forbidden, not caught)."""
        return self.block if self.allowed else self.none

    @property
    def score(self) -> str:
        if self.allowed:
            return f"FP rate {self.block / self.addresses:.2f}"
        return f"recall {self.caught / self.addresses:.2f}"


def score(
    labels: list[Label], offenders: list[dict[str, Any]]
) -> tuple[dict[str, ClassScore], list[str]]:
    classes: dict[str, ClassScore] = {}
    wrong: list[str] = []
    for lab in labels:
        row = classes.setdefault(lab.cls, ClassScore(lab.cls, lab.allowed))
        action, rules = verdict_of(lab.address, offenders)
        row.addresses += 1
        row.rules.update(set(rules))
        if action == "block":
            row.block += 1
        elif action == "watch":
            row.watch += 1
        else:
            row.none += 1
        if lab.allowed and action == "block":
            wrong.append(
                f"false positive: {lab.address} ({lab.cls}: {lab.client}) blocked by {rules}"
            )
        if not lab.allowed and action is None:
            wrong.append(f"false negative: {lab.address} ({lab.cls}: {lab.client}) not caught")
    return classes, wrong


def table(log: str, classes: dict[str, ClassScore]) -> str:
    tp = sum(r.caught for r in classes.values() if not r.allowed)
    fn = sum(r.none for r in classes.values() if not r.allowed)
    fp = sum(r.block for r in classes.values() if r.allowed)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    lines = [
        f"{log}: precision {precision:.3f}, recall {recall:.3f} "
        f"(addresses: {tp} forbidden caught, {fn} missed, {fp} allowed blocked)",
        f"{'class':<20} {'allowed':<7} {'addrs':>5} {'block':>5} {'watch':>5} {'none':>5}  "
        f"{'score':<14}  rules (addresses they cover)",
    ]
    for r in classes.values():
        lines.append(
            f"{r.cls:<20} {'yes' if r.allowed else 'no':<7} {r.addresses:>5} {r.block:>5} "
            f"{r.watch:>5} {r.none:>5}  {r.score:<14}  "
            + ", ".join(f"{rule} ({n})" for rule, n in r.rules.most_common(4))
        )
    return "\n".join(lines)


@pytest.mark.parametrize("log", LOGS)
def test_scan_precision_and_recall(corpus: Corpus, log: str, tmp_path: Path) -> None:
    """No allowed client blocked, every forbidden client caught, on each log format."""
    offenders = scan(corpus, log, tmp_path)
    classes, wrong = score(corpus.labels, offenders)
    report = table(log, classes)
    print("\n" + report)
    assert not wrong, report + "\n" + "\n".join(wrong)
