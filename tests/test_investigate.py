"""`investigate`, `top` and `query` over logs and the store: library frames and the CLI."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner, Result

from scraperwatch import investigate as inv
from scraperwatch import schema as s
from scraperwatch.cli import app
from scraperwatch.errors import ExitCode

ENV = {"NO_COLOR": "1", "COLUMNS": "200"}

# --- a small log with one client of each kind, hostile strings included -------------------
T0 = datetime(2026, 11, 18, 10, 0, tzinfo=UTC)
GPTBOT_IP = "20.171.207.120"
CLAUDE_IP = "216.73.216.40"
HOSTILE_IP = "94.130.10.20"
ODD_IP = "94.130.10.21"
BROWSER1_IP = "81.58.58.166"
BROWSER2_IP = "73.60.28.94"
FED_IP = "2a01:4f8:c0c:1::2"
V6_BROWSER_IP = "2a01:cbef:a11b:4038::5"
GPTBOT_UA = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.3; "
    "+https://openai.com/gptbot)"
)
CLAUDE_UA = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; "
    "+claudebot@anthropic.com)"
)
FIREFOX_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0"
MASTODON_UA = "http.rb/5.1.1 (Mastodon/4.2.8; +https://mastodon.example/)"
SCRIPT = "<script>alert(1)</script>"
IMG = "\"'><img src=x onerror=alert(1)>"
HOSTILE_UA = f"Mozilla/5.0 (compatible; Bytespider; {SCRIPT} {IMG})"
HOSTILE_PATHS = (f"/{SCRIPT}", "/\"'><img/src=x/onerror=alert(1)>")
ROBOTS_TXT = "User-agent: *\nDisallow: /media_proxy/\nDisallow: /interact/\n"


def log_line(
    ip: str,
    t: datetime,
    path: str,
    ua: str,
    *,
    status: int = 200,
    size: int = 1000,
    method: str = "GET",
) -> str:
    """One nginx `combined` line; quotes inside fields escaped as nginx does (\\x22)."""

    def q(value: str) -> str:
        return value.replace('"', "\\x22")

    return (
        f'{ip} - - [{t:%d/%b/%Y:%H:%M:%S +0000}] "{method} {q(path)} HTTP/1.1" '
        f'{status} {size} "-" "{q(ua)}"'
    )


def _browse(ip: str, start: datetime, rounds: int) -> list[tuple[datetime, str]]:
    out = []
    pages = (
        ("/@alice", 6000),
        ("/packs/app.js", 20000),
        ("/packs/app.css", 8000),
        ("/avatars/a.png", 3000),
    )
    for r in range(rounds):
        for k, (path, size) in enumerate(pages):
            t = start + timedelta(minutes=20 * r, seconds=k)
            out.append((t, log_line(ip, t, path, FIREFOX_UA, size=size)))
    return out


def build_lines() -> list[str]:
    """93 lines: 85 of 2026-11-18 10:00-12:35 UTC, and 8 browser lines on 2026-11-19."""
    rows: list[tuple[datetime, str]] = [
        (T0, log_line(GPTBOT_IP, T0, "/robots.txt", GPTBOT_UA, size=200))
    ]
    for i in range(30):
        t = T0 + timedelta(seconds=10 * (i + 1))
        rows.append((t, log_line(GPTBOT_IP, t, f"/@alice/{1000 + i}", GPTBOT_UA, size=5000)))
    for i in range(2):  # disallowed, after reading robots.txt
        t = T0 + timedelta(seconds=400 + i)
        rows.append((t, log_line(GPTBOT_IP, t, f"/media_proxy/{i}", GPTBOT_UA, size=3000)))
    for i in range(10):
        t = T0 + timedelta(hours=1, seconds=30 * i)
        rows.append((t, log_line(CLAUDE_IP, t, f"/tags/t{i}", CLAUDE_UA, size=4000)))
    t = T0 + timedelta(hours=1, minutes=10)
    rows.append((t, log_line(CLAUDE_IP, t, "/interact/1", CLAUDE_UA, status=302, size=100)))
    for i in range(8):
        t = T0 + timedelta(hours=2, seconds=5 * i)
        rows.append(
            (t, log_line(HOSTILE_IP, t, HOSTILE_PATHS[i % 2], HOSTILE_UA, status=404, size=150))
        )
    t = T0 + timedelta(hours=2, minutes=30)
    rows.append((t, log_line(ODD_IP, t, "/robots.txt", IMG, size=200)))
    for i in range(3):
        t = T0 + timedelta(hours=2, minutes=31 + i)
        rows.append((t, log_line(ODD_IP, t, "/about", IMG, size=1000)))
    rows += _browse(BROWSER1_IP, T0 + timedelta(minutes=5), 3)
    rows += _browse(BROWSER2_IP, T0 + timedelta(minutes=7), 2)
    rows += _browse(BROWSER2_IP, T0 + timedelta(days=1), 2)
    for i in range(5):
        t = T0 + timedelta(minutes=3 * i)
        rows.append(
            (t, log_line(FED_IP, t, "/inbox", MASTODON_UA, status=202, size=0, method="POST"))
        )
    rows += _browse(V6_BROWSER_IP, T0 + timedelta(hours=1), 1)
    rows.sort(key=lambda r: r[0])
    return [line for _, line in rows]


def write_log(folder: Path, lines: list[str] | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "access.log"
    path.write_text("\n".join(lines or build_lines()) + "\n", encoding="utf-8")
    return path


def cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=ENV)


def ok(*args: str) -> Result:
    result = cli(*args)
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture(scope="module")
def access_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_log(tmp_path_factory.mktemp("logs"))


@pytest.fixture(scope="module")
def robots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("robots") / "robots.txt"
    path.write_text(ROBOTS_TXT, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, access_log: Path) -> Path:
    folder = tmp_path_factory.mktemp("store") / "store"
    ok("ingest", str(access_log), "--store", str(folder), "-q")
    return folder


@pytest.fixture(scope="module")
def frame(access_log: Path) -> pl.DataFrame:
    with inv.open_requests(inv.RequestSource(logs=(str(access_log),))) as req:
        return req.frame.collect()


# --- the time window -----------------------------------------------------------------------


def test_parse_time_forms() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert inv.parse_time("24h", now=now) == now - timedelta(hours=24)
    assert inv.parse_time("7d", now=now) == now - timedelta(days=7)
    assert inv.parse_time("90m", now=now) == now - timedelta(minutes=90)
    assert inv.parse_time("2026-11-20") == datetime(2026, 11, 20, tzinfo=UTC)
    assert inv.parse_time("2026-11-20", end=True) == datetime(2026, 11, 21, tzinfo=UTC)
    assert inv.parse_time("2026-11-20T14:00") == datetime(2026, 11, 20, 14, tzinfo=UTC)
    assert inv.parse_time("2026-11-20T14:00+01:00") == datetime(2026, 11, 20, 13, tzinfo=UTC)
    assert inv.parse_time("2026-11-20T14:00:00Z") == datetime(2026, 11, 20, 14, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "24x", "2026-13-01", ""])
def test_parse_time_rejects_what_is_no_time(text: str) -> None:
    with pytest.raises(inv.QueryError, match="is not a time"):
        inv.parse_time(text)


def test_window_must_be_ordered() -> None:
    with pytest.raises(inv.QueryError, match="is not before --until"):
        inv.Window(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 19, tzinfo=UTC))


# --- targets and filters -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("20.171.207.120", inv.TargetKind.ADDRESS, "20.171.207.120"),
        ("2A01:04F8:0C0C:0001:0000:0000:0000:0002", inv.TargetKind.ADDRESS, "2a01:4f8:c0c:1::2"),
        ("[2a01:4f8:c0c:1::2]", inv.TargetKind.ADDRESS, "2a01:4f8:c0c:1::2"),
        ("94.130.10.77/24", inv.TargetKind.PREFIX, "94.130.10.0/24"),
        ("2a01:4f8:c0c::/48", inv.TargetKind.PREFIX, "2a01:4f8:c0c::/48"),
        ("GPTBot", inv.TargetKind.USER_AGENT, "GPTBot"),
        ("Mozilla/5.0", inv.TargetKind.USER_AGENT, "Mozilla/5.0"),
        ("1.2", inv.TargetKind.USER_AGENT, "1.2"),
    ],
)
def test_target_kind(text: str, kind: inv.TargetKind, value: str) -> None:
    assert inv.Target.parse(text) == inv.Target(kind, value)


def test_target_that_looks_like_a_broken_cidr() -> None:
    with pytest.raises(inv.QueryError, match="looks like a CIDR"):
        inv.Target.parse("10.0.0.0/33")


def test_ua_substring_is_literal_and_ignores_case() -> None:
    frame = pl.DataFrame({s.USER_AGENT: ["Foo.Bar/1", "FooXBar/1", None, "foo.bar/2"]})
    kept = frame.filter(inv.ua_contains("FOO.BAR"))[s.USER_AGENT].to_list()
    assert kept == ["Foo.Bar/1", "foo.bar/2"]


def test_status_filters() -> None:
    frame = pl.DataFrame({s.STATUS: [200, 301, 404, 429, 502]}, schema={s.STATUS: pl.Int16})
    assert frame.filter(inv.status_expr(["4xx"]))[s.STATUS].to_list() == [404, 429]
    assert frame.filter(inv.status_expr(["200", "500-599"]))[s.STATUS].to_list() == [200, 502]
    with pytest.raises(inv.QueryError, match="give a status"):
        inv.status_expr(["40"])


# --- top: library frames --------------------------------------------------------------------


def test_top_ips_frame(frame: pl.DataFrame) -> None:
    got = inv.top(frame.lazy(), inv.TopKind.IPS, limit=3).select(s.CLIENT_IP, s.REQUESTS, s.BYTES)
    expected = pl.DataFrame(
        {
            s.CLIENT_IP: [GPTBOT_IP, BROWSER2_IP, BROWSER1_IP],
            s.REQUESTS: [33, 16, 12],
            s.BYTES: [156_200, 148_000, 111_000],
        }
    )
    assert_frame_equal(got, expected)


def test_top_ties_are_broken_by_name(frame: pl.DataFrame) -> None:
    got = inv.top(frame.lazy(), inv.TopKind.IPS, limit=8)
    assert got[s.CLIENT_IP].to_list()[-2:] == [V6_BROWSER_IP, ODD_IP]  # 4 requests each


def test_top_prefixes_frame(frame: pl.DataFrame) -> None:
    got = inv.top(frame.lazy(), inv.TopKind.PREFIXES, limit=20)
    rows = {r[inv.PREFIX]: (r[inv.CLIENTS], r[s.REQUESTS]) for r in got.iter_rows(named=True)}
    assert rows["94.130.10.0/24"] == (2, 12)
    assert rows["2a01:4f8:c0c::/48"] == (1, 5)
    assert rows["2a01:cbef:a11b::/48"] == (1, 4)


def test_top_paths_with_filters(frame: pl.DataFrame) -> None:
    lazy = inv.apply_filters(frame.lazy(), inv.Filters(statuses=("4xx",)))
    got = inv.top(lazy, inv.TopKind.PATHS, limit=5).select(s.PATH, s.REQUESTS, inv.ERRORS)
    expected = pl.DataFrame({s.PATH: sorted(HOSTILE_PATHS), s.REQUESTS: [4, 4], inv.ERRORS: [4, 4]})
    assert_frame_equal(got, expected)
    by_path = inv.apply_filters(frame.lazy(), inv.Filters(path="/@alice/", user_agent="gptbot/"))
    assert inv.top(by_path, inv.TopKind.IPS)[s.REQUESTS].to_list() == [30]


def test_run_query_over_a_lazy_frame(frame: pl.DataFrame) -> None:
    got = inv.run_query(
        "SELECT status, count(*) AS n FROM requests GROUP BY status ORDER BY status",
        frame.lazy(),
    )
    expected = pl.DataFrame(
        {s.STATUS: [200, 202, 302, 404], "n": [79, 5, 1, 8]},
        schema={s.STATUS: pl.Int16, "n": pl.UInt32},
    )
    assert_frame_equal(got, expected, check_dtypes=False)


def test_verdicts_table_is_judged_only_when_named(frame: pl.DataFrame) -> None:
    def boom() -> pl.DataFrame:
        raise AssertionError("judged without need")

    got = inv.run_query("SELECT count(*) AS n FROM requests", frame.lazy(), verdicts=boom)
    assert got["n"].to_list() == [93]
    assert inv.mentions_verdicts("select * from Verdicts")
    assert not inv.mentions_verdicts("select verdicts_x from requests")


def test_flatten_makes_nested_columns_csv_safe() -> None:
    frame = pl.DataFrame(
        {"l": [["a", "b"]], "e": [[{"id": "X", "value": 1.0}]], "n": [1]},
    )
    flat = inv.flatten(frame)
    assert flat.row(0) == ("a; b", '{"id":"X","value":1.0}', 1)


# --- top: the command ---------------------------------------------------------------------


def test_top_ips_json_from_logs(access_log: Path) -> None:
    result = ok("top", "ips", str(access_log), "-n", "2", "--format", "json", "-q")
    rows = json.loads(result.stdout)
    assert [(r[s.CLIENT_IP], r[s.REQUESTS]) for r in rows] == [(GPTBOT_IP, 33), (BROWSER2_IP, 16)]
    assert rows[0][s.FIRST_SEEN] == "2026-11-18T10:00:00+00:00"
    assert result.stderr == ""


def test_top_from_store_matches_logs(access_log: Path, store: Path) -> None:
    from_logs = ok("top", "ips", str(access_log), "--format", "csv", "-q").stdout
    from_store = ok("top", "ips", "--store", str(store), "--format", "csv", "-q").stdout
    assert from_logs == from_store
    assert from_store.splitlines()[1].startswith(f"{GPTBOT_IP},33,156200,")


def test_top_table_goes_to_stdout(store: Path) -> None:
    result = ok("top", "uas", "--store", str(store), "-n", "3")
    assert "top uas" in result.stdout
    assert GPTBOT_UA[:40] in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("window", "requests"),
    [
        (["--since", "2026-11-19"], 8),
        (["--until", "2026-11-18"], 85),
        (["--since", "2026-11-18T11:00", "--until", "2026-11-18T12:00"], 15),
    ],
)
def test_top_window_on_the_store(store: Path, window: list[str], requests: int) -> None:
    result = ok("top", "ips", "--store", str(store), *window, "--format", "json", "-q")
    assert sum(r[s.REQUESTS] for r in json.loads(result.stdout)) == requests


def test_window_skips_the_other_days_files(store: Path, tmp_path: Path) -> None:
    """--until prunes whole day partitions: a broken file of another day is never opened."""
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    for part in (copy / "day=2026-11-19").glob("*.parquet"):
        part.write_bytes(b"not parquet at all")
    result = ok(
        "top", "ips", "--store", str(copy), "--until", "2026-11-18", "--format", "json", "-q"
    )
    assert sum(r[s.REQUESTS] for r in json.loads(result.stdout)) == 85


def test_top_filters_on_the_command_line(store: Path) -> None:
    result = ok(
        "top",
        "ips",
        "--store",
        str(store),
        "--ua",
        "BYTESPIDER",
        "--status",
        "404",
        "--path",
        "/",
        "--format",
        "csv",
        "-q",
    )
    assert [line.split(",")[:2] for line in result.stdout.splitlines()[1:]] == [[HOSTILE_IP, "8"]]


def test_top_agents(store: Path) -> None:
    result = ok("top", "agents", "--store", str(store), "--format", "json", "-q")
    rows = [
        (r[inv.AGENT], r[s.CATEGORY], r[s.REQUESTS], r[inv.CLIENTS], r[s.BYTES])
        for r in json.loads(result.stdout)
    ]
    assert rows[:3] == [
        ("GPTBot", "ai-training", 33, 1, 156_200),
        ("ClaudeBot", "ai-training", 11, 1, 40_100),
        ("Bytespider", "ai-training", 8, 1, 1_200),
    ]
    assert ("Mastodon", "federation", 5, 1, 0) in rows


def test_top_by_category(store: Path) -> None:
    result = ok(
        "top", "ips", "--store", str(store), "--category", "ai-training", "--format", "csv", "-q"
    )
    ips = [line.split(",")[0] for line in result.stdout.splitlines()[1:]]
    assert ips == [GPTBOT_IP, CLAUDE_IP, HOSTILE_IP]
    browsers = ok(
        "top", "ips", "--store", str(store), "--category", "browser", "--format", "json", "-q"
    )
    assert {r[s.CLIENT_IP] for r in json.loads(browsers.stdout)} == {
        BROWSER1_IP,
        BROWSER2_IP,
        V6_BROWSER_IP,
    }


def _asn_db(path: Path) -> Path:
    from mmdb_writer import MMDBWriter
    from netaddr import IPSet

    writer = MMDBWriter(ip_version=6, database_type="GeoLite2-ASN", ipv4_compatible=True)
    writer.insert_network(
        IPSet(["20.171.0.0/16"]),
        {"autonomous_system_number": 8075, "autonomous_system_organization": "MICROSOFT-CORP"},
    )
    writer.insert_network(
        IPSet(["94.130.0.0/16", "2a01:4f8::/32"]),
        {
            "autonomous_system_number": 24940,
            "autonomous_system_organization": "Hetzner Online GmbH",
        },
    )
    writer.to_db_file(str(path))
    return path


def test_top_asns(store: Path, tmp_path: Path) -> None:
    db = _asn_db(tmp_path / "asn.mmdb")
    result = ok("top", "asns", "--store", str(store), "--asn-db", str(db), "--format", "json", "-q")
    rows = {
        r[s.ASN]: (r[s.AS_ORG], r[inv.CLIENTS], r[s.REQUESTS]) for r in json.loads(result.stdout)
    }
    assert rows[8075] == ("MICROSOFT-CORP", 1, 33)
    assert rows[24940] == ("Hetzner Online GmbH", 3, 17)  # two in 94.130.10.0/24, one IPv6
    ips = ok(
        "top",
        "ips",
        "--store",
        str(store),
        "-n",
        "1",
        "--asn-db",
        str(db),
        "--format",
        "json",
        "-q",
    )
    assert json.loads(ips.stdout)[0][s.AS_ORG] == "MICROSOFT-CORP"


# --- investigate ---------------------------------------------------------------------------


def test_investigate_address(store: Path, robots: Path) -> None:
    result = ok(
        "investigate",
        GPTBOT_IP,
        "--store",
        str(store),
        "--robots",
        str(robots),
        "--format",
        "json",
        "-q",
    )
    doc = json.loads(result.stdout)
    assert doc["overview"][s.REQUESTS] == 33
    assert doc["overview"]["kind"] == "address"
    assert doc["overview"][inv.ROBOTS_FETCHES] == 1
    assert [h[s.REQUESTS] for h in doc["hours"]] == [33]
    assert doc["statuses"] == [{s.STATUS: 200, s.REQUESTS: 33, inv.SHARE: 1.0}]
    assert doc["user_agents"][0][s.USER_AGENT] == GPTBOT_UA
    robots_row = doc["robots"][0]
    assert robots_row["robots_disallowed"] == 2
    assert robots_row["robots_sample"] == "/media_proxy/0"
    (verdict,) = doc["verdicts"]
    assert (verdict[s.IP], verdict[s.CATEGORY], verdict[s.ACTION]) == (
        GPTBOT_IP,
        "ai-training",
        "block",
    )
    ids = {e["id"] for e in verdict[s.EVIDENCE]}
    assert {"UA-GPTBOT", "ROBOTS-DISALLOWED"} <= ids


def test_investigate_prefix_and_its_places(store: Path, tmp_path: Path) -> None:
    db = _asn_db(tmp_path / "asn.mmdb")
    result = ok(
        "investigate",
        "94.130.10.0/24",
        "--store",
        str(store),
        "--asn-db",
        str(db),
        "--format",
        "json",
        "-q",
    )
    doc = json.loads(result.stdout)
    assert (doc["overview"][s.REQUESTS], doc["overview"][inv.CLIENTS]) == (12, 2)
    assert doc["overview"][s.ASN] == 24940
    assert [c[s.CLIENT_IP] for c in doc["clients"]] == [HOSTILE_IP, ODD_IP]
    assert doc["clients"][0][s.AS_ORG] == "Hetzner Online GmbH"
    assert [v[s.IP] for v in doc["verdicts"]] == [HOSTILE_IP]


@pytest.mark.parametrize(
    ("needle", "requests"),
    [("gptbot", 33), ("claudebot@ANTHROPIC.com", 11), ("gpt.ot", 0), (SCRIPT, 8)],
)
def test_investigate_user_agent_substring(store: Path, needle: str, requests: int) -> None:
    result = ok(
        "investigate", needle, "--store", str(store), "--no-verdict", "--format", "json", "-q"
    )
    doc = json.loads(result.stdout)
    assert doc["overview"]["kind"] == "user-agent"
    assert doc["overview"][s.REQUESTS] == requests
    assert "verdicts" not in doc


def test_investigate_table(access_log: Path) -> None:
    result = ok("investigate", HOSTILE_IP, str(access_log))
    out = result.stdout
    assert "requests per hour" in out
    assert f"verdict on {HOSTILE_IP} (address)" in out
    assert "ai-training -> block" in out
    assert SCRIPT in out  # printed as text: rich markup is escaped
    assert f"address {HOSTILE_IP}: 8 requests" in result.stderr
    assert "logs read" in result.stderr


def test_investigate_one_section_as_csv(store: Path) -> None:
    result = ok(
        "investigate",
        CLAUDE_IP,
        "--store",
        str(store),
        "--section",
        "statuses",
        "--format",
        "csv",
        "--no-verdict",
        "-q",
    )
    assert result.stdout == "status,requests,share\n200,10,0.9091\n302,1,0.0909\n"


def test_investigate_all_sections_as_csv(store: Path) -> None:
    result = ok("investigate", CLAUDE_IP, "--store", str(store), "--format", "csv", "-q")
    heads = [line for line in result.stdout.splitlines() if line.startswith("# ")]
    assert heads == ["# hours", "# paths", "# statuses", "# user_agents", "# clients", "# verdicts"]


def test_investigate_unknown_section(store: Path) -> None:
    result = cli(
        "investigate", CLAUDE_IP, "--store", str(store), "--section", "robots", "--no-verdict", "-q"
    )
    assert result.exit_code == ExitCode.USAGE, result.output
    assert "robots needs --robots" in result.stderr


def test_investigate_nothing_found(store: Path) -> None:
    result = ok("investigate", "192.0.2.99", "--store", str(store), "--format", "json")
    doc = json.loads(result.stdout)
    assert doc["overview"][s.REQUESTS] == 0
    assert doc["verdicts"] == []
    assert "0 requests in the window" in result.stderr


# --- query ---------------------------------------------------------------------------------


def test_query_csv(store: Path) -> None:
    result = ok(
        "query",
        "SELECT status, count(*) AS n FROM requests GROUP BY status ORDER BY status",
        "--store",
        str(store),
        "--format",
        "csv",
    )
    assert result.stdout == "status,n\n200,79\n202,5\n302,1\n404,8\n"
    assert result.stderr == "4 rows\n"


def test_query_verdicts_joined_with_requests(access_log: Path) -> None:
    sql = (
        "SELECT v.ip, v.category, count(*) AS n FROM verdicts v "
        "JOIN requests r ON r.client_ip = v.ip GROUP BY v.ip, v.category ORDER BY n DESC"
    )
    result = ok("query", sql, str(access_log), "--format", "json", "-q")
    assert json.loads(result.stdout) == [
        {"ip": GPTBOT_IP, "category": "ai-training", "n": 33},
        {"ip": CLAUDE_IP, "category": "ai-training", "n": 11},
        {"ip": HOSTILE_IP, "category": "ai-training", "n": 8},
    ]


def test_query_nested_columns_as_csv(store: Path) -> None:
    result = ok(
        "query",
        f"SELECT ip, rules FROM verdicts WHERE ip = '{GPTBOT_IP}'",
        "--store",
        str(store),
        "--format",
        "csv",
        "-q",
    )
    assert result.stdout.splitlines()[1].startswith(f"{GPTBOT_IP},UA-GPTBOT")


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("SELEC status FROM requests", "sql parser error"),
        ("SELECT no_such_column FROM requests", 'unable to find column "no_such_column"'),
        ("SELECT * FROM nowhere", "relation 'nowhere' was not found"),
    ],
)
def test_query_errors(store: Path, sql: str, fragment: str) -> None:
    result = cli("query", sql, "--store", str(store))
    assert result.exit_code == ExitCode.INPUT, result.output
    assert fragment in result.stderr
    assert "Tables: requests (ts, client_ip" in result.stderr
    assert result.stdout == ""


# --- errors common to the three commands ---------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["top", "ips", "--store", "{missing}"], "no stored requests here"),
        (["query", "SELECT 1", "--store", "{missing}"], "no stored requests here"),
        (["investigate", GPTBOT_IP, "--store", "{missing}"], "no stored requests here"),
        (["top", "ips"], "give log files, or --store DIR"),
        (["top", "ips", "{log}", "--store", "{store}"], "not both"),
        (["top", "ips", "--store", "{store}", "--since", "last week"], "is not a time"),
        (["top", "ips", "--store", "{store}", "--category", "robots"], "is no category"),
        (["top", "asns", "--store", "{store}"], "needs an ASN database"),
        (["top", "ips", "--store", "{store}", "--status", "abc"], "give a status"),
        (["investigate", "10.1.2.3/40", "--store", "{store}"], "looks like a CIDR"),
    ],
)
def test_input_errors_exit_3(
    args: list[str], fragment: str, store: Path, access_log: Path, tmp_path: Path
) -> None:
    filled = [a.format(missing=tmp_path / "nowhere", store=store, log=access_log) for a in args]
    result = cli(*filled)
    assert result.exit_code == ExitCode.INPUT, result.output
    assert fragment in result.stderr
    assert result.stdout == ""
