"""Small deterministic nginx `combined` logs, one day each, for the nightly-job tests.

Each day holds people browsing (pages with their assets), OpenAI's GPTBot from its published
ranges (AI training: blocked by the default policy), a second GPTBot address on the first day
only, and a slow crawler with a browser user agent that fetches 60 never-repeated pages a day
(snowflake-like ids, never consecutive) and no assets: one day of it is a single weak signal,
three days of it are a scraper (breadth).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

FIRST_DAY = datetime(2026, 11, 17, tzinfo=UTC)
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
CHROME_UA = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
GPTBOT_UA = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; "
    "+https://openai.com/gptbot)"
)
GPTBOT_IP = "20.171.206.7"  # inside https://openai.com/gptbot.json (rules/ranges/gptbot.json)
EARLY_BOT_IP = "20.171.207.9"  # GPTBot too, seen on the first day only
SLOW_IP = "45.9.1.7"


def line(
    ts: datetime, ip: str, path: str, *, status: int = 200, size: int = 1000, ua: str = BROWSER_UA
) -> str:
    stamp = ts.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'{ip} - - [{stamp}] "GET {path} HTTP/1.1" {status} {size} "-" "{ua}"'


def day_lines(day: int) -> list[str]:
    """The log lines of day `day` (0 = 2026-11-17), in time order."""
    rnd = random.Random(day)
    base = FIRST_DAY + timedelta(days=day)
    rows: list[tuple[datetime, str]] = []
    for hour in range(24):
        for minute in range(0, 60, 7):
            ts = base + timedelta(hours=hour, minutes=minute, seconds=rnd.randint(0, 50))
            ip = f"81.2.69.{rnd.randint(1, 40)}"
            rows.append((ts, line(ts, ip, f"/@user{rnd.randint(1, 30)}", size=5000)))
            later = ts + timedelta(seconds=1)
            rows.append((later, line(later, ip, "/packs/js/application.js", size=90000)))
            rows.append((later, line(later, ip, "/packs/css/common.css", size=9000)))
        ts = base + timedelta(hours=hour, minutes=30)
        rows.append((ts, line(ts, GPTBOT_IP, f"/@user{hour}/{day}{hour:02d}", ua=GPTBOT_UA)))
    for k in range(60):
        ts = base + timedelta(minutes=k * 23 + 5)
        rows.append(
            (ts, line(ts, SLOW_IP, f"/@user{k % 40}/{day * 100_000 + k * 7919}", ua=CHROME_UA))
        )
    if day == 0:
        for k in range(30):
            ts = base + timedelta(hours=3, seconds=k * 20)
            rows.append((ts, line(ts, EARLY_BOT_IP, f"/@user{k}/{k}", ua=GPTBOT_UA)))
    rows.sort(key=lambda r: r[0])
    return [text for _, text in rows]


def write_day(path: Path, day: int, *, append: bool = False) -> int:
    """Write (or append) day `day` to path; returns the number of lines written."""
    lines = day_lines(day)
    with path.open("a" if append else "w", encoding="utf-8") as fh:
        fh.write("".join(f"{x}\n" for x in lines))
    return len(lines)
