#!/usr/bin/env python3
"""Benchmarks and fixtures: generate realistic, labelled access logs of a Mastodon-like instance.

Standard library only. Deterministic for a given --seed (and --lines, --days, --start,
--format). Every client address belongs to one labelled class (browser, federation, GPTBot,
distributed crawl, ...); --labels writes that ground truth as CSV so that tests can measure
precision and recall.

Examples:

    python benchmarks/generate_logs.py --lines 5000000 -o /tmp/access.log
    python benchmarks/generate_logs.py --format caddy --lines 1000000 -o /tmp/caddy.log
    python benchmarks/generate_logs.py --days 3 --rotate -o logs/access.log --labels labels.csv
"""

from __future__ import annotations

import argparse
import base64
import bisect
import csv
import functools
import gzip
import io
import ipaddress
import json
import math
import operator
import random
import sys
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Final, cast

HOST: Final = "social.example"
DEFAULT_START: Final = "2026-11-16T00:00:00+00:00"
CANARY_PATH: Final = "/hidden/6f3a2c"  # linked nowhere: pass it to `scan --canary`

# The nginx log_format behind --format custom (a `combined` prefix, then $host, $request_time
# and $upstream_response_time as key=value pairs; "-" upstream time for static files).
CUSTOM_LOG_FORMAT_NAME: Final = "host_timed"
CUSTOM_LOG_FORMAT: Final = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" host=$host rt=$request_time '
    'urt="$upstream_response_time"'
)
CUSTOM_LOG_FORMAT_NGINX_CONF: Final = f"log_format {CUSTOM_LOG_FORMAT_NAME} '{CUSTOM_LOG_FORMAT}';"

# The instance's robots.txt (Mastodon's default public/robots.txt).
ROBOTS_TXT: Final = (
    "# See http://www.robotstxt.org/robotstxt.html for documentation on how to use the "
    "robots.txt file\n\nUser-agent: *\nDisallow: /media_proxy/\nDisallow: /interact/\n"
)

FORMATS: Final = ("combined", "custom", "caddy")
ALLOW: Final = "allow"
BLOCK: Final = "block"

# --- address pools --------------------------------------------------------------------------
# People come from ISP-like public ranges; servers, bots and scrapers from hosting/cloud ranges.
# None of them is private, loopback, CGNAT or a documentation prefix: the default allowlist
# exempts private ranges and Python's ipaddress counts 192.0.2.0/24, 198.51.100.0/24,
# 203.0.113.0/24 and 2001:db8::/32 as private, so clients there would never be judged.
PEOPLE_V4: Final = (
    "81.56.0.0/13", "86.192.0.0/11", "90.0.0.0/10", "79.192.0.0/10", "84.128.0.0/10",
    "73.0.0.0/10", "98.192.0.0/11", "151.36.0.0/14", "2.24.0.0/13", "188.96.0.0/12",
    "126.0.0.0/10", "177.0.0.0/12", "92.40.0.0/14", "46.114.0.0/15", "109.40.0.0/13",
)  # fmt: skip
PEOPLE_V6: Final = (
    "2003:e0::/28",
    "2a01:cb00::/24",
    "2601:0::/20",
    "2a02:8108::/32",
    "240b:10::/32",
)
CLOUD_V4: Final = (
    "65.108.0.0/15", "95.216.0.0/15", "116.202.0.0/15", "64.227.0.0/16", "159.89.0.0/16",
    "164.92.0.0/14", "51.75.0.0/16", "51.15.0.0/16", "163.172.0.0/16", "172.104.0.0/15",
    "139.162.0.0/16", "45.32.0.0/16", "3.80.0.0/12", "44.192.0.0/11", "161.97.0.0/16",
    "47.74.0.0/15", "43.130.0.0/15", "119.8.0.0/16", "5.75.128.0/17", "37.27.0.0/16",
)  # fmt: skip
CLOUD_V6: Final = (
    "2a01:4f8::/29",
    "2604:a880::/32",
    "2001:41d0::/32",
    "2600:3c00::/27",
    "2001:bc8::/32",
)

# Published ranges of verified crawlers (a few prefixes each). Sources, as copied into
# /work/shared/external/published-ranges/: anubis-crawlers/googlebot.yaml and bingbot.yaml
# (TecharoHQ/anubis data/crawlers, 2026-08-20; Google common-crawlers.json, bing.com/toolbox/
# bingbot.json), gptbot-ips.json and chatgpt-user-ips.json (openai.com, snapshot 2026-03),
# anubis-crawlers/commoncrawl.yaml and perplexitybot.yaml.
GOOGLEBOT_NETS: Final = ("66.249.64.0/27", "66.249.65.32/27", "66.249.66.64/27", "66.249.68.0/27", "2001:4860:4801:10::/64", "2001:4860:4801:2a::/64")  # fmt: skip
BINGBOT_NETS: Final = ("157.55.39.0/24", "207.46.13.0/24", "40.77.167.0/24")
GPTBOT_NETS: Final = ("20.171.206.0/24", "20.171.207.0/24", "52.230.152.0/24")
CHATGPT_USER_NETS: Final = ("13.65.138.96/28", "104.210.139.192/28", "13.76.116.80/28")
CCBOT_NETS: Final = ("18.97.9.168/29", "18.97.14.80/29", "2600:1f28:365:80b0::/60")
PERPLEXITYBOT_NETS: Final = ("18.97.9.96/29", "107.20.236.150/32", "3.224.62.45/32")
# Not from a published list in the repository: addresses these operators were seen using.
CLAUDEBOT_NETS: Final = ("216.73.216.0/24",)
BYTESPIDER_NETS: Final = ("47.128.16.0/20", "47.128.96.0/20")
META_NETS: Final = ("57.141.0.0/24", "2a03:2880:f806::/48")
AHREFS_NETS: Final = ("54.36.148.0/23",)
SEMRUSH_NETS: Final = ("85.208.96.0/22",)

# --- user agents ----------------------------------------------------------------------------
CH_UA = '"Chromium";v="142", "Google Chrome";v="142", "Not_A Brand";v="99"'
EDGE_CH_UA = '"Chromium";v="142", "Microsoft Edge";v="142", "Not_A Brand";v="99"'
# (user agent, header kind, Sec-Ch-Ua, Sec-Ch-Ua-Platform, mobile)
BROWSERS: Final = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36", "chrome", CH_UA, '"Windows"', False),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36", "chrome", CH_UA, '"macOS"', False),
    ("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/141.0.0.0 Safari/537.36", "chrome", CH_UA.replace("142", "141"), '"Linux"', False),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0", "chrome", EDGE_CH_UA, '"Windows"', False),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Mobile Safari/537.36", "chrome", CH_UA, '"Android"', True),
    ("Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/28.0 Chrome/130.0.0.0 Mobile Safari/537.36", "chrome", '"Chromium";v="130", "Samsung Internet";v="28.0", "Not?A_Brand";v="99"', '"Android"', True),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0", "firefox", "", "", False),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:145.0) Gecko/20100101 Firefox/145.0", "firefox", "", "", False),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:144.0) Gecko/20100101 Firefox/144.0", "firefox", "", "", False),
    ("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0", "firefox", "", "", False),
    ("Mozilla/5.0 (Android 15; Mobile; rv:145.0) Gecko/145.0 Firefox/145.0", "firefox", "", "", True),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Safari/605.1.15", "safari", "", "", False),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Mobile/15E148 Safari/604.1", "safari", "", "", True),
    ("Mozilla/5.0 (iPad; CPU OS 18_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.0 Mobile/15E148 Safari/604.1", "safari", "", "", True),
)  # fmt: skip
BROWSER_WEIGHTS: Final = (22, 9, 3, 6, 16, 3, 8, 3, 2, 1, 2, 7, 14, 2)
APPS: Final = (
    "Tusky/27.2 Android/15",
    "IceCubesApp/1.11.2 CFNetwork/3826.400.120 Darwin/24.3.0",
    "Mastodon/2025.11 (org.joinmastodon.app; build:2381; iOS 18.7.0) Alamofire/5.10.2",
    "Mastodon/2.11.4 (org.joinmastodon.android; Android 15)",
    "Ivory/2.14 (iPhone; iOS 18.7)",
    "Mona/7.1.3 CFNetwork/3826.400.120 Darwin/24.3.0",
    "Fedilab/3.32.1 Android/14",
)
TEXT_BROWSERS: Final = (
    "Lynx/2.9.2 libwww-FM/2.14 SSL-MM/1.4.1 GNUTLS/3.8.9",
    "w3m/0.5.3+git20230121",
)
LANGS: Final = (
    "en-US,en;q=0.9", "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7", "fr-FR,fr;q=0.9,en;q=0.8",
    "en-GB,en;q=0.9", "ja,en-US;q=0.9,en;q=0.8", "es-ES,es;q=0.9", "nl-NL,nl;q=0.9,en;q=0.8",
)  # fmt: skip
LANG_WEIGHTS: Final = (35, 20, 12, 12, 8, 7, 6)

GOOGLEBOT_UAS: Final = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.7444.59 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
)
BINGBOT_UA: Final = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/142.0.0.0 Safari/537.36"
GPTBOT_UA: Final = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.3; +https://openai.com/gptbot)"
CLAUDEBOT_UA: Final = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)"
CCBOT_UA: Final = "CCBot/2.0 (https://commoncrawl.org/faq/)"
BYTESPIDER_UA: Final = "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)"
META_UA: Final = (
    "meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)"
)
PERPLEXITY_UA: Final = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)"
CHATGPT_USER_UA: Final = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot"
AHREFS_UA: Final = "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)"
SEMRUSH_UA: Final = "Mozilla/5.0 (compatible; SemrushBot/7~bl; +http://www.semrush.com/bot.html)"
UPTIME_KUMA_UA: Final = "Uptime-Kuma/2.0.2"
ROBOTS_VIOLATOR_UA: Final = (
    "Mozilla/5.0 (compatible; Kestrelbot/1.4; +https://kestrel-data.example/bot)"
)
SCANNER_UAS: Final = ("-", "Mozilla/4.0 (compatible; MSIE 6.0; Windows NT 5.1; SV1)")
TOOL_UAS: Final = (  # (user agent, header kind, behaviour)
    ("python-requests/2.32.5", "requests", "accounts"),
    ("Go-http-client/1.1", "go", "poll"),
    ("Go-http-client/2.0", "go", "pages"),
    ("curl/8.14.1", "curl", "few"),
    ("Scrapy/2.13.3 (+https://scrapy.org)", "scrapy", "crawl"),
    ("python-httpx/0.28.1", "requests", "pages"),
    ("Python/3.12 aiohttp/3.12.15", "requests", "accounts"),
    ("axios/1.12.2", "curl", "pages"),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/142.0.0.0 Safari/537.36",
        "headless",
        "render",
    ),
)
WGET_UA: Final = "Wget/1.25.0"
PREVIEW_OTHER_UAS: Final = (
    "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
    "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
    "TelegramBot (like TwitterBot)",
)
FEED_READERS: Final = (  # (user agent, people address?)
    ("Miniflux/2.2.14 (+https://miniflux.app)", False),
    ("FreshRSS/1.27.1 (Linux; https://freshrss.org)", False),
    ("Feedly/1.0 (+https://feedly.com/poller.html; 7 subscribers; )", False),
    ("NetNewsWire (RSS Reader; https://netnewswire.com/)", True),
    ("Tiny Tiny RSS/25.10 (https://tt-rss.org/)", False),
)
MASTODON_VERSIONS: Final = ("4.5.2", "4.4.8", "4.3.14", "4.2.24", "4.5.1", "4.4.6")
HTTP_RB: Final = {"4.5": "5.3.1", "4.4": "5.3.1", "4.3": "5.2.0", "4.2": "5.1.1"}
WORDS: Final = (
    "arbor", "fennel", "quill", "harbor", "lumen", "moss", "tidal", "cobalt", "juniper", "pixel",
    "ember", "willow", "sprout", "aurora", "basalt", "cinder", "delta", "fjord", "glade", "heron",
    "indigo", "kelp", "lark", "meadow", "nimbus", "orchid", "pebble", "quartz", "raven", "sable",
    "thistle", "umber", "vale", "wren", "yarrow", "zephyr", "alder", "birch", "cedar", "dune",
)  # fmt: skip
SYLLABLES: Final = (
    "al", "an", "ar", "be", "bo", "ca", "da", "de", "el", "en", "fa", "fi", "ga", "ha", "is",
    "jo", "ka", "ki", "la", "li", "lo", "ma", "mi", "na", "ni", "no", "ol", "pa", "ra", "ri",
    "ro", "sa", "se", "ta", "ti", "to", "ul", "va", "ve", "yu", "za", "zo",
)  # fmt: skip
TAGS: Final = (
    "fediverse", "mastodon", "photography", "caturday", "linux", "opensource", "art", "music",
    "books", "gardening", "python", "rust", "climate", "science", "birds", "introductions",
    "hiking", "cooking", "selfhosting", "foss", "history", "mapping", "astronomy", "knitting",
)  # fmt: skip
EXT_REFERERS: Final = (
    "https://www.google.com/", "https://duckduckgo.com/", "https://www.bing.com/",
    "https://www.startpage.com/", "https://news.ycombinator.com/", "https://www.reddit.com/",
)  # fmt: skip

