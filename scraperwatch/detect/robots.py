"""robots.txt compliance, measured: disallowed paths requested after reading it, Crawl-delay.

Parsing and group matching follow RFC 9309 through protego (Scrapy's parser), rather than a
hand-written matcher: longest match, `*`/`$` wildcards and user-agent group selection are
where hand-written parsers go wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
from protego import Protego

from scraperwatch import schema as s
from scraperwatch.errors import InputError

R_DISALLOWED: str = "robots_disallowed"  # disallowed requests after the first robots.txt fetch
R_DISALLOWED_ANY: str = "robots_disallowed_any"  # disallowed requests, fetch or not
R_SAMPLE: str = "robots_sample"  # one disallowed URL, for the evidence
R_CRAWL_DELAY: str = "crawl_delay"  # the delay its group asks for, seconds
R_MEDIAN_GAP: str = "median_gap"  # its median seconds between requests


@dataclass(frozen=True)
class Robots:
    text: str
    source: str

    @classmethod
    def load(cls, path: Path) -> Robots:
        try:
            return cls(path.read_text(encoding="utf-8", errors="replace"), str(path))
        except OSError as err:
            raise InputError(
                f"{path}: cannot read the robots.txt ({err.strerror}); give the "
                "file your site serves at /robots.txt"
            ) from err

    def parser(self) -> Protego:
        return Protego.parse(self.text)


def compliance(requests: pl.DataFrame, robots: Robots) -> pl.DataFrame:
    """Per (client, user agent): disallowed requests before and after its first robots.txt fetch.

    `requests` holds CLIENT_IP, USER_AGENT, TS, PATH, QUERY of the clients to judge (the
    caller limits it to clients that are not browsers, or that fetched robots.txt).
    """
    schema = {
        s.CLIENT_IP: pl.String,
        s.USER_AGENT: pl.String,
        R_DISALLOWED: pl.Int64,
        R_DISALLOWED_ANY: pl.Int64,
        R_SAMPLE: pl.String,
        R_CRAWL_DELAY: pl.Float64,
        R_MEDIAN_GAP: pl.Float64,
    }
    if requests.is_empty():
        return pl.DataFrame(schema=schema)
    rp = robots.parser()
    url = pl.concat_str([pl.col(s.PATH), pl.col(s.QUERY)], separator="?", ignore_nulls=True)
    frame = requests.with_columns(url.alias("_url")).sort(s.CLIENT_IP, s.USER_AGENT, s.TS)
    # Judge each distinct (agent, url) once: crawlers repeat URLs across addresses.
    pairs = frame.select(s.USER_AGENT, "_url").unique()
    verdict: dict[tuple[str | None, str], bool] = {}
    for ua, u in pairs.iter_rows():
        agent = ua or ""
        target = u if u.startswith("/") else "/" + u
        verdict[(ua, u)] = not rp.can_fetch("http://host" + target, agent)
    delays = {ua: rp.crawl_delay(ua or "") for ua in pairs[s.USER_AGENT].unique().to_list()}
    rows = []
    for (client, ua), group in frame.group_by([s.CLIENT_IP, s.USER_AGENT], maintain_order=True):
        urls = group["_url"].to_list()
        times = group[s.TS].to_list()
        fetched = [t for t, u in zip(times, urls, strict=True) if u == "/robots.txt"]
        first = fetched[0] if fetched else None
        disallowed = [
            (t, u) for t, u in zip(times, urls, strict=True) if verdict.get((ua, u), False)
        ]
        after = [u for t, u in disallowed if first is not None and t > first]
        gaps = group[s.TS].diff().dt.total_microseconds().drop_nulls() / 1e6
        rows.append(
            (
                client,
                ua,
                len(after),
                len(disallowed),
                (after or [u for _, u in disallowed] or [None])[0],
                delays.get(ua),
                float(gaps.median()) if gaps.len() else None,  # type: ignore[arg-type]
            )
        )
    return pl.DataFrame(rows, schema=schema, orient="row")
