"""Corpus stage: the scenario's shared parts: its clock window, the classes of clients and
whether the terms allow them, the labels, and the context every client thread shares."""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from pathlib import Path

from clients import Agent, Clock, Errors
from sitemodel import Site

WINDOW = 36.0  # seconds of traffic
UA_FILE = Path(__file__).parent / "browser-uas.txt"


@dataclass(frozen=True)
class ClassInfo:
    allowed: bool
    description: str


CLASSES: dict[str, ClassInfo] = {
    "browser": ClassInfo(True, "people in real browsers: pages with assets and API calls, pauses"),
    "text-browser": ClassInfo(True, "a person in Lynx: pages only, slowly"),
    "federation": ClassInfo(True, "fediverse servers: webfinger, actors, nodeinfo, inbox POSTs"),
    "link-preview": ClassInfo(True, "Mastodon link-preview burst: one GET per server"),
    "search-engine": ClassInfo(True, "Googlebot and bingbot from their declared ranges"),
    "monitoring": ClassInfo(True, "Uptime Kuma and UptimeRobot checks of /"),
    "feed-reader": ClassInfo(True, "RSS readers polling profile and tag feeds"),
    "ai-crawler": ClassInfo(False, "GPTBot, ClaudeBot, CCBot, Bytespider, PerplexityBot"),
    "wget-mirror": ClassInfo(False, "wget --mirror of the whole site"),
    "curl-loop": ClassInfo(False, "a curl loop enumerating status IDs over the API"),
    "python-requests": ClassInfo(False, "a python-requests scraper"),
    "scrapy": ClassInfo(False, "a Scrapy spider, default user agent, ROBOTSTXT_OBEY off"),
    "browser-ua-scraper": ClassInfo(False, "browser user agent, no assets, high rate"),
    "api-harvester": ClassInfo(False, "walks max_id over the public timeline and accounts"),
    "distributed-crawl": ClassInfo(False, "one slow crawl spread over 40 addresses of a /24"),
    "fake-googlebot": ClassInfo(False, "Googlebot user agent outside Googlebot's ranges"),
    "robots-violator": ClassInfo(False, "reads robots.txt, then fetches disallowed paths"),
    "canary": ClassInfo(False, "browses like a person, then requests the canary path"),
}

# Ranges that the corpus declares for the verified search engines (a ranges override file).
DECLARED_RANGES = {"googlebot": "127.20.0.0/24", "bingbot": "127.21.0.0/24"}

GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
GOOGLEBOT_MOBILE = (
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Chrome/131.0.6778.204 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
    "+http://www.google.com/bot.html)"
)
BINGBOT = (
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; "
    "+http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36"
)
LYNX = "Lynx/2.9.0dev.6 libwww-FM/2.14 SSL-MM/1.4.1 OpenSSL/1.1.1j-dev"
AP_ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'


@dataclass(frozen=True)
class Label:
    address: str
    cls: str
    client: str

    @property
    def allowed(self) -> bool:
        return CLASSES[self.cls].allowed


@dataclass
class Ctx:
    """What every client thread shares: the servers, the clock, the site and the labels."""

    targets: list[str]
    clock: Clock
    site: Site
    errors: Errors
    workdir: Path
    seed: int
    labels: dict[str, Label] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def label(self, address: str, cls: str, client: str) -> None:
        with self.lock:
            old = self.labels.get(address)
            if old is not None and old.cls != cls:
                raise ValueError(f"{address} is labelled both {old.cls} and {cls}")
            self.labels.setdefault(address, Label(address, cls, client))

    def agent(
        self,
        address: str,
        cls: str,
        client: str,
        *,
        user_agent: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Agent:
        self.label(address, cls, client)
        return Agent(address, self.targets, self.errors, user_agent=user_agent, headers=headers)

    def rng(self, name: str) -> random.Random:
        return random.Random(f"{self.seed}:{name}")


# --- user agents ----------------------------------------------------------------------------
def browser_user_agents(path: Path = UA_FILE) -> list[str]:
    """Current browser user agents taken from isbot's list of real browsers (see the file)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip() and not line.startswith("#")]