# Request kinds (what the request is for): they choose headers, timing and the upstream.
DOC, JS, CSS, FONT, IMG, API, AP, INBOX, FEED, TXT, HEALTH, RAW = range(12)
STATIC_KINDS: Final = frozenset({JS, CSS, FONT, IMG, TXT})

Event = tuple[float, "Actor", str, str, int, int, str, float, int, str]
#            ts     actor   method uri status size referer rt   kind  ua-override ("" = actor's)


@dataclass(eq=False)
class Actor:
    ip: str
    label: str
    category: str
    expected: str
    ua: str
    hk: str  # header kind, for the Caddy request headers
    proto: str = "HTTP/1.1"
    lang: str = ""
    ch: str = ""  # Sec-Ch-Ua
    platform: str = ""  # Sec-Ch-Ua-Platform
    mobile: bool = False
    offender: str = ""  # the expected offender key: the address, or a prefix
    remote_host: str = ""  # federation: the server's host name
    port: int = 0
    requests: int = 0


@dataclass(order=True)
class Session:
    start: float
    seq: int
    fn: Callable[[Ctx, Actor, float, int, object], list[Event]] = field(compare=False)
    actor: Actor = field(compare=False)
    n: int = field(compare=False)
    arg: object = field(compare=False, default=None)


def _snowflake(t: float, rnd: int) -> int:
    """A Mastodon ID for time t (milliseconds << 16, plus a sequence)."""
    return (int(t * 1000) << 16) | (rnd & 0xFFFF)


def _h(text: str, n: int = 20) -> str:
    """A stable hex digest of text (asset fingerprints, file names)."""
    a = zlib.crc32(text.encode())
    b = zlib.crc32(text[::-1].encode() + b"#")
    return f"{a:08x}{b:08x}{a ^ b:08x}"[:n]


