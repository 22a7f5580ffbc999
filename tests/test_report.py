"""`scraperwatch report`: a self-contained HTML page, escaped, with its charts, checked in Chromium."""

from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess
import zlib
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_investigate import (
    CLAUDE_IP,
    GPTBOT_IP,
    HOSTILE_IP,
    HOSTILE_PATHS,
    HOSTILE_UA,
    IMG,
    ROBOTS_TXT,
    SCRIPT,
    T0,
    build_lines,
    cli,
    log_line,
    ok,
    write_log,
)

from scraperwatch.errors import ExitCode
from scraperwatch.report.charts import esc
from scraperwatch.report.html import CSP
from scraperwatch.report.report import STATE_FILE

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CCBOT_IP = "18.97.14.83"
CCBOT_UA = "CCBot/2.0 (https://commoncrawl.org/faq/)"
# Tags the report may use: no script, image, frame, link, form, object or style sheet link.
ALLOWED_TAGS = {
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "main",
    "header",
    "footer",
    "section",
    "h1",
    "h2",
    "p",
    "b",
    "i",
    "span",
    "div",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "details",
    "summary",
    "ul",
    "li",
    "code",
    "svg",
    "rect",
    "line",
    "text",
}


class Tags(HTMLParser):
    """Every start tag with its attributes, and all the text, as a browser would parse them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(html: str) -> Tags:
    tags = Tags()
    tags.feed(html)
    tags.close()
    return tags


@pytest.fixture(scope="module")
def robots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("robots") / "robots.txt"
    path.write_text(ROBOTS_TXT, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory, robots: Path) -> tuple[Path, Path]:
    """A report over the test log, keeping its offender list in a state folder."""
    base = tmp_path_factory.mktemp("report")
    log = write_log(base / "logs")
    out, state = base / "report.html", base / "state"
    result = ok("report", str(log), "-o", str(out), "--state", str(state), "--robots", str(robots))
    assert f"wrote {out}: 93 requests, 3 offenders" in result.stderr
    assert result.stdout == ""
    return out, state


@pytest.fixture(scope="module")
def html(first_run: tuple[Path, Path]) -> str:
    return first_run[0].read_text(encoding="utf-8")


def test_report_loads_nothing_and_runs_nothing(html: str) -> None:
    doc = parse(html)
    tags = {tag for tag, _ in doc.tags}
    assert tags <= ALLOWED_TAGS, tags - ALLOWED_TAGS
    for tag, attrs in doc.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert not {"src", "href", "action", "srcset", "xlink:href"} & set(attrs), (tag, attrs)
    (csp,) = [
        a for t, a in doc.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"
    ]
    assert csp["content"] == CSP == "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    assert "<script" not in html.lower()
    assert "@import" not in html
    assert "url(" not in html


def test_log_strings_are_escaped(html: str) -> None:
    for raw in (SCRIPT, IMG, HOSTILE_UA, *HOSTILE_PATHS):
        assert raw not in html
    assert esc(HOSTILE_UA) in html
    assert esc(HOSTILE_PATHS[1]) in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&quot;&#x27;&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    # ... and a browser reads them back as text, not markup.
    text = "".join(parse(html).text)
    assert HOSTILE_UA in text
    assert IMG in text  # the unclassified client's user agent, in the robots.txt table


def test_report_has_its_charts_and_sections(html: str) -> None:
    doc = parse(html)
    charts = [a for t, a in doc.tags if t == "svg"]
    assert len(charts) == 4
    assert all(a.get("class") == "chart" for a in charts)
    labels = [a["aria-label"] for a in charts]
    assert labels[0] == "Requests over time by category, per 1h (UTC)"
    assert labels[1] == "robots.txt compliance per agent"
    assert sum(1 for t, a in doc.tags if t == "rect" and a.get("class") == "bar") > 10
    ids = [a["id"] for t, a in doc.tags if t == "section" and "id" in a]
    assert ids == ["totals", "over-time", "new", "offenders", "robots", "bytes"]
    text = " ".join(" ".join(doc.text).split())
    for ip in (GPTBOT_IP, CLAUDE_IP, HOSTILE_IP):
        assert ip in text
    assert (
        "ignored it: disallowed paths after reading" in text
    )  # GPTBot, /media_proxy/ after robots.txt
    assert "never read it; fetched disallowed paths" in text  # ClaudeBot, /interact/1
    assert "ROBOTS-DISALLOWED" in text  # the evidence, in its <details>
    assert "No earlier list to compare with" in text


def test_state_keeps_the_offender_list(first_run: tuple[Path, Path]) -> None:
    doc = json.loads((first_run[1] / STATE_FILE).read_text(encoding="utf-8"))
    assert sorted(o["ip"] for o in doc["offenders"]) == sorted([GPTBOT_IP, CLAUDE_IP, HOSTILE_IP])
    assert doc["version"] == 1


def _with_ccbot(folder: Path) -> Path:
    lines = build_lines()
    for i in range(12):
        t = T0 + timedelta(hours=3, seconds=20 * i)
        lines.append(log_line(CCBOT_IP, t, f"/@bob/{i}", CCBOT_UA, size=2000))
    return write_log(folder, lines)


def test_new_offenders_since_the_state(first_run: tuple[Path, Path], tmp_path: Path) -> None:
    state = tmp_path / "state"
    shutil.copytree(first_run[1], state)
    log = _with_ccbot(tmp_path / "logs")
    out = tmp_path / "again.html"
    result = ok("report", str(log), "-o", str(out), "--state", str(state))
    assert "4 offenders, 1 new" in result.stderr
    html = out.read_text(encoding="utf-8")
    new = html[html.index('<section id="new">') : html.index('<section id="offenders">')]
    assert CCBOT_IP in new
    assert GPTBOT_IP not in new
    assert "<b>1</b><span>new since the last run</span>" in html
    doc = json.loads((state / STATE_FILE).read_text(encoding="utf-8"))
    assert CCBOT_IP in {o["ip"] for o in doc["offenders"]}


def test_new_offenders_against_a_scan_json(tmp_path: Path) -> None:
    """--previous takes the output of `scan --format json` (the documented contract)."""
    old = write_log(tmp_path / "old")
    previous = tmp_path / "previous.json"
    scan = ok("scan", str(old), "--format", "json", "-q")
    previous.write_text(scan.stdout, encoding="utf-8")
    log = _with_ccbot(tmp_path / "new")
    out = tmp_path / "r.html"
    result = ok("report", str(log), "-o", str(out), "--previous", str(previous), "-q")
    assert result.stderr == ""
    html = out.read_text(encoding="utf-8")
    new = html[html.index('<section id="new">') : html.index('<section id="offenders">')]
    assert CCBOT_IP in new
    assert HOSTILE_IP not in new


def test_report_over_the_store(tmp_path: Path) -> None:
    log = write_log(tmp_path / "logs")
    store = tmp_path / "store"
    ok("ingest", str(log), "--store", str(store), "-q")
    out = tmp_path / "store.html"
    ok(
        "report",
        "--store",
        str(store),
        "--since",
        "2026-11-18T11:00",
        "--until",
        "2026-11-18",
        "-o",
        str(out),
        "-q",
    )
    text = " ".join(parse(out.read_text(encoding="utf-8")).text)
    assert "2026-11-18 11:00 UTC to 2026-11-18 12:33 UTC" in text
    assert CLAUDE_IP in text
    assert GPTBOT_IP not in text  # it crawled before 11:00


@pytest.mark.parametrize(
    ("content", "fragment"),
    [("not json", "not JSON"), ('{"offenders": [{"addr": "1.2.3.4"}]}', "objects with `ip`")],
)
def test_bad_previous_list(tmp_path: Path, content: str, fragment: str) -> None:
    log = write_log(tmp_path / "logs")
    previous = tmp_path / "previous.json"
    previous.write_text(content, encoding="utf-8")
    result = cli("report", str(log), "-o", str(tmp_path / "r.html"), "--previous", str(previous))
    assert result.exit_code == ExitCode.INPUT, result.output
    assert fragment in result.stderr
    assert not (tmp_path / "r.html").exists()


def test_unwritable_output(tmp_path: Path) -> None:
    log = write_log(tmp_path / "logs")
    blocker = tmp_path / "file"
    blocker.write_text("", encoding="utf-8")
    result = cli("report", str(log), "-o", str(blocker / "report.html"), "-q")
    assert result.exit_code == ExitCode.OUTPUT, result.output
    assert "cannot write here" in result.stderr


def test_empty_window_still_renders(tmp_path: Path) -> None:
    log = write_log(tmp_path / "logs")
    out = tmp_path / "empty.html"
    ok("report", str(log), "--since", "2030-01-01", "-o", str(out), "-q")
    text = " ".join(parse(out.read_text(encoding="utf-8")).text)
    assert "No requests in the window." in text
    assert "No offenders in the window." in text


# --- in a real browser --------------------------------------------------------------------


def png_colours(path: Path) -> set[tuple[int, ...]]:
    """Distinct pixel colours of an 8-bit RGB or RGBA PNG (a tiny decoder: zlib + unfilter)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        chunk, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        if chunk == b"IHDR":
            header = body
        elif chunk == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, ctype = struct.unpack(">IIBB", header[:10])
    assert depth == 8, depth
    assert ctype in (2, 6), ctype
    bpp = 3 if ctype == 2 else 4
    raw, stride = zlib.decompress(idat), width * bpp
    prev, at = bytearray(stride), 0
    colours: set[tuple[int, ...]] = set()
    for _ in range(height):
        kind, line = raw[at], bytearray(raw[at + 1 : at + 1 + stride])
        at += 1 + stride
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        colours.update(tuple(line[i : i + 3]) for i in range(0, stride, bpp))
        prev = line
    return colours


def chromium(args: list[str], profile: Path) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--window-size=1280,2000",
    ]
    return subprocess.run(
        [CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.server
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed")
def test_report_in_headless_chromium(first_run: tuple[Path, Path], tmp_path: Path) -> None:
    page = first_run[0].resolve().as_uri()
    dom = chromium(["--dump-dom", page], tmp_path / "profile-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert dom.stdout.count('<svg class="chart"') == 4
    assert len(re.findall(r'<rect class="bar"', dom.stdout)) > 10
    # Nothing was injected and nothing ran: no script element, no image element.
    assert "<script" not in dom.stdout
    assert "<img" not in dom.stdout
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom.stdout

    shot = tmp_path / "report.png"
    run = chromium([f"--screenshot={shot}", page], tmp_path / "profile-shot")
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.stat().st_size > 20_000
    colours = png_colours(shot)
    assert len(colours) > 200  # text, charts and chips: far from a blank page
    assert (0xD6, 0x27, 0x28) in colours  # the ai-training colour of the charts and chips
    assert (0x74, 0xC4, 0x76) in colours  # robots.txt: allowed requests