def _b64(key: str, nbytes: int) -> str:
    """Base64 of nbytes stable pseudo-random bytes (HTTP signatures: 256, SHA-256 digests: 32)."""
    words = [zlib.crc32(f"{i}:{key}".encode()).to_bytes(4, "big") for i in range((nbytes + 3) // 4)]
    return base64.b64encode(b"".join(words)[:nbytes]).decode()


def _size(key: str, lo: int, hi: int) -> int:
    return lo + zlib.crc32(key.encode()) % (hi - lo)


def _id_path(n: int) -> str:
    """Paperclip's id_partition: 000/000/001 for old IDs, six groups for snowflake IDs."""
    width = 9 if n < 10**9 else 18
    s = str(n).rjust(width, "0")
    return "/".join(s[i : i + 3] for i in range(0, width, 3))


@functools.cache
def _net(cidr: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    net = ipaddress.ip_network(cidr)
    if net.is_private or not net.is_global:
        raise AssertionError(f"generator bug: {cidr} is not a global range")
    return net


class Site:
    """The instance's content: users, statuses, tags, assets, media."""

    def __init__(self, rng: random.Random, n_users: int, t_end: float) -> None:
        names: list[str] = []
        seen: set[str] = set()
        while len(names) < n_users:
            k = rng.choice((2, 2, 3, 3, 4))
            name = "".join(rng.choice(SYLLABLES) for _ in range(k))
            if rng.random() < 0.15:
                name += rng.choice(("_", "")) + str(rng.randrange(1, 99))
            if name not in seen:
                seen.add(name)
                names.append(name)
        self.users = names
        self.account_id: dict[str, int] = {}
        self.statuses: dict[str, list[int]] = {}
        self.all_statuses: list[tuple[str, int]] = []
        two_years = 2 * 365 * 86400
        for i, u in enumerate(names):
            created = t_end - rng.uniform(30 * 86400, 3 * two_years)
            self.account_id[u] = (
                i + 1 if rng.random() < 0.3 else _snowflake(created, rng.getrandbits(16))
            )
            k = max(3, int(rng.paretovariate(1.2) * 12))
            k = min(k, 400)
            ids = sorted(
                (_snowflake(rng.uniform(max(created, t_end - two_years), t_end), rng.getrandbits(16)) for _ in range(k)),
                reverse=True,
            )  # fmt: skip
            self.statuses[u] = ids
            self.all_statuses += [(u, s) for s in ids]
        rng.shuffle(self.all_statuses)
        # Popularity: a few users and their recent statuses get most of the views.
        upop = [1.0 / (r + 1) ** 0.9 for r in range(len(names))]
        popular_users = rng.choices(names, weights=upop, k=4000)
        self.hot_users = popular_users
        self.hot_statuses = [(u, self.statuses[u][min(int(rng.expovariate(0.25)), len(self.statuses[u]) - 1)]) for u in popular_users]  # fmt: skip
        self.tags = list(TAGS)
        self._media: dict[int, list[tuple[str, int, int]]] = {}
        self._avatar: dict[str, tuple[str, int, int]] = {}
        self.newest_id = _snowflake(t_end, 0)
        v = "4.5.2"
        self.assets_common = [
            (f"/packs/css/common-{_h('css' + v)}.css", CSS, 38211),
            (f"/packs/js/common-{_h('common' + v)}.js", JS, 198432),
            (f"/packs/js/application-{_h('app' + v)}.chunk.js", JS, 61877),
            (f"/packs/js/public-{_h('public' + v)}.chunk.js", JS, 11201),
            (f"/packs/media/fonts/roboto/roboto-regular-webfont-{_h('roboto')}.woff2", FONT, 30276),
            (f"/packs/media/images/logo-{_h('logo')}.svg", IMG, 2189),
            ("/favicon.ico", IMG, 15086),
            ("/manifest", API, 1523),
        ]
        self.locale_chunks = {
            lang: (f"/packs/js/locale/{lang}-json-{_h(lang + v)}.chunk.js", JS, _size(lang, 9000, 16000))
            for lang in ("en", "de", "fr", "ja", "es", "nl")
        }  # fmt: skip
        self.feature_chunks = [
            (f"/packs/js/features/{n}-{_h(n + v)}.chunk.js", JS, _size(n, 4000, 60000))
            for n in ("status", "account_timeline", "explore", "hashtag_timeline", "compose", "notifications")
        ]  # fmt: skip

    def media(self, sid: int) -> list[tuple[str, int, int]]:
        """Images shown with a status (deterministic: one status always has the same media)."""
        if sid % 3:
            return []
        out = self._media.get(sid)
        if out is not None:
            return out
        out = self._media[sid] = []
        for k in range(1 + (sid >> 3) % 3):
            mid = sid + k + 1
            out.append((f"/system/media_attachments/files/{_id_path(mid)}/small/{_h(str(mid), 16)}.jpeg", IMG, _size(str(mid), 9000, 80000)))  # fmt: skip
        return out

    def original(self, sid: int) -> tuple[str, int, int]:
        mid = sid + 1
        return (f"/system/media_attachments/files/{_id_path(mid)}/original/{_h(str(mid), 16)}.jpeg", IMG, _size(str(mid), 90000, 900000))  # fmt: skip

    def avatar(self, user: str) -> tuple[str, int, int]:
        got = self._avatar.get(user)
        if got is None:
            got = self._avatar[user] = self._make_avatar(user)
        return got

    def _make_avatar(self, user: str) -> tuple[str, int, int]:
        aid = self.account_id[user]
        return (f"/system/accounts/avatars/{_id_path(aid)}/original/{_h(user, 16)}.png", IMG, _size(user, 6000, 60000))  # fmt: skip


class Ctx:
    """Everything the planners and session generators share."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.fmt: str = args.format
        self.seed: int = args.seed
        self.lines: int = args.lines
        self.days: int = args.days
        start = datetime.fromisoformat(args.start)
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self.t0 = start.timestamp()
        self.t1 = self.t0 + self.days * 86400
        self.span = self.t1 - self.t0
        self.rng = random.Random(f"plan-{self.seed}")
        self.erng = random.Random(f"events-{self.seed}")
        n_users = max(40, min(3000, self.lines // 4000))
        self.site = Site(self.rng, n_users, self.t0)
        self.actors: list[Actor] = []
        self.sessions: list[Session] = []
        self.used_ips: set[str] = set()
        self.reserved_nets: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self._seq = 0
        self._crawl_cursor = 0
        self.canary = CANARY_PATH
        self.rt_pools = _rt_pools(self.seed)
        self.pools: dict[tuple[str, object, str], list[Template]] = {}

    # -- addresses ---------------------------------------------------------------------
    def _rand_in(self, cidr: str, v6_iid: str = "random") -> str:
        net = _net(cidr)
        rng = self.rng
        addr: ipaddress.IPv4Address | ipaddress.IPv6Address
        for _ in range(1000):
            if net.version == 4:
                n = net.num_addresses
                off = rng.randrange(1, n - 1) if n > 2 else 0
                addr = net.network_address + off
            else:
                plen = net.prefixlen
                base = int(net.network_address)
                if plen < 64:
                    base |= rng.getrandbits(64 - plen) << 64
                if v6_iid == "small":
                    iid = rng.choice((1, 2, 3, 0x10, 0x100, rng.randrange(2, 0xFFFF)))
                else:
                    iid = rng.getrandbits(64 if plen <= 64 else 128 - plen) | 1
                addr = ipaddress.IPv6Address(base | iid)
            s = str(addr)
            if s not in self.used_ips and not any(addr in r for r in self.reserved_nets):
                self.used_ips.add(s)
                return s
        raise AssertionError(f"generator bug: no free address left in {cidr}")

    def people_ip(self) -> str:
        if self.rng.random() < 0.3:
            return self._rand_in(self.rng.choice(PEOPLE_V6))
        return self._rand_in(self.rng.choice(PEOPLE_V4))

    def cloud_ip(self, v6: float = 0.0) -> str:
        if self.rng.random() < v6:
            return self._rand_in(self.rng.choice(CLOUD_V6), v6_iid="small")
        return self._rand_in(self.rng.choice(CLOUD_V4))

    def ip_in(self, nets: tuple[str, ...]) -> str:
        """A free address in one of nets (small published ranges run out: try the others)."""
        order = list(nets)
        self.rng.shuffle(order)
        for cidr in order:
            net = ipaddress.ip_network(cidr)
            if net.num_addresses <= 256:
                hosts = [net.network_address] if net.num_addresses == 1 else list(net.hosts())
                free = [str(h) for h in hosts if str(h) not in self.used_ips]
                if free:
                    ip = self.rng.choice(free)
                    self.used_ips.add(ip)
                    return ip
                continue
            return self._rand_in(cidr, v6_iid="small")
        raise AssertionError(f"generator bug: no free address left in {', '.join(nets)}")

    # -- actors and sessions -----------------------------------------------------------
    def actor(self, ip: str, label: str, category: str, expected: str, ua: str, hk: str, **kw: object) -> Actor:  # fmt: skip
        a = Actor(ip, label, category, expected, ua, hk, **kw)  # type: ignore[arg-type]
        if not a.offender:
            a.offender = ip
        self.actors.append(a)
        return a

    def browser_actor(self, ip: str, label: str, category: str = "browser", expected: str = ALLOW) -> Actor:  # fmt: skip
        ua, hk, ch, plat, mobile = self.rng.choices(BROWSERS, weights=BROWSER_WEIGHTS)[0]
        lang = self.rng.choices(LANGS, weights=LANG_WEIGHTS)[0]
        return self.actor(ip, label, category, expected, ua, hk, proto="HTTP/2.0", lang=lang, ch=ch, platform=plat, mobile=mobile)  # fmt: skip

    def add(self, start: float, fn: Callable[[Ctx, Actor, float, int, object], list[Event]], actor: Actor, n: int, arg: object = None) -> int:  # fmt: skip
        if n <= 0:
            return 0
        self._seq += 1
        self.sessions.append(Session(start, self._seq, fn, actor, n, arg))
        return n

    def when(self, diurnal: bool = False, margin: float = 0.0) -> float:
        """A random start time in the window; people follow a day-night cycle (UTC+1 audience)."""
        rng = self.rng
        hi = max(self.t0 + 1.0, self.t1 - margin)
        while True:
            t = rng.uniform(self.t0, hi)
            if not diurnal:
                return t
            hour = ((t + 3600) % 86400) / 3600.0
            w = 0.55 + 0.45 * math.sin((hour - 9.0) / 24.0 * 2 * math.pi)
            if rng.random() < w:
                return t

    def next_crawl_status(self) -> tuple[str, int]:
        """Statuses in a fixed shuffled order: a crawl never asks for the same one twice."""
        allst = self.site.all_statuses
        i = self._crawl_cursor
        self._crawl_cursor += 1
        if i < len(allst):
            return allst[i]
        u = allst[i % len(allst)][0]
        return u, _snowflake(self.t0 - (i % 100000) * 3607.3, i)


# --- request helpers (used while materialising events, with ctx.erng) ---------------------
RT_POOL_BITS: Final = 12


def _rt_pools(seed: int) -> list[list[float]]:
    """Request times (seconds, ms resolution) drawn once per kind; events pick from them."""
    rng = random.Random(f"rt-{seed}")
    n = 1 << RT_POOL_BITS
    pools = []
    for kind in range(RAW + 1):
        if kind in STATIC_KINDS:
            pool = [0.0 if rng.random() < 0.6 else round(rng.random() * 0.004, 3) for _ in range(n)]
        elif kind == API:
            pool = [round(rng.lognormvariate(-2.1, 0.7), 3) for _ in range(n)]
        elif kind == DOC:
            pool = [round(rng.lognormvariate(-2.5, 0.6), 3) for _ in range(n)]
        else:
            pool = [round(rng.lognormvariate(-3.6, 0.6), 3) for _ in range(n)]
        pools.append(pool)
    return pools


def _status_page(u: str, sid: int) -> str:
    return f"/@{u}/{sid}"


SITE_URL: Final = f"https://{HOST}/"


def _url(path: str) -> str:
    return f"https://{HOST}{path}"


class Gen:
    """Event helpers bound to a context: append requests with sizes and timings."""

    def __init__(self, ctx: Ctx) -> None:
        self.ctx = ctx
        self.rng = ctx.erng
        self.site = ctx.site
        self.rt_pools = ctx.rt_pools

    def req(self, ev: list[Event], t: float, a: Actor, uri: str, kind: int, *, status: int = 200, size: int = -1, ref: str = "-", method: str = "GET", ua: str = "") -> None:  # fmt: skip
        if size < 0:
            size = self.size_for(uri, kind, status)
        rt = self.rt_pools[kind][self.rng.getrandbits(RT_POOL_BITS)]
        if size > 400000 and kind in STATIC_KINDS:
            rt = round(rt + size / 4e6, 3)
        ev.append((t, a, method, uri, status, size, ref, rt, kind, ua))

    @staticmethod
    def size_for(uri: str, kind: int, status: int) -> int:
        if status == 304 or status == 202 or status == 204:
            return 0
        if status == 404:
            return 1467 if kind != API else 31
        if status == 401:
            return 52
        if status == 429:
            return 31
        if status == 410:
            return 1467
        if kind == DOC:
            return _size(uri, 3200, 14500)
        if kind == API:
            return _size(uri, 900, 42000)
        if kind == AP:
            return _size(uri, 1100, 6200)
        if kind == FEED:
            return _size(uri, 6000, 48000)
        if kind == TXT:
            return len(ROBOTS_TXT)
        if kind == HEALTH:
            return 2
        return _size(uri, 2000, 90000)

    def page_views(self, a: Actor, t: float, n: int, *, first_assets: bool, logged_in: bool, landing_ref: str) -> list[Event]:  # fmt: skip
        """A person in a browser: pages, their assets and API calls, media, pauses."""
        rng, site = self.rng, self.site
        ev: list[Event] = []
        lang = (a.lang or "en")[:2]
        locale = site.locale_chunks.get(lang, site.locale_chunks["en"])
        need_assets = first_assets
        ref = landing_ref
        full_page = True
        while len(ev) < n:
            r = rng.random()
            if r < 0.45:
                u, sid = rng.choice(site.hot_statuses)
                page, apis = _status_page(u, sid), [f"/api/v1/statuses/{sid}/context"]
                media = [*site.media(sid), site.avatar(u)]
            elif r < 0.70:
                u = rng.choice(site.hot_users)
                aid = site.account_id[u]
                page = f"/@{u}" + rng.choice(("", "", "", "/with_replies", "/media"))
                apis = [f"/api/v1/accounts/lookup?acct={u}", f"/api/v1/accounts/{aid}/statuses?exclude_replies=true"]  # fmt: skip
                media = [site.avatar(u)] + [m for s in site.statuses[u][:4] for m in site.media(s)]
            elif r < 0.78:
                tag = rng.choice(site.tags)
                page, apis = f"/tags/{tag}", [f"/api/v1/timelines/tag/{tag}"]
                media = [site.avatar(rng.choice(site.hot_users)) for _ in range(3)]
            elif r < 0.86:
                page = rng.choice(("/explore", "/explore/tags", "/explore/links"))
                apis = ["/api/v1/trends/statuses", "/api/v1/trends/tags"]
                media = [site.avatar(rng.choice(site.hot_users)) for _ in range(4)]
            elif r < 0.93:
                page = rng.choice(("/public/local", "/public/local", "/"))
                maxid = site.newest_id
                apis = ["/api/v1/timelines/public?local=true"]
                for _ in range(rng.choice((0, 0, 1, 1, 2, 3))):  # scrolling a little
                    maxid -= rng.randrange(2, 40) * 3600000 << 16
                    apis.append(f"/api/v1/timelines/public?local=true&max_id={maxid}")
                media = [site.avatar(rng.choice(site.hot_users)) for _ in range(5)]
            elif r < 0.97:
                page, apis, media = rng.choice(("/about", "/privacy-policy", "/terms-of-service")), ["/api/v2/instance"], []  # fmt: skip
            else:
                u, sid = rng.choice(site.hot_statuses)
                page = rng.choice((f"/interact/{sid}?type=reblog", f"/interact/{sid}?type=favourite", f"/media_proxy/{sid + 2}/original"))  # fmt: skip
                apis, media = [], []
            page_url = _url(page)
            if full_page:
                self.req(ev, t, a, page, DOC, ref=ref)
                t += 0.05 + rng.random() * 0.3
                if need_assets:
                    for path, kind, size in [*site.assets_common, locale]:
                        self.req(ev, t, a, path, kind, size=size, ref=page_url)
                        t += rng.random() * 0.08
                    need_assets = False
                elif rng.random() < 0.15:  # revalidation
                    path, kind, _ = rng.choice(site.assets_common)
                    self.req(ev, t, a, path, kind, status=304, ref=page_url)
                if logged_in:
                    for p in ("/api/v1/timelines/home", "/api/v1/notifications", "/api/v1/markers?timeline[]=home&timeline[]=notifications"):  # fmt: skip
                        self.req(ev, t, a, p, API, ref=page_url)
                        t += rng.random() * 0.2
                self.req(ev, t, a, "/api/v2/instance", API, ref=page_url)
                self.req(ev, t + 0.01, a, "/api/v1/custom_emojis", API, ref=page_url)
                t += 0.1
            if rng.random() < 0.4:
                path, kind, size = rng.choice(site.feature_chunks)
                self.req(ev, t, a, path, kind, size=size, ref=page_url)
            for p in apis:
                self.req(ev, t, a, p, API, ref=page_url)
                t += 0.1 + rng.random() * (1.5 if "max_id" in p else 0.3)
            for path, kind, size in media[:6]:
                self.req(ev, t, a, path, kind, size=size, ref=page_url)
                t += rng.random() * 0.1
            if logged_in and rng.random() < 0.08:
                sid = rng.choice(site.hot_statuses)[1]
                act = rng.choice(("favourite", "reblog", "bookmark"))
                self.req(
                    ev, t, a, f"/api/v1/statuses/{sid}/{act}", API, method="POST", ref=page_url
                )
            t += min(600.0, rng.lognormvariate(3.0, 1.1))  # reading
            full_page = rng.random() < 0.3  # else the web app navigates without a page load
            ref = page_url
        return ev[:n]


# --- session generators: fn(ctx, actor, start, n, arg) -> exactly n events ---------------------
def s_browse(ctx: Ctx, a: Actor, t: float, n: int, arg: object) -> list[Event]:
    g = Gen(ctx)
    rng = g.rng
    ref = rng.choice(EXT_REFERERS) if rng.random() < 0.35 else "-"
    if ref == "-" and rng.random() < 0.3:
        fu = rng.choice(ctx.site.hot_users)
        ref = f"https://{rng.choice(WORDS)}.{rng.choice(WORDS)}.example/@{fu}"
    first, logged_in = arg if isinstance(arg, tuple) else (True, False)
    return g.page_views(a, t, n, first_assets=bool(first), logged_in=bool(logged_in), landing_ref=ref)  # fmt: skip


def s_text_browser(ctx: Ctx, a: Actor, t: float, n: int, arg: object) -> list[Event]:
    g = Gen(ctx)
    ev: list[Event] = []
    rng, site = g.rng, ctx.site
    ref = "-"
    while len(ev) < n:
        if rng.random() < 0.5:
            u, sid = rng.choice(site.hot_statuses)
            page = _status_page(u, sid)
        else:
            page = "/@" + rng.choice(site.hot_users)
        g.req(ev, t, a, page, DOC, ref=ref)
        ref = _url(page)
        t += rng.uniform(40, 400)
    return ev


def s_app(ctx: Ctx, a: Actor, t: float, n: int, arg: object) -> list[Event]:
    """A person in a phone app: home timeline with a few max_id pages, notifications, media."""
    g = Gen(ctx)
    ev: list[Event] = []
    rng, site = g.rng, ctx.site
    while len(ev) < n:
        g.req(ev, t, a, "/api/v1/timelines/home?limit=40", API)
        g.req(ev, t + 0.2, a, "/api/v1/notifications?limit=30", API)
        g.req(ev, t + 0.3, a, "/api/v1/markers?timeline[]=home&timeline[]=notifications", API)
        t += 0.5
        maxid = site.newest_id
        for _ in range(rng.choice((0, 1, 1, 2, 3, 4))):
            t += rng.uniform(5, 90)
            maxid -= rng.randrange(1, 6) * 3600000 << 16
            g.req(ev, t, a, f"/api/v1/timelines/home?limit=40&max_id={maxid}", API)
            for path, kind, size in site.media(rng.choice(site.hot_statuses)[1]):
                g.req(ev, t + 0.3, a, path, kind, size=size)
        if rng.random() < 0.3:
            sid = rng.choice(site.hot_statuses)[1]
            g.req(ev, t + 2, a, f"/api/v1/statuses/{sid}/context", API)
            g.req(ev, t + 3, a, f"/api/v1/statuses/{sid}/favourite", API, method="POST")
        if rng.random() < 0.1:
            g.req(ev, t + 5, a, "/api/v1/statuses", API, method="POST")
        t += rng.lognormvariate(5.5, 1.0)
    return ev[:n]


def s_federation(ctx: Ctx, a: Actor, t: float, n: int, arg: object) -> list[Event]:
    """A remote fediverse server: deliveries to the inboxes, actor and status fetches."""
    g = Gen(ctx)
    ev: list[Event] = []
    rng, site = g.rng, ctx.site
    plain_ua = a.ua
    while len(ev) < n:
        r = rng.random()
        if r < 0.55:
            for _ in range(rng.choice((1, 1, 1, 2, 3))):
                box = (
                    "/inbox" if rng.random() < 0.8 else f"/users/{rng.choice(site.hot_users)}/inbox"
                )
                g.req(ev, t, a, box, INBOX, method="POST", status=202)
                t += rng.uniform(0.05, 3)
        elif r < 0.72:
            u = rng.choice(site.hot_users)
            g.req(ev, t, a, f"/users/{u}", AP)
            if rng.random() < 0.3:
                g.req(ev, t + 0.4, a, f"/users/{u}/collections/featured", AP)
            if rng.random() < 0.1:
                g.req(ev, t + 0.8, a, f"/users/{u}/outbox?page=true", AP)
        elif r < 0.82:
            u, sid = rng.choice(site.hot_statuses)
            g.req(ev, t, a, f"/users/{u}/statuses/{sid}", AP)
            for path, kind, size in site.media(sid)[:1]:  # caching remote media
                g.req(ev, t + 0.7, a, path.replace("/small/", "/original/"), kind, size=size * 6)
        elif r < 0.90:
            u = rng.choice(site.hot_users)
            g.req(ev, t, a, f"/.well-known/webfinger?resource=acct:{u}@{HOST}", AP)
            g.req(ev, t + 0.3, a, f"/users/{u}", AP)
            path, kind, size = site.avatar(u)
            g.req(ev, t + 0.9, a, path, kind, size=size)
        elif r < 0.94:
            g.req(ev, t, a, "/.well-known/nodeinfo", AP)
            g.req(ev, t + 0.2, a, "/nodeinfo/2.0", AP)
        elif r < 0.97:
            g.req(ev, t, a, "/actor", AP)
        else:
            u = rng.choice(site.hot_users)
            g.req(ev, t, a, f"/users/{u}/followers", AP)
        t += rng.expovariate(1.0 / arg) if isinstance(arg, float) else 60.0
    del plain_ua
    return ev[:n]


def s_link_preview(ctx: Ctx, a: Actor, t: float, n: int, arg: object) -> list[Event]:
    """One server previewing a link to a status: the page (UA + ' Bot'), then its image."""
    g = Gen(ctx)
    ev: list[Event] = []
    assert isinstance(arg, tuple)
    u, sid = arg
    page = _status_page(u, sid)
    g.req(ev, t, a, page, DOC)
    if n > 1:
        path, kind, size = (ctx.site.media(sid) or [ctx.site.avatar(u)])[0]
        mastodon_plain_ua = a.ua[:-4] if a.ua.endswith(" Bot") else a.ua
        g.req(ev, t + g.rng.uniform(0.2, 2), a, path.replace("/small/", "/original/"), kind, size=size * 5, ua=mastodon_plain_ua)  # fmt: skip
    while len(ev) < n:
        g.req(ev, t + 3, a, page, DOC, method="HEAD", size=0)
    return ev[:n]


def s_search_engine(ctx: Ctx, a: Actor, t: float, n: int, arg: object) -> list[Event]:
    """A verified search engine: robots.txt, then pages at a polite pace, nothing disallowed."""
    g = Gen(ctx)
    ev: list[Event] = []
    rng, site = g.rng, ctx.site
    g.req(ev, t, a, "/robots.txt", TXT)
    while len(ev) < n:
        t += rng.uniform(4, 90)
        r = rng.random()
        if r < 0.55:
            u, sid = (
                ctx.next_crawl_status() if rng.random() < 0.8 else rng.choice(site.hot_statuses)
            )
            status = 404 if rng.random() < 0.03 else 200
            g.req(ev, t, a, _status_page(u, sid), DOC, status=status)
        elif r < 0.8:
            g.req(ev, t, a, "/@" + rng.choice(site.users), DOC)
        elif r < 0.9:
            g.req(ev, t, a, "/tags/" + rng.choice(site.tags), DOC)
        elif r < 0.95:
            path, kind, size = rng.choice(site.assets_common[:3])  # rendering
            g.req(ev, t, a, path, kind, size=size)
        else:
            g.req(ev, t, a, "/@" + rng.choice(site.users) + ".rss", FEED)
    return ev[:n]


def s_monitor(ctx: Ctx, a: Actor, t: float, n: int, arg: object) -> list[Event]:
    g = Gen(ctx)
    ev: list[Event] = []
    assert isinstance(arg, float)
    i = 0
    while len(ev) < n:
        if i % 5 == 4:
            g.req(ev, t, a, "/", DOC)
        else:
            g.req(ev, t, a, "/health", HEALTH)
        i += 1
        t += arg + g.rng.uniform(-0.5, 0.5)
    return ev


def s_feed(ctx: Ctx, a: Actor, t: float, n: int, arg: object) -> list[Event]:
    g = Gen(ctx)
    ev: list[Event] = []
    assert isinstance(arg, tuple)
    feeds, interval = arg
    while len(ev) < n:
        for f in feeds:
            status = 304 if g.rng.random() < 0.55 else 200
            g.req(ev, t, a, f, FEED, status=status)
            t += g.rng.uniform(0.1, 2)
        t += interval * g.rng.uniform(0.9, 1.0)
    return ev[:n]


def s_crawler(ctx: Ctx, a: Actor, t: float, n: int, arg: object) -> list[Event]:
    """A declared crawler: optional robots.txt, then pages at a given mean gap.

    arg = (mean gap seconds, fetches robots.txt, obeys robots.txt, includes the API).
    """
    g = Gen(ctx)
    ev: list[Event] = []
    rng, site = g.rng, ctx.site
    assert isinstance(arg, tuple)
    gap, robots, obeys, api = arg
    if robots:
        g.req(ev, t, a, "/robots.txt", TXT)
        t += rng.uniform(1, 20)
    while len(ev) < n:
        r = rng.random()
        if r < 0.6:
            u, sid = ctx.next_crawl_status()
            g.req(ev, t, a, _status_page(u, sid), DOC, status=404 if rng.random() < 0.04 else 200)
        elif r < 0.78:
            u = rng.choice(site.users)
            g.req(ev, t, a, f"/@{u}" + rng.choice(("", "", "/with_replies", "/media", "/following")), DOC)  # fmt: skip
        elif r < 0.86:
            g.req(ev, t, a, "/tags/" + rng.choice(site.tags), DOC)
        elif r < 0.92 and api:
            u = rng.choice(site.users)
            g.req(ev, t, a, f"/api/v1/accounts/{site.account_id[u]}/statuses", API)
        elif r < 0.96 and not obeys:
            sid = ctx.next_crawl_status()[1]
            g.req(ev, t, a, rng.choice((f"/interact/{sid}?type=reply", f"/media_proxy/{sid + 1}/original")), DOC, status=rng.choice((200, 302)))  # fmt: skip
        else:
            g.req(ev, t, a, rng.choice(("/explore", "/about", "/public/local", "/")), DOC)
        t += rng.expovariate(1.0 / gap)
    return ev[:n]


def s_tool(ctx: Ctx, a: Actor, t: float, n: int, arg: object) -> list[Event]:
    """HTTP libraries and scraping tools, each with its habits."""
    g = Gen(ctx)
    ev: list[Event] = []
    rng, site = g.rng, ctx.site
    habit = str(arg)
    if habit == "crawl":  # Scrapy obeys robots.txt by default
        return s_crawler(ctx, a, t, n, (0.7, True, True, False))
    while len(ev) < n:
        if habit == "accounts":
            u = rng.choice(site.users)
            aid = site.account_id[u]
            g.req(ev, t, a, f"/api/v1/accounts/lookup?acct={u}", API)
            maxid = 0
            for _ in range(rng.randrange(1, 6)):
                t += rng.uniform(0.3, 2.0)
                q = f"?limit=40&max_id={maxid}" if maxid else "?limit=40"
                g.req(ev, t, a, f"/api/v1/accounts/{aid}/statuses{q}", API)
                maxid = site.statuses[u][-1] - rng.randrange(1, 1 << 30)
        elif habit == "poll":
            for p in ("/api/v1/instance", "/api/v1/timelines/public?local=true&limit=40", "/nodeinfo/2.0"):  # fmt: skip
                g.req(ev, t, a, p, API)
                t += rng.uniform(0.05, 0.5)
            t += rng.uniform(600, 3600)
        elif habit == "render":  # a headless browser loads everything, fast
            u, sid = ctx.next_crawl_status()
            g.req(ev, t, a, _status_page(u, sid), DOC)
            for path, kind, size in site.assets_common[:4] + site.media(sid):
                g.req(ev, t + 0.2, a, path, kind, size=size, ref=_url(_status_page(u, sid)))
            g.req(ev, t + 0.4, a, f"/api/v1/statuses/{sid}/context", API)
        elif habit == "few":
            g.req(ev, t, a, rng.choice(("/", "/api/v1/instance", "/@" + rng.choice(site.users), "/api/v2/instance")), API)  # fmt: skip
            t += rng.uniform(1, 900)
        else:  # pages
            u, sid = ctx.next_crawl_status()
            g.req(ev, t, a, _status_page(u, sid), DOC)
        t += rng.uniform(0.2, 3.0)
    return ev[:n]


def s_wget_mirror(ctx: Ctx, a: Actor, t: float, n: int, arg: object) -> list[Event]:
    """wget --mirror --page-requisites: robots.txt, then every link and requisite, no pause."""
    g = Gen(ctx)
    ev: list[Event] = []
    rng, site = g.rng, ctx.site
    g.req(ev, t, a, "/robots.txt", TXT)
    g.req(ev, t + 0.1, a, "/", DOC)
    seen_assets = False
    while len(ev) < n:
        t += rng.uniform(0.02, 0.4)
        if rng.random() < 0.5:
            u = rng.choice(site.users)
            page = f"/@{u}"
        else:
            u, sid = ctx.next_crawl_status()
            page = _status_page(u, sid)
        g.req(ev, t, a, page, DOC)
        if not seen_assets:
            for path, kind, size in site.assets_common:
                g.req(ev, t + 0.05, a, path, kind, size=size)
            seen_assets = True
        path, kind, size = site.avatar(u)
        g.req(ev, t + 0.1, a, path, kind, size=size)
    return ev[:n]


def s_fast_scraper(ctx: Ctx, a: Actor, t: float, n: int, arg: object) -> list[Event]:
    """A browser user agent, no assets, one status page after another, several a second."""
    g = Gen(ctx)
    ev: list[Event] = []
    rng = g.rng
    while len(ev) < n:
        u, sid = ctx.next_crawl_status()
        g.req(ev, t, a, _status_page(u, sid), DOC, status=404 if rng.random() < 0.05 else 200)
        t += rng.expovariate(2.5)
    return ev


def s_harvest_timeline(ctx: Ctx, a: Actor, t: float, n: int, arg: object) -> list[Event]:
    """Walks max_id down /api/v1/timelines/public?local=true (and a tag timeline), to the end."""
    g = Gen(ctx)
    ev: list[Event] = []
    rng, site = g.rng, ctx.site
    maxid = site.newest_id
    base = "/api/v1/timelines/public?local=true&limit=40"
    g.req(ev, t, a, base, API)
    recent: deque[float] = deque()
    while len(ev) < n:
        t += rng.uniform(0.4, 1.6)
        maxid -= rng.randrange(2 * 3600000, 9 * 3600000) << 16
        if rng.random() < 0.1:
            path = f"/api/v1/timelines/tag/{rng.choice(site.tags)}?limit=40&max_id={maxid}"
        else:
            path = f"{base}&max_id={maxid}"
        recent.append(t)
        while recent[0] <= t - 300:  # Mastodon allows 300 unauthenticated API calls in 5 min
            recent.popleft()
        status = 429 if len(recent) > 300 or rng.random() < 0.02 else 200
        g.req(ev, t, a, path, API, status=status)
        if status == 429:
            t += rng.uniform(5, 60)
    return ev[:n]


def s_harvest_accounts(ctx: Ctx, a: Actor, t: float, n: int, arg: object) -> list[Event]:
    """Every account's statuses, page after page (REST API and ActivityPub outboxes)."""
    g = Gen(ctx)
    ev: list[Event] = []
    rng, site = g.rng, ctx.site
    users = list(site.users)
    rng.shuffle(users)
    i = 0
    while len(ev) < n:
        u = users[i % len(users)]
        i += 1
        aid = site.account_id[u]
        ids = site.statuses[u]
        if rng.random() < 0.7:
            g.req(ev, t, a, f"/api/v1/accounts/lookup?acct={u}", API)
            q = "?limit=40"
            for k in range(0, max(1, len(ids)), 40):
                t += rng.uniform(0.5, 1.5)
                g.req(ev, t, a, f"/api/v1/accounts/{aid}/statuses{q}", API)
                q = f"?limit=40&max_id={ids[min(k + 39, len(ids) - 1)]}"
        else:
            g.req(ev, t, a, f"/users/{u}/outbox?page=true", AP)
            for k in range(0, len(ids), 20):
                t += rng.uniform(0.5, 1.5)
                g.req(ev, t, a, f"/users/{u}/outbox?max_id={ids[min(k + 19, len(ids) - 1)]}&page=true", AP)  # fmt: skip
        t += rng.uniform(1, 5)
    return ev[:n]


def s_slow_crawl(ctx: Ctx, a: Actor, t: float, n: int, arg: object) -> list[Event]:
    """One address of a distributed crawl: a few requests an hour, a new browser UA each time."""
    g = Gen(ctx)
    ev: list[Event] = []
    rng, site = g.rng, ctx.site
    assert isinstance(arg, float)
    while len(ev) < n:
        ua = rng.choice(BROWSERS)[0]
        if rng.random() < 0.8:
            u, sid = ctx.next_crawl_status()
            g.req(ev, t, a, _status_page(u, sid), DOC, ua=ua)
        else:
            g.req(ev, t, a, "/@" + rng.choice(site.users), DOC, ua=ua)
        t += rng.expovariate(1.0 / arg)
    return ev


def s_honeypot(ctx: Ctx, a: Actor, t: float, n: int, arg: object) -> list[Event]:
    """Looks like a slow reader without assets; follows a link no person can see."""
    g = Gen(ctx)
    ev: list[Event] = []
    rng, site = g.rng, ctx.site
    canary_at = n // 2
    if canary_at:
        g.req(ev, t, a, "/", DOC)
    while len(ev) < n:
        t += rng.uniform(4, 20)
        if len(ev) == canary_at:
            g.req(ev, t, a, ctx.canary, DOC, size=612, ref=_url("/about"))
        else:
            u, sid = rng.choice(site.hot_statuses)
            g.req(ev, t, a, _status_page(u, sid), DOC, ref=_url("/"))
    return ev[:n]


def s_robots_violator(ctx: Ctx, a: Actor, t: float, n: int, arg: object) -> list[Event]:
    """Reads robots.txt, then asks for what it disallows (and the rest)."""
    g = Gen(ctx)
    ev: list[Event] = []
    rng = g.rng
    g.req(ev, t, a, "/robots.txt", TXT)
    while len(ev) < n:
        t += rng.uniform(0.5, 4)
        u, sid = ctx.next_crawl_status()
        r = rng.random()
        if r < 0.35:
            g.req(ev, t, a, f"/media_proxy/{sid + 1}/original", IMG, status=rng.choice((200, 302)))
        elif r < 0.6:
            g.req(ev, t, a, f"/interact/{sid}?type=" + rng.choice(("reblog", "favourite", "reply")), DOC)  # fmt: skip
        else:
            g.req(ev, t, a, _status_page(u, sid), DOC)
    return ev[:n]


def s_errors(ctx: Ctx, a: Actor, t: float, n: int, arg: object) -> list[Event]:
    """401 on the authenticated API, then a hammering that Mastodon's rate limiter answers 429."""
    g = Gen(ctx)
    ev: list[Event] = []
    rng = g.rng
    n401 = max(1, n * 2 // 5)
    paths = ("/api/v1/timelines/home", "/api/v1/notifications", "/api/v1/accounts/verify_credentials", "/api/v1/follow_requests", "/api/v1/bookmarks", "/api/v2/search?q=a&resolve=true")  # fmt: skip
    while len(ev) < n401:
        g.req(ev, t, a, rng.choice(paths), API, status=401)
        t += rng.uniform(0.1, 1.0)
    ok = rng.randrange(3, 12)
    while len(ev) < n:
        t += rng.expovariate(6.0)
        status = 200 if ok > 0 else 429
        ok -= 1
        g.req(ev, t, a, f"/api/v1/timelines/public?limit=40&max_id={ctx.site.newest_id - (len(ev) << 28)}", API, status=status)  # fmt: skip
    return ev[:n]


def s_scanner(ctx: Ctx, a: Actor, t: float, n: int, arg: object) -> list[Event]:
    """Probes: an empty or obsolete user agent, TLS bytes on port 80, well-known holes (404)."""
    g = Gen(ctx)
    ev: list[Event] = []
    rng = g.rng
    probes = ("/wp-login.php", "/.env", "/xmlrpc.php", "/.git/config", "/admin/config.php", "/phpmyadmin/", "/", "/owa/auth/logon.aspx")  # fmt: skip
    nginx = ctx.fmt != "caddy"
    while len(ev) < n:
        r = rng.random()
        if nginx and r < 0.15:
            raw = rng.choice((
                "\\x16\\x03\\x01\\x00\\xF7\\x01\\x00\\x00\\xF3\\x03\\x03\\xC1\\x8F",
                "",
                "\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03",
            ))  # fmt: skip
            ev.append((t, a, "", raw, 400, 157 if raw else 0, "-", 0.0 if raw else 0.001, RAW, ""))
        else:
            p = rng.choice(probes)
            g.req(ev, t, a, p, DOC, status=200 if p == "/" else 404)
        t += rng.uniform(0.1, 2)
    return ev[:n]


REUSABLE: Final = frozenset({s_browse, s_app, s_federation})


# --- planning: how many actors and sessions of each class ------------------------------------
@dataclass
class Scenario:
    label: str
    category: str
    expected: str
    share: float  # fraction of the lines at scale
    floor: int  # at least this many lines (small logs still show every class)
    plan: Callable[[Ctx, int], int]  # (ctx, budget) -> lines planned


def _split(total: int, parts: int) -> list[int]:
    base = total // parts
    return [base + (1 if i < total - base * parts else 0) for i in range(parts)]


def p_federation(ctx: Ctx, budget: int) -> int:
    rng = ctx.rng
    n_servers = max(10, min(4000, budget // 60))
    weights = [1.0 / (i + 1) ** 0.8 for i in range(n_servers)]
    total_w = sum(weights)
    planned = 0
    for i in range(n_servers):
        kind = rng.choices(("mastodon", "pleroma", "akkoma", "misskey", "gotosocial", "lemmy", "friendica", "pixelfed"), weights=(60, 6, 5, 8, 6, 7, 3, 5))[0]  # fmt: skip
        host = f"{rng.choice(('', 'social.', 'mastodon.', 'fedi.', 'toot.', 'm.'))}{rng.choice(WORDS)}{rng.choice(('', '-', '.'))}{rng.choice(WORDS)}.example"  # fmt: skip
        host = host.replace("..", ".").replace("-.", ".")
        if kind == "mastodon":
            v = rng.choice(MASTODON_VERSIONS)
            ua = f"http.rb/{HTTP_RB[v[:3]]} (Mastodon/{v}; +https://{host}/)"
        elif kind == "pleroma":
            ua = f"Pleroma 2.9.1; https://{host} <admin@{host}>"
        elif kind == "akkoma":
            ua = f"Akkoma 3.16.0; https://{host} <admin@{host}>"
        elif kind == "misskey":
            ua = f"Misskey/2025.10.2 (https://{host})"
        elif kind == "gotosocial":
            ua = f"gotosocial/0.20.1 (+https://{host})"
        elif kind == "lemmy":
            ua = f"Lemmy/0.19.13; +https://{host}"
        elif kind == "friendica":
            ua = f"Friendica 'Interrupted Fern' 2024.12-1576; https://{host}"
        else:
            ua = f"(Pixelfed/0.12.6; +https://{host})"
        a = ctx.actor(ctx.cloud_ip(v6=0.3), "federation", "federation", ALLOW, ua, "fedi", remote_host=host)  # fmt: skip
        lines = max(1, round(budget * weights[i] / total_w))
        lines = min(lines, budget - planned)
        if lines <= 0:
            ctx.actors.pop()
            continue
        # Deliveries arrive all day: sessions of a few requests.
        parts = max(1, lines // 6)
        for n in _split(lines, parts):
            ctx.add(ctx.when(), s_federation, a, n, 30.0)
        planned += lines
    return planned


def p_link_preview(ctx: Ctx, budget: int) -> int:
    rng, site = ctx.rng, ctx.site
    planned = 0
    # Chat apps' previews, one address each.
    for ua in PREVIEW_OTHER_UAS:
        if planned >= budget:
            break
        a = ctx.actor(ctx.cloud_ip(), "link-preview", "link-preview", ALLOW, ua, "preview")
        n = min(budget - planned, rng.randrange(1, 4))
        for _ in range(n):
            planned += ctx.add(ctx.when(), s_link_preview, a, 1, rng.choice(site.hot_statuses))
    # Mastodon bursts: a post linking one of our statuses arrives on many servers at once.
    while planned < budget:
        t = ctx.when(margin=600)
        target = rng.choice(site.hot_statuses)
        for _ in range(min(rng.randrange(12, 60), max(1, (budget - planned) // 2))):
            v = rng.choice(MASTODON_VERSIONS)
            host = f"{rng.choice(('mastodon.', 'mstdn.', 'social.', ''))}{rng.choice(WORDS)}{rng.randrange(1, 99)}.example"  # fmt: skip
            ua = f"http.rb/{HTTP_RB[v[:3]]} (Mastodon/{v}; +https://{host}/) Bot"
            a = ctx.actor(ctx.cloud_ip(v6=0.35), "link-preview", "link-preview", ALLOW, ua, "preview", remote_host=host)  # fmt: skip
            n = min(2, budget - planned)
            planned += ctx.add(t + rng.expovariate(1 / 20.0), s_link_preview, a, n, target)
            if planned >= budget:
                break
    return planned


def _daily_sessions(ctx: Ctx, a: Actor, fn: Callable[[Ctx, Actor, float, int, object], list[Event]], lines: int, per_session: int, arg: object) -> int:  # fmt: skip
    planned = 0
    for n in _split(lines, max(1, round(lines / per_session))):
        planned += ctx.add(ctx.when(margin=3600), fn, a, n, arg)
    return planned


def p_search(ctx: Ctx, budget: int, nets: tuple[str, ...], uas: tuple[str, ...]) -> int:
    rng = ctx.rng
    n_addr = max(2, min(40, budget // 150))
    planned = 0
    for lines in _split(budget, n_addr):
        a = ctx.actor(ctx.ip_in(nets), "search-engine", "search-engine", ALLOW, rng.choice(uas), "searchbot")  # fmt: skip
        planned += _daily_sessions(ctx, a, s_search_engine, lines, 25, None)
    return planned


def p_googlebot(ctx: Ctx, budget: int) -> int:
    return p_search(ctx, budget, GOOGLEBOT_NETS, GOOGLEBOT_UAS)


def p_bingbot(ctx: Ctx, budget: int) -> int:
    return p_search(ctx, budget, BINGBOT_NETS, (BINGBOT_UA,))


def p_monitoring(ctx: Ctx, budget: int) -> int:
    a = ctx.actor(ctx.cloud_ip(), "monitoring", "monitoring", ALLOW, UPTIME_KUMA_UA, "monitor")
    interval = max(60.0, ctx.span / budget)
    n = max(1, min(budget, int(ctx.span / interval) - 1))
    return ctx.add(ctx.t0 + ctx.rng.uniform(0, interval), s_monitor, a, n, interval)


def p_feeds(ctx: Ctx, budget: int) -> int:
    rng, site = ctx.rng, ctx.site
    planned = 0
    n_readers = max(len(FEED_READERS), min(3000, budget // 40))
    for i, lines in enumerate(_split(budget, n_readers)):
        ua, person = FEED_READERS[i % len(FEED_READERS)]
        ip = ctx.people_ip() if person else ctx.cloud_ip(v6=0.2)
        a = ctx.actor(ip, "feed-reader", "feed-reader", ALLOW, ua, "feed")
        feeds = tuple(rng.choice([f"/@{u}.rss" for u in site.hot_users[:50]] + [f"/tags/{t}.rss" for t in site.tags[:6]]) for _ in range(rng.randrange(1, 4)))  # fmt: skip
        polls = -(-lines // len(feeds))
        interval = ctx.span / (polls + 0.5)
        planned += ctx.add(ctx.t0 + rng.uniform(0, interval), s_feed, a, lines, (feeds, interval))
    return planned


def _crawler_plan(ctx: Ctx, budget: int, label: str, category: str, ua: str, nets: tuple[str, ...] | None, n_addr: int, per_session: int, arg: tuple[float, bool, bool, bool]) -> int:  # fmt: skip
    planned = 0
    for lines in _split(budget, n_addr):
        if lines <= 0:
            continue
        ip = ctx.ip_in(nets) if nets else ctx.cloud_ip()
        a = ctx.actor(ip, label, category, BLOCK, ua, "aibot")
        planned += _daily_sessions(ctx, a, s_crawler, lines, per_session, arg)
    return planned


def p_gptbot(ctx: Ctx, b: int) -> int:
    return _crawler_plan(ctx, b, "gptbot", "ai-training", GPTBOT_UA, GPTBOT_NETS, max(2, min(20, b // 400)), 60, (6.0, True, True, False))  # fmt: skip


def p_claudebot(ctx: Ctx, b: int) -> int:
    return _crawler_plan(ctx, b, "claudebot", "ai-training", CLAUDEBOT_UA, CLAUDEBOT_NETS, max(1, min(20, b // 500)), 80, (3.0, True, True, False))  # fmt: skip


def p_ccbot(ctx: Ctx, b: int) -> int:
    return _crawler_plan(ctx, b, "ccbot", "ai-training", CCBOT_UA, CCBOT_NETS, max(2, min(6, b // 500)), 100, (2.0, True, True, False))  # fmt: skip


def p_bytespider(ctx: Ctx, b: int) -> int:
    return _crawler_plan(ctx, b, "bytespider", "ai-training", BYTESPIDER_UA, BYTESPIDER_NETS, max(3, min(60, b // 200)), 40, (1.5, False, False, True))  # fmt: skip


def p_meta(ctx: Ctx, b: int) -> int:
    return _crawler_plan(ctx, b, "meta-externalagent", "ai-training", META_UA, META_NETS, max(2, min(20, b // 400)), 50, (4.0, True, True, False))  # fmt: skip


def p_perplexity(ctx: Ctx, b: int) -> int:
    return _crawler_plan(ctx, b, "perplexitybot", "ai-search", PERPLEXITY_UA, PERPLEXITYBOT_NETS, max(1, min(8, b // 500)), 20, (8.0, True, True, False))  # fmt: skip


def p_chatgpt_user(ctx: Ctx, b: int) -> int:
    return _crawler_plan(ctx, b, "chatgpt-user", "ai-user", CHATGPT_USER_UA, CHATGPT_USER_NETS, max(2, min(30, b // 50)), 2, (2.0, False, True, False))  # fmt: skip


def p_seo(ctx: Ctx, b: int) -> int:
    half = _split(b, 2)
    planned = _crawler_plan(ctx, half[0], "ahrefsbot", "seo-crawler", AHREFS_UA, AHREFS_NETS, max(1, min(10, half[0] // 500)), 40, (5.0, True, True, False))  # fmt: skip
    return planned + _crawler_plan(ctx, half[1], "semrushbot", "seo-crawler", SEMRUSH_UA, SEMRUSH_NETS, max(1, min(10, half[1] // 500)), 40, (5.0, True, True, False))  # fmt: skip


def p_fake_googlebot(ctx: Ctx, b: int) -> int:
    planned = 0
    for lines in _split(b, max(1, min(10, b // 1500))):
        a = ctx.actor(ctx.cloud_ip(), "fake-googlebot", "spoofed-crawler", BLOCK, GOOGLEBOT_UAS[0], "aibot")  # fmt: skip
        planned += _daily_sessions(ctx, a, s_crawler, lines, 300, (0.8, False, False, True))
    return planned


def p_tools(ctx: Ctx, b: int) -> int:
    planned = 0
    n_actors = max(len(TOOL_UAS), min(200, b // 300))
    for i, lines in enumerate(_split(b, n_actors)):
        ua, hk, habit = TOOL_UAS[i % len(TOOL_UAS)]
        a = ctx.actor(ctx.cloud_ip(v6=0.15), "scraping-tool", "scraping-tool", BLOCK, ua, hk)
        per = 60 if habit in ("crawl", "render", "pages", "accounts") else 12
        planned += _daily_sessions(ctx, a, s_tool, lines, per, habit)
    return planned


def p_wget(ctx: Ctx, b: int) -> int:
    planned = 0
    for lines in _split(b, max(1, min(20, b // 2000))):
        a = ctx.actor(ctx.people_ip() if ctx.rng.random() < 0.5 else ctx.cloud_ip(), "wget-mirror", "archiver", BLOCK, WGET_UA, "wget")  # fmt: skip
        planned += ctx.add(ctx.when(margin=7200), s_wget_mirror, a, lines)
    return planned


def p_fast_scraper(ctx: Ctx, b: int) -> int:
    planned = 0
    for lines in _split(b, max(1, min(40, b // 2000))):
        a = ctx.browser_actor(ctx.cloud_ip(v6=0.1), "browser-ua-scraper", "scraper", BLOCK)
        a.hk, a.proto = "bare", "HTTP/1.1"  # a library behind a browser's user agent
        planned += _daily_sessions(ctx, a, s_fast_scraper, lines, 1500, None)
    return planned


def p_harvest_timeline(ctx: Ctx, b: int) -> int:
    planned = 0
    for lines in _split(b, max(1, min(10, b // 5000))):
        a = ctx.browser_actor(ctx.cloud_ip(), "api-harvester", "scraper", BLOCK)
        a.hk, a.proto = "bare", "HTTP/1.1"
        planned += _daily_sessions(ctx, a, s_harvest_timeline, lines, 3000, None)
    return planned


def p_harvest_accounts(ctx: Ctx, b: int) -> int:
    planned = 0
    for lines in _split(b, max(1, min(10, b // 5000))):
        a = ctx.actor(ctx.cloud_ip(v6=0.5), "api-harvester", "scraper", BLOCK, "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36", "bare")  # fmt: skip
        planned += _daily_sessions(ctx, a, s_harvest_accounts, lines, 2000, None)
    return planned


def p_slow_crawl(ctx: Ctx, b: int) -> int:
    """Over one /24 per ~15k lines: each address a few requests an hour, together a crawl."""
    rng = ctx.rng
    planned = 0
    n_nets = max(1, min(8, b // 15000))
    for net_lines in _split(b, n_nets):
        while True:
            base = ipaddress.IPv4Network(rng.choice(CLOUD_V4))
            sub = list(base.subnets(new_prefix=24))
            net = sub[rng.randrange(len(sub))]
            if not any(ip in net for ip in map(ipaddress.ip_address, ctx.used_ips) if ip.version == 4):  # fmt: skip
                break
        # About three requests an hour per address, over at most 60 % of the window.
        hours_avail = max(1.0, 0.6 * ctx.span / 3600)
        hosts = max(12, min(250, math.ceil(net_lines / (3.0 * hours_avail)), net_lines // 3))
        offs = rng.sample(range(1, 255), hosts)
        per_host = net_lines / hosts
        duration = min(hours_avail * 3600, max(1800.0, per_host / 3.0 * 3600))
        gap = duration / per_host
        t_start = ctx.t0 + rng.uniform(0, max(1.0, ctx.span - 1.3 * duration - 600))
        for off, lines in zip(offs, _split(net_lines, hosts), strict=True):
            ip = str(net.network_address + off)
            ctx.used_ips.add(ip)
            a = ctx.actor(ip, "distributed-crawl", "scraper", BLOCK, "", "bare", offender=str(net))  # fmt: skip
            planned += ctx.add(t_start + rng.uniform(0, gap), s_slow_crawl, a, lines, gap)
        ctx.reserved_nets.append(net)
    return planned


def p_honeypot(ctx: Ctx, b: int) -> int:
    planned = 0
    for lines in _split(b, max(1, min(20, b // 12))):
        a = ctx.browser_actor(ctx.cloud_ip(), "honeypot", "scraper", BLOCK)
        a.hk = "bare"
        planned += ctx.add(ctx.when(margin=7200), s_honeypot, a, lines)
    return planned


def p_robots_violator(ctx: Ctx, b: int) -> int:
    planned = 0
    for lines in _split(b, max(1, min(10, b // 1000))):
        a = ctx.actor(ctx.cloud_ip(), "robots-violator", "scraper", BLOCK, ROBOTS_VIOLATOR_UA, "aibot")  # fmt: skip
        planned += ctx.add(ctx.when(margin=7200), s_robots_violator, a, lines)
    return planned


def p_errors(ctx: Ctx, b: int) -> int:
    planned = 0
    for lines in _split(b, max(1, min(20, b // 1000))):
        a = ctx.browser_actor(ctx.cloud_ip(), "error-cluster", "scraper", BLOCK)
        a.hk, a.proto = "bare", "HTTP/1.1"
        planned += ctx.add(ctx.when(margin=7200), s_errors, a, lines)
    return planned


def p_scanner(ctx: Ctx, b: int) -> int:
    planned = 0
    for i, lines in enumerate(_split(b, max(2, min(60, b // 40)))):
        ua = SCANNER_UAS[i % len(SCANNER_UAS)]
        a = ctx.actor(ctx.cloud_ip(), "scanner", "fake-browser", BLOCK, ua, "scanner")
        planned += ctx.add(ctx.when(margin=600), s_scanner, a, lines)
    return planned


def p_text_browser(ctx: Ctx, b: int) -> int:
    planned = 0
    for i, lines in enumerate(_split(b, max(1, min(50, b // 20)))):
        a = ctx.actor(ctx.people_ip(), "text-browser", "browser", ALLOW, TEXT_BROWSERS[i % 2], "text", lang="en")  # fmt: skip
        planned += _daily_sessions(ctx, a, s_text_browser, lines, 10, None)
    return planned


def p_apps(ctx: Ctx, b: int) -> int:
    rng = ctx.rng
    planned = 0
    for lines in _split(b, max(2, min(20000, b // 40))):
        a = ctx.actor(ctx.people_ip(), "app", "browser", ALLOW, rng.choice(APPS), "app", proto="HTTP/2.0", lang=rng.choices(LANGS, weights=LANG_WEIGHTS)[0])  # fmt: skip
        planned += _daily_sessions(ctx, a, s_app, lines, 12, None)
    return planned


def p_shared_nat(ctx: Ctx, b: int) -> int:
    """Many people behind one address (a campus, a mobile carrier's NAT): several browsers."""
    planned = 0
    for lines in _split(b, max(1, min(100, b // 150))):
        ip = ctx._rand_in(ctx.rng.choice(PEOPLE_V4))
        k = ctx.rng.randrange(3, 7)
        for n in _split(lines, k):
            a = ctx.browser_actor(ip, "shared-nat")
            planned += ctx.add(ctx.when(diurnal=True), s_browse, a, n, (ctx.rng.random() < 0.7, False))  # fmt: skip
    return planned


def plan_people(ctx: Ctx, budget: int) -> int:
    """People in browsers fill the rest, exactly: 1-3 visits each, a day-night rhythm."""
    rng = ctx.rng
    planned = 0
    while planned < budget:
        a = ctx.browser_actor(ctx.people_ip(), "browser")
        logged_in = rng.random() < 0.25
        visits = 1 + min(int(rng.expovariate(0.9)), 6 * ctx.days)
        for v in range(visits):
            n = max(1, min(int(rng.lognormvariate(2.9, 0.8)), 400))
            n = min(n, budget - planned)
            if n <= 0:
                break
            planned += ctx.add(ctx.when(diurnal=True), s_browse, a, n, (v == 0 or rng.random() < 0.2, logged_in))  # fmt: skip
    return planned


SCENARIOS: Final = (
    Scenario("federation", "federation", ALLOW, 0.18, 150, p_federation),
    Scenario("app", "browser", ALLOW, 0.06, 30, p_apps),
    Scenario("text-browser", "browser", ALLOW, 0.002, 8, p_text_browser),
    Scenario("shared-nat", "browser", ALLOW, 0.01, 30, p_shared_nat),
    Scenario("link-preview", "link-preview", ALLOW, 0.012, 30, p_link_preview),
    Scenario("googlebot", "search-engine", ALLOW, 0.03, 36, p_googlebot),
    Scenario("bingbot", "search-engine", ALLOW, 0.02, 24, p_bingbot),
    Scenario("monitoring", "monitoring", ALLOW, 0.003, 24, p_monitoring),
    Scenario("feed-reader", "feed-reader", ALLOW, 0.012, 24, p_feeds),
    Scenario("gptbot", "ai-training", BLOCK, 0.025, 36, p_gptbot),
    Scenario("claudebot", "ai-training", BLOCK, 0.02, 24, p_claudebot),
    Scenario("ccbot", "ai-training", BLOCK, 0.01, 20, p_ccbot),
    Scenario("bytespider", "ai-training", BLOCK, 0.02, 36, p_bytespider),
    Scenario("meta-externalagent", "ai-training", BLOCK, 0.01, 16, p_meta),
    Scenario("perplexitybot", "ai-search", BLOCK, 0.007, 12, p_perplexity),
    Scenario("chatgpt-user", "ai-user", BLOCK, 0.003, 6, p_chatgpt_user),
    Scenario("seo-crawler", "seo-crawler", BLOCK, 0.008, 16, p_seo),
    Scenario("scraping-tool", "scraping-tool", BLOCK, 0.03, 54, p_tools),
    Scenario("wget-mirror", "archiver", BLOCK, 0.008, 30, p_wget),
    Scenario("browser-ua-scraper", "scraper", BLOCK, 0.03, 80, p_fast_scraper),
    Scenario("api-harvester-timeline", "scraper", BLOCK, 0.02, 60, p_harvest_timeline),
    Scenario("api-harvester-accounts", "scraper", BLOCK, 0.012, 40, p_harvest_accounts),
    Scenario("distributed-crawl", "scraper", BLOCK, 0.01, 72, p_slow_crawl),
    Scenario("fake-googlebot", "spoofed-crawler", BLOCK, 0.005, 24, p_fake_googlebot),
    Scenario("honeypot", "scraper", BLOCK, 0.0003, 8, p_honeypot),
    Scenario("robots-violator", "scraper", BLOCK, 0.003, 14, p_robots_violator),
    Scenario("error-cluster", "scraper", BLOCK, 0.008, 40, p_errors),
    Scenario("scanner", "fake-browser", BLOCK, 0.003, 12, p_scanner),
)
PEOPLE_MIN_SHARE: Final = 0.35


def _session_key(s: Session) -> tuple[float, int]:
    return (s.start, s.seq)


def plan(ctx: Ctx) -> None:
    n = ctx.lines
    budgets = [max(s.floor, round(s.share * n)) for s in SCENARIOS]
    room = n - max(1, round(PEOPLE_MIN_SHARE * n))
    total = sum(budgets)
    if total > room:  # a small log: shrink every class, keep what fits
        budgets = [int(b * room / total) for b in budgets]
    # The distributed crawl reserves its /24 before anyone else takes an address.
    order = sorted(range(len(SCENARIOS)), key=lambda i: SCENARIOS[i].label != "distributed-crawl")
    planned = 0
    for i in order:
        if budgets[i] > 0:
            first = len(ctx.actors)
            planned += SCENARIOS[i].plan(ctx, budgets[i])
            for a in ctx.actors[first:]:
                a.label = SCENARIOS[i].label
    planned += plan_people(ctx, n - planned)
    if planned != n:
        raise AssertionError(f"generator bug: planned {planned} lines, not {n}")
    ctx.sessions.sort(key=_session_key)


# --- rendering --------------------------------------------------------------------------------
DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")  # fmt: skip


def _parse_tz(text: str) -> tuple[int, str]:
    t = text.replace(":", "")
    if len(t) != 5 or t[0] not in "+-" or not t[1:].isdigit():
        raise ValueError(f"--tz-offset {text!r}: expected +HHMM or -HH:MM, e.g. +0100")
    secs = (int(t[1:3]) * 3600 + int(t[3:5]) * 60) * (1 if t[0] == "+" else -1)
    return secs, t


class Renderer:
    """Turns events into log lines of one format."""

    def __init__(self, fmt: str, tz: str) -> None:
        self.fmt = fmt
        self.tz_secs, self.tz = _parse_tz(tz)
        self._sec = -1
        self._stamp = ""
        self._hdr_cache: dict[tuple[str, int, str, str, str, str, str, str], str] = {}
        self._dsec = -1
        self._date = ""
        self._resp_cache: dict[tuple[int, int], str] = {}
        self.rng = random.Random(0)

    def stamp(self, ts: float) -> str:
        sec = int(ts)
        if sec != self._sec:
            self._sec = sec
            g = time.gmtime(sec + self.tz_secs)
            self._stamp = f"{g.tm_mday:02d}/{MONTHS[g.tm_mon - 1]}/{g.tm_year}:{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d} {self.tz}"  # fmt: skip
        return self._stamp

    def render(self, events: list[Event]) -> str:
        if self.fmt == "caddy":
            return "".join([self.caddy(e) for e in events])
        out = []
        stamp = self.stamp
        custom = self.fmt == "custom"
        for ts, a, m, uri, st, sz, ref, rt, kind, ua in events:
            req = f"{m} {uri} {a.proto}" if m else uri
            line = f'{a.ip} - - [{stamp(ts)}] "{req}" {st} {sz} "{ref}" "{ua or a.ua}"'
            if custom:
                urt = "-" if kind in STATIC_KINDS or kind == RAW else f"{max(0.0, rt - 0.001):.3f}"
                line = f'{line} host={HOST} rt={rt:.3f} urt="{urt}"'
            out.append(line)
        out.append("")
        return "\n".join(out)

    # -- Caddy ------------------------------------------------------------------------------
    def caddy(self, e: Event) -> str:
        ts, a, m, uri, st, sz, ref, rt, kind, ua = e
        rng = self.rng
        ua = ua or a.ua
        h2 = a.proto == "HTTP/2.0"
        hdrs = self.headers(a, kind, ua, ref, m, uri, ts)
        dur = rt + rng.random() * 0.0005 + 0.00002
        bytes_read = _size(uri, 900, 9000) if m == "POST" and kind == INBOX else (_size(uri, 60, 900) if m == "POST" else 0)  # fmt: skip
        level = "info" if st < 400 else "error"
        uri_json = json.dumps(uri) if ('"' in uri or "\\" in uri) else f'"{uri}"'
        tls_proto = "h2" if h2 else "http/1.1"
        if a.port == 0 or rng.random() < 0.05:
            a.port = rng.randrange(32768, 61000)
        return (
            f'{{"level":"{level}","ts":{ts!r},"logger":"http.log.access.log0","msg":"handled request",'
            f'"request":{{"remote_ip":"{a.ip}","remote_port":"{a.port}","client_ip":"{a.ip}",'
            f'"proto":"{a.proto}","method":"{m}","host":"{HOST}","uri":{uri_json},"headers":{{{hdrs}}},'
            f'"tls":{{"resumed":{"true" if rng.random() < 0.3 else "false"},"version":772,"cipher_suite":4865,"proto":"{tls_proto}","server_name":"{HOST}"}}}},'
            f'"bytes_read":{bytes_read},"user_id":"","duration":{round(dur, 9)!r},"size":{sz},"status":{st},'
            f'"resp_headers":{{{self.resp_headers(kind, st, sz)}}}}}\n'
        )  # fmt: skip

    def headers(self, a: Actor, kind: int, ua: str, ref: str, method: str, uri: str, ts: float) -> str:  # fmt: skip
        variant = ""
        if kind == AP and uri.startswith("/.well-known/webfinger"):
            variant = "webfinger"
        elif kind == DOC and ref != "-":  # Sec-Fetch-Site of a navigation
            variant = "same-origin" if ref.startswith(SITE_URL) else "cross-site"
        key = (a.hk, kind, ua, a.lang, a.ch, a.platform, method, variant)
        frag = self._hdr_cache.get(key)
        if frag is None:
            frag = self._build_headers(a, kind, ua, method, variant)
            self._hdr_cache[key] = frag
        if kind in (AP, INBOX) and a.hk in ("fedi", "preview"):
            frag = f'{frag},"Date":["{self.http_date(ts)}"]'
        if ref != "-":
            return f'{frag},"Referer":[{json.dumps(ref)}]'
        return frag

    def http_date(self, ts: float) -> str:
        sec = int(ts)
        if sec != self._dsec:
            self._dsec = sec
            g = time.gmtime(sec)
            self._date = f"{DAYS[g.tm_wday]}, {g.tm_mday:02d} {MONTHS[g.tm_mon - 1]} {g.tm_year} {g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d} GMT"  # fmt: skip
        return self._date

    def _build_headers(self, a: Actor, kind: int, ua: str, method: str, variant: str) -> str:
        hk = a.hk
        h: list[tuple[str, str | None]] = []
        if hk in ("chrome", "firefox", "safari"):
            accept = {
                DOC: "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
                CSS: "text/css,*/*;q=0.1",
                IMG: "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
                FONT: "*/*",
                JS: "*/*",
            }.get(kind, "application/json, text/plain, */*")  # fmt: skip
            dest = {DOC: "document", CSS: "style", IMG: "image", FONT: "font", JS: "script"}.get(kind, "empty")  # fmt: skip
            if hk == "chrome" and a.ch:
                h += [("Sec-Ch-Ua", a.ch), ("Sec-Ch-Ua-Mobile", "?1" if a.mobile else "?0"), ("Sec-Ch-Ua-Platform", a.platform)]  # fmt: skip
            if kind == DOC:
                h.append(("Upgrade-Insecure-Requests", "1"))
            h += [("User-Agent", ua), ("Accept", accept)]
            h += [("Sec-Fetch-Site", (variant or "none") if kind == DOC else "same-origin"), ("Sec-Fetch-Mode", "navigate" if kind == DOC else ("cors" if dest in ("empty", "font") else "no-cors")), ("Sec-Fetch-Dest", dest)]  # fmt: skip
            if kind == DOC:
                h.append(("Sec-Fetch-User", "?1"))
            h += [("Accept-Encoding", "gzip, deflate, br, zstd"), ("Accept-Language", a.lang or "en-US,en;q=0.9")]  # fmt: skip
            if hk == "firefox":
                h += [("Te", "trailers"), ("Priority", "u=0, i" if kind == DOC else "u=4")]
            elif hk == "chrome":
                h.append(("Priority", "u=0, i" if kind == DOC else "u=1"))
            if kind == API:
                h.append(("Authorization", None))
            else:
                h.append(("Cookie", None))
        elif hk == "app":
            h += [("User-Agent", ua), ("Accept", "application/json" if kind == API else "image/*,*/*;q=0.8"), ("Accept-Language", a.lang or "en"), ("Accept-Encoding", "gzip, deflate, br")]  # fmt: skip
            if kind == API:
                h.append(("Authorization", None))
        elif hk == "text":
            h += [("User-Agent", ua), ("Accept", "text/html, text/plain, text/sgml, text/css, */*;q=0.01"), ("Accept-Language", "en"), ("Accept-Encoding", "gzip, compress, bzip2")]  # fmt: skip
        elif hk in ("fedi", "preview"):
            if kind in (AP, INBOX):
                acc = "application/activity+json, application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\""  # fmt: skip
                if variant == "webfinger":
                    acc = "application/jrd+json, application/json"
                h += [("User-Agent", ua), ("Accept", acc)]
                if variant != "webfinger":
                    h.append(
                        (
                            "Signature",
                            f'keyId="https://{a.remote_host}/actor#main-key",algorithm="rsa-sha256",headers="(request-target) host date{" digest content-type" if kind == INBOX else " accept"}",signature="{_b64(a.ip + ua + str(kind), 256)}"',
                        )
                    )
                if kind == INBOX:
                    h += [("Content-Type", "application/activity+json"), ("Digest", f"SHA-256={_b64(ua + a.ip, 32)}")]  # fmt: skip
                h.append(("Accept-Encoding", "gzip"))
            else:
                acc = "text/html" if kind == DOC else "*/*"
                h += [("User-Agent", ua), ("Accept", acc), ("Accept-Encoding", "gzip")]
        elif hk == "searchbot":
            h += [("User-Agent", ua), ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), ("Accept-Encoding", "gzip, deflate, br"), ("From", "googlebot(at)googlebot.com" if "Googlebot" in ua else "bingbot(at)microsoft.com")]  # fmt: skip
        elif hk == "aibot":
            h += [("User-Agent", ua), ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), ("Accept-Encoding", "gzip, deflate, br")]  # fmt: skip
            if "Googlebot" in ua:
                h.append(("From", "googlebot(at)googlebot.com"))
        elif hk == "requests":
            h += [("User-Agent", ua), ("Accept-Encoding", "gzip, deflate"), ("Accept", "*/*"), ("Connection", "keep-alive")]  # fmt: skip
        elif hk == "go":
            h += [("User-Agent", ua), ("Accept-Encoding", "gzip")]
        elif hk in ("curl", "scanner"):
            if ua != "-":
                h.append(("User-Agent", ua))
            h.append(("Accept", "*/*"))
        elif hk == "scrapy":
            h += [("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), ("Accept-Language", "en"), ("User-Agent", ua), ("Accept-Encoding", "gzip, deflate, br, zstd")]  # fmt: skip
        elif hk == "wget":
            h += [("User-Agent", ua), ("Accept", "*/*"), ("Accept-Encoding", "identity"), ("Connection", "Keep-Alive")]  # fmt: skip
        elif hk == "headless":
            h += [("Sec-Ch-Ua", '"Chromium";v="142", "HeadlessChrome";v="142", "Not_A Brand";v="99"'), ("Sec-Ch-Ua-Mobile", "?0"), ("Sec-Ch-Ua-Platform", '"Linux"'), ("User-Agent", ua), ("Accept", "*/*" if kind != DOC else "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), ("Sec-Fetch-Site", "none" if kind == DOC else "same-origin"), ("Sec-Fetch-Mode", "navigate" if kind == DOC else "no-cors"), ("Sec-Fetch-Dest", "document" if kind == DOC else "empty"), ("Accept-Encoding", "gzip, deflate, br, zstd"), ("Accept-Language", "en-US")]  # fmt: skip
        elif hk == "monitor":
            h += [("Accept", "application/json, text/plain, */*"), ("User-Agent", ua), ("Accept-Encoding", "gzip, compress, deflate, br"), ("Connection", "close")]  # fmt: skip
        elif hk == "feed":
            h += [("User-Agent", ua), ("Accept", "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.8"), ("Accept-Encoding", "gzip, deflate"), ("If-None-Match", f'W/"{_h(ua, 32)}"'), ("If-Modified-Since", "Sun, 15 Nov 2026 22:10:41 GMT")]  # fmt: skip
        else:  # "bare": a script behind a browser's user agent: no Sec-Fetch-*, no language
            h += [("User-Agent", ua), ("Accept", "application/json" if kind == API else "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"), ("Accept-Encoding", "gzip, deflate")]  # fmt: skip
        if method == "POST" and kind != INBOX:
            h.append(("Content-Type", "application/x-www-form-urlencoded"))
        return ",".join(
            f"{json.dumps(k)}:[]" if v is None else f"{json.dumps(k)}:[{json.dumps(v)}]"
            for k, v in h
        )

    def resp_headers(self, kind: int, status: int, size: int) -> str:
        key = (kind, status)
        base = self._resp_cache.get(key)
        if base is None:
            base = self._build_resp(kind, status)
            self._resp_cache[key] = base
        if kind in STATIC_KINDS or kind in (FEED, HEALTH):
            return f'{base},"Content-Length":["{size}"]'
        return f'{base},"X-Request-Id":["{self.rng.getrandbits(128):032x}"]'

    @staticmethod
    def _build_resp(kind: int, status: int) -> str:
        ctype = {
            DOC: "text/html; charset=utf-8", API: "application/json; charset=utf-8",
            AP: "application/activity+json; charset=utf-8", JS: "application/javascript",
            CSS: "text/css; charset=utf-8", IMG: "image/jpeg", FONT: "font/woff2",
            FEED: "application/rss+xml; charset=utf-8", TXT: "text/plain; charset=utf-8",
            HEALTH: "text/plain; charset=utf-8", INBOX: "text/plain; charset=utf-8",
        }.get(kind, "text/html; charset=utf-8")  # fmt: skip
        h: list[tuple[str, str]] = [("Server", "Caddy"), ("Content-Type", ctype)]
        if kind in STATIC_KINDS:
            h += [("Cache-Control", "public, max-age=31536000, immutable" if kind != TXT else "public, max-age=3600"), ("Accept-Ranges", "bytes"), ("Etag", '"cacq4sswpg5c2wo"'), ("Last-Modified", "Mon, 09 Nov 2026 14:02:11 GMT")]  # fmt: skip
        else:
            cache = "max-age=0, private, must-revalidate" if status == 200 else "no-cache"
            h += [("Cache-Control", cache), ("Vary", "Accept, Accept-Encoding, Origin"), ("X-Content-Type-Options", "nosniff")]  # fmt: skip
            if status == 429:
                h += [("X-Ratelimit-Limit", "300"), ("X-Ratelimit-Remaining", "0"), ("Retry-After", "112")]  # fmt: skip
        return ",".join(f'"{k}":[{json.dumps(v)}]' for k, v in h)


# --- writing ----------------------------------------------------------------------------------
# Big logs reuse the shape of people's and servers' sessions: a session of n requests is the
# first n requests of a template drawn before (another person, another time). It makes 5M lines
# about twice as fast to write; small logs (the samples, the tests) are all drawn fresh.
POOL_MIN_LINES: Final = 200_000
POOL_SIZE: Final = 64
Template = list[tuple[float, str, str, int, int, str, float, int, str]]


def _materialise(ctx: Ctx, s: Session) -> list[Event]:
    if ctx.lines < POOL_MIN_LINES or s.fn not in REUSABLE:
        return s.fn(ctx, s.actor, s.start, s.n, s.arg)
    pool = ctx.pools.setdefault((s.fn.__name__, s.arg, s.actor.lang[:2]), [])
    slot = len(pool) if len(pool) < POOL_SIZE else ctx.erng.randrange(POOL_SIZE)
    if slot == len(pool) or len(pool[slot]) < s.n:
        ev = s.fn(ctx, s.actor, s.start, s.n, s.arg)
        tpl = [(e[0] - s.start, e[2], e[3], e[4], e[5], e[6], e[7], e[8], e[9]) for e in ev]
        if slot == len(pool):
            pool.append(tpl)
        else:
            pool[slot] = tpl
        return ev
    t0, a = s.start, s.actor
    return [(t0 + dt, a, m, u, st, sz, ref, rt, k, ua) for dt, m, u, st, sz, ref, rt, k, ua in pool[slot][: s.n]]  # fmt: skip


def _events_by_window(ctx: Ctx, window: float = 3600.0) -> Iterator[list[Event]]:
    """Materialise sessions one window at a time and yield the window's events in time order."""
    sessions = ctx.sessions
    carry: list[Event] = []
    i = 0
    w_end = ctx.t0 + window
    while i < len(sessions) or carry:
        batch = carry
        while i < len(sessions) and sessions[i].start < w_end:
            s = sessions[i]
            ev = _materialise(ctx, s)
            s.actor.requests += s.n
            if len(ev) != s.n:
                raise AssertionError(f"generator bug: {s.fn.__name__} made {len(ev)} events, not {s.n}")  # fmt: skip
            batch.extend(ev)
            i += 1
        batch.sort(key=_ts)
        if i >= len(sessions):
            yield batch
            return
        cut = bisect.bisect_left(batch, w_end, key=_ts)
        carry = batch[cut:]
        yield batch[:cut]
        w_end += window


_ts: Final[Callable[[Event], float]] = operator.itemgetter(0)


class _GzipOut(gzip.GzipFile):
    """A reproducible gzip file (no name, mtime 0) that also closes the file beneath it."""

    def __init__(self, path: Path) -> None:
        self._raw = path.open("wb")
        super().__init__(filename="", mode="wb", fileobj=self._raw, mtime=0, compresslevel=6)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._raw.close()


def _open_out(path: Path) -> IO[bytes]:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gz":
        return cast(IO[bytes], _GzipOut(path))
    return path.open("wb")


def rotated_names(path: Path, days: int) -> list[Path]:
    """logrotate daily with delaycompress: oldest first; FILE.2.gz ... FILE.1, FILE."""
    names = []
    for age in range(days - 1, -1, -1):
        if age == 0:
            names.append(path)
        elif age == 1:
            names.append(path.with_name(path.name + ".1"))
        else:
            names.append(path.with_name(f"{path.name}.{age}.gz"))
    return names


def generate(args: argparse.Namespace) -> list[Actor]:
    ctx = Ctx(args)
    plan(ctx)
    renderer = Renderer(args.format, args.tz_offset)
    out_path = None if args.output in (None, "-") else Path(args.output)
    if args.rotate and out_path is None:
        raise SystemExit("error: --rotate needs -o FILE")
    files: list[Path] = rotated_names(out_path, ctx.days) if (args.rotate and out_path) else []
    day = 0
    if out_path is None:
        out: IO[bytes] = sys.stdout.buffer
    elif files:
        out = _open_out(files[0])
    else:
        out = _open_out(out_path)
    try:
        written = 0
        for batch in _events_by_window(ctx):
            if files:
                # Split at day boundaries; a late event of the last day stays in the last file.
                while batch:
                    boundary = ctx.t0 + (day + 1) * 86400
                    if day == len(files) - 1:
                        cut = len(batch)
                    else:
                        cut = bisect.bisect_left(batch, boundary, key=_ts)
                    if cut:
                        out.write(renderer.render(batch[:cut]).encode())
                        written += cut
                    batch = batch[cut:]
                    if batch:
                        out.close()
                        day += 1
                        out = _open_out(files[day])
            elif batch:
                out.write(renderer.render(batch).encode())
                written += len(batch)
        while files and day < len(files) - 1:  # days with no line still get their file
            out.close()
            day += 1
            out = _open_out(files[day])
    finally:
        if out is not sys.stdout.buffer:
            out.close()
        else:
            out.flush()
    if written != ctx.lines:
        raise AssertionError(f"generator bug: wrote {written} lines, not {ctx.lines}")
    return ctx.actors


LABEL_COLUMNS: Final = ("ip", "label", "category", "expected", "offender", "requests", "user_agent")


def write_labels(path: Path, actors: list[Actor]) -> None:
    """One row per client address (actors sharing an address are merged)."""
    rows: dict[str, list[object]] = {}
    for a in actors:
        if a.requests == 0:
            continue
        row = rows.get(a.ip)
        if row is None:
            rows[a.ip] = [a.ip, a.label, a.category, a.expected, a.offender, a.requests, a.ua or "(rotating browser user agents)"]  # fmt: skip
        else:
            if row[1] != a.label:
                raise AssertionError(f"generator bug: {a.ip} is both {row[1]} and {a.label}")
            row[5] = int(str(row[5])) + a.requests
            if row[6] != a.ua:
                row[6] = "(several browser user agents)"
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(LABEL_COLUMNS)
    for r in sorted(rows.values(), key=lambda r: (str(r[2]), str(r[1]), _ip_key(str(r[0])))):
        w.writerow(r)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(buf.getvalue(), encoding="utf-8", newline="")


def _ip_key(ip: str) -> tuple[int, int]:
    a = ipaddress.ip_address(ip)
    return (a.version, int(a))


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="generate_logs.py",
        description="Generate realistic, labelled access logs of a Mastodon-like instance "
        f"({HOST}): people, federation, link previews, search engines, monitoring, feed readers, "
        "AI crawlers, scraping tools, scrapers, API harvesters, a distributed crawl, a fake "
        "Googlebot, a honeypot hit, a robots.txt violator, 401/429 clusters and scanners.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "--format custom writes this nginx log_format (give the part in quotes to\n"
            "scraperwatch --log-format):\n\n"
            f"    {CUSTOM_LOG_FORMAT_NGINX_CONF}\n\n"
            f"The honeypot path is {CANARY_PATH} (scan --canary {CANARY_PATH}); the instance's\n"
            "robots.txt is Mastodon's default (--robots-txt FILE writes it).\n"
            "--labels writes: " + ",".join(LABEL_COLUMNS) + "\n"
            "(expected = what the default policy should do: allow or block; offender = the\n"
            "address, or the /24 of the distributed crawl)."
        ),
    )
    p.add_argument("--format", choices=FORMATS, default="combined", help="nginx combined (default), nginx custom log_format, or Caddy v2 JSON")  # fmt: skip
    p.add_argument("--lines", type=int, default=10000, help="exact number of lines (default 10000)")  # fmt: skip
    p.add_argument("--days", type=int, default=1, help="days covered (default 1)")
    p.add_argument("--start", default=DEFAULT_START, help=f"first instant, ISO 8601 (default {DEFAULT_START})")  # fmt: skip
    p.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    p.add_argument("--tz-offset", default="+0000", help="nginx $time_local offset, e.g. +0100 (default +0000)")  # fmt: skip
    p.add_argument("-o", "--output", default="-", help="output file ('.gz' compresses; default stdout)")  # fmt: skip
    p.add_argument("--rotate", action="store_true", help="one file per day as logrotate leaves them: FILE (last day), FILE.1, FILE.2.gz, ...")  # fmt: skip
    p.add_argument("--labels", metavar="FILE.csv", help="write the ground truth: client address -> label, category, expected action")  # fmt: skip
    p.add_argument("--robots-txt", metavar="FILE", help="write the instance's robots.txt")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.lines < 1 or args.days < 1:
        raise SystemExit("error: --lines and --days must be at least 1")
    try:
        _parse_tz(args.tz_offset)
        datetime.fromisoformat(args.start)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    actors = generate(args)
    if args.labels:
        write_labels(Path(args.labels), actors)
    if args.robots_txt:
        robots = Path(args.robots_txt)
        robots.parent.mkdir(parents=True, exist_ok=True)
        robots.write_text(ROBOTS_TXT, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
