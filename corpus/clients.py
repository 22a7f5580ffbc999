"""Corpus stage: the client machinery: bound sources, browsers, crawlers, real programs.

An Agent is one client at one source address in 127.0.0.0/8. Each of its requests goes to
every corpus server in turn (nginx combined, nginx custom, Caddy), so the three logs hold the
same traffic with the same timing; the real programs (wget, curl, Scrapy) are run against
each server instead. Nothing here sends traffic outside 127.0.0.0/8.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.robotparser
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

TIMEOUT = 15.0


class SourceAddressAdapter(HTTPAdapter):
    """A requests adapter whose connections leave from one local address."""

    def __init__(self, source: str, **kwargs: Any) -> None:
        self._source = (source, 0)
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = self._source
        super().init_poolmanager(*args, **kwargs)


@dataclass
class Errors:
    """Requests that failed (connection errors, timeouts); the corpus is void if any did."""

    items: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, text: str) -> None:
        with self.lock:
            self.items.append(text)


@dataclass
class Clock:
    """Seconds since the start of the scenario; `at(t)` sleeps until then."""

    t0: float

    def now(self) -> float:
        return time.monotonic() - self.t0

    def at(self, t: float) -> None:
        delay = self.t0 + t - time.monotonic()
        if delay > 0:
            time.sleep(delay)

    def pause(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class Agent:
    """One client at one source address, with its own headers and connection pool."""

    def __init__(
        self,
        address: str,
        targets: list[str],
        errors: Errors,
        *,
        user_agent: str | None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.address = address
        self.targets = targets
        self.errors = errors
        self.session = requests.Session()
        # Like a browser, retry a GET once when the server has closed a kept-alive connection.
        retry = Retry(total=2, connect=2, read=1, redirect=0, status=0, backoff_factor=0.1)
        adapter = SourceAddressAdapter(
            address, pool_connections=4, pool_maxsize=4, max_retries=retry
        )
        self.session.mount("http://", adapter)
        if headers is not None:  # a client that sends its own header set, in its own order
            self.session.headers.clear()
            self.session.headers.update(headers)
        if user_agent is not None:
            self.session.headers["User-Agent"] = user_agent
        self.user_agent = str(self.session.headers.get("User-Agent", ""))

    def request(
        self,
        path: str,
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        referer: str | None = None,
        data: bytes | None = None,
    ) -> requests.Response | None:
        """Send one request to every server; return the first server's response.

        A referer that starts with `/` is a page of the site, made absolute per server.
        """
        first: requests.Response | None = None
        for base in self.targets:
            h = dict(headers or {})
            if referer is not None:
                h["Referer"] = base + referer if referer.startswith("/") else referer
            try:
                resp = self.session.request(
                    method,
                    base + path,
                    headers=h,
                    data=data,
                    timeout=TIMEOUT,
                    allow_redirects=False,
                )
                resp.content  # noqa: B018  (read the body, as a client does)
            except requests.RequestException as err:
                self.errors.add(f"{self.address} {method} {base}{path}: {err}")
                continue
            if first is None:
                first = resp
        return first

    def get(self, path: str, **kwargs: Any) -> requests.Response | None:
        return self.request(path, **kwargs)


# --- pages -----------------------------------------------------------------------------------
@dataclass
class PageLinks:
    """What a browser or crawler finds in a page: links, and the resources it embeds."""

    links: list[str] = field(default_factory=list)
    stylesheets: list[str] = field(default_factory=list)
    scripts: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    icons: list[str] = field(default_factory=list)
    manifest: str | None = None
    feeds: list[str] = field(default_factory=list)
    api: list[str] = field(default_factory=list)


def _local(url: str | None) -> str | None:
    if url and url.startswith("/") and not url.startswith("//"):
        return url
    return None


class _LinkParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found = PageLinks()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        f = self.found
        if tag == "a" and (href := _local(a.get("href"))):
            f.links.append(href)
        elif tag == "link" and (href := _local(a.get("href"))):
            rel = (a.get("rel") or "").lower().split()
            if "stylesheet" in rel:
                f.stylesheets.append(href)
            elif "icon" in rel:
                f.icons.append(href)
            elif "manifest" in rel:
                f.manifest = href
            elif "alternate" in rel and "rss" in (a.get("type") or ""):
                f.feeds.append(href)
        elif tag == "script" and (src := _local(a.get("src"))):
            f.scripts.append(src)
        elif tag == "img" and (src := _local(a.get("src"))):
            f.images.append(src)
        elif tag == "div" and a.get("id") == "mastodon" and a.get("data-props"):
            try:
                props = json.loads(a["data-props"] or "{}")
            except ValueError:
                return
            f.api.extend(u for u in props.get("api", []) if isinstance(u, str))


def parse_page(resp: requests.Response | None) -> PageLinks:
    if resp is None or resp.status_code != 200:
        return PageLinks()
    if "html" not in resp.headers.get("Content-Type", ""):
        return PageLinks()
    parser = _LinkParser()
    parser.feed(resp.text)
    return parser.found


_CSS_URL = re.compile(r"url\(\s*['\"]?(/[^'\")\s]+)['\"]?\s*\)")


def css_urls(resp: requests.Response | None) -> list[str]:
    if resp is None or resp.status_code != 200:
        return []
    return _CSS_URL.findall(resp.text)


# --- browsers --------------------------------------------------------------------------------
def browser_family(user_agent: str) -> str:
    if "Firefox/" in user_agent:
        return "firefox"
    if "Chrome/" in user_agent:
        return "chrome"
    return "safari"


def browser_headers(user_agent: str) -> dict[str, str]:
    """The headers a browser sends with every request (per-request ones are added later)."""
    family = browser_family(user_agent)
    headers = {"User-Agent": user_agent}
    if family == "chrome":
        m = re.search(r"Chrome/(\d+)", user_agent)
        major = m.group(1) if m else "124"
        mobile = "?1" if "Mobile" in user_agent else "?0"
        platform = (
            "Android"
            if "Android" in user_agent
            else "macOS"
            if "Mac OS X" in user_agent
            else "Chrome OS"
            if "CrOS" in user_agent
            else "Windows"
        )
        headers.update(
            {
                "sec-ch-ua": f'"Chromium";v="{major}", "Google Chrome";v="{major}", '
                '"Not-A.Brand";v="99"',
                "sec-ch-ua-mobile": mobile,
                "sec-ch-ua-platform": f'"{platform}"',
            }
        )
    headers["Accept-Encoding"] = (
        "gzip, deflate, br" if family == "safari" else "gzip, deflate, br, zstd"
    )
    headers["Accept-Language"] = {
        "chrome": "en-US,en;q=0.9",
        "firefox": "en-US,en;q=0.5",
        "safari": "en-GB,en;q=0.9",
    }[family]
    return headers


_ACCEPT = {
    "document": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "*/*;q=0.8",
    "style": "text/css,*/*;q=0.1",
    "script": "*/*",
    "image": "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
    "font": "*/*",
    "manifest": "*/*",
    "empty": "application/json, text/plain, */*",
}


def fetch_headers(dest: str, *, site: str) -> dict[str, str]:
    """Accept and Sec-Fetch-* for one kind of fetch (`dest` as in Sec-Fetch-Dest)."""
    mode = {
        "document": "navigate",
        "font": "cors",
        "manifest": "cors",
        "empty": "cors",
    }.get(dest, "no-cors")
    h = {"Accept": _ACCEPT[dest], "Sec-Fetch-Dest": dest, "Sec-Fetch-Mode": mode}
    h["Sec-Fetch-Site"] = site
    if dest == "document":
        h["Sec-Fetch-User"] = "?1"
        h["Upgrade-Insecure-Requests"] = "1"
    return h


class Browser:
    """A person's browser: the page, then its stylesheets, scripts, fonts, images and the API
    calls of Mastodon's web UI; assets come from the cache after the first fetch."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.cache: set[str] = set()

    def _asset(self, path: str, dest: str, referer: str) -> requests.Response | None:
        if path in self.cache:
            return None
        self.cache.add(path)
        return self.agent.get(
            path, headers=fetch_headers(dest, site="same-origin"), referer=referer
        )

    def xhr(self, path: str, *, referer: str) -> requests.Response | None:
        """A fetch() of the web UI (JSON from the REST API)."""
        return self.agent.get(
            path, headers=fetch_headers("empty", site="same-origin"), referer=referer
        )

    def visit(self, path: str, *, referer: str | None = None, api: bool = True) -> PageLinks:
        site = (
            "none"
            if referer is None
            else "same-origin"
            if referer.startswith("/")
            else "cross-site"
        )
        resp = self.agent.get(path, headers=fetch_headers("document", site=site), referer=referer)
        page = parse_page(resp)
        for css in page.stylesheets:
            css_resp = self._asset(css, "style", path)
            for url in css_urls(css_resp):
                self._asset(url, "font" if url.endswith(".woff2") else "image", css)
        for js in page.scripts:
            self._asset(js, "script", path)
        for img in page.images:
            self._asset(img, "image", path)
        for icon in page.icons[:1]:
            self._asset(icon, "image", path)
        if page.manifest and browser_family(self.agent.user_agent) == "chrome":
            self._asset(page.manifest, "manifest", path)
        if api:
            for call in page.api:
                self.xhr(call, referer=path)
        return page


# --- robots.txt and crawling -----------------------------------------------------------------
class Robots:
    """The rules of the site's robots.txt for one user-agent token (stdlib parser)."""

    def __init__(self, text: str, token: str) -> None:
        self._parser = urllib.robotparser.RobotFileParser()
        self._parser.parse(text.splitlines())
        self.token = token

    def allowed(self, path: str) -> bool:
        return self._parser.can_fetch(self.token, "http://site" + path)

    def crawl_delay(self) -> float | None:
        delay = self._parser.crawl_delay(self.token)
        return float(delay) if delay is not None else None


def read_robots(agent: Agent, token: str, **kwargs: Any) -> Robots:
    resp = agent.get("/robots.txt", **kwargs)
    return Robots(resp.text if resp is not None and resp.status_code == 200 else "", token)


def crawl(
    agents: list[Agent],
    clock: Clock,
    start: Iterable[str],
    *,
    limit: int,
    delay: float,
    robots: Robots | None = None,
    headers: Mapping[str, str] | None = None,
    until: float | None = None,
) -> list[str]:
    """Breadth-first over the site's links (pages only), `delay` seconds apart, rotating
    through `agents` (one crawler behind several addresses); obeys `robots` when given."""
    queue = list(start)
    seen = set(queue)
    fetched: list[str] = []
    while queue and len(fetched) < limit:
        if until is not None and clock.now() > until:
            break
        path = queue.pop(0)
        if robots is not None and not robots.allowed(path):
            continue
        agent = agents[len(fetched) % len(agents)]
        page = parse_page(agent.get(path, headers=headers))
        fetched.append(path)
        for link in page.links:
            if link not in seen:
                seen.add(link)
                queue.append(link)
        clock.pause(delay)
    return fetched


# --- real programs ---------------------------------------------------------------------------
def run_program(argv: list[str], errors: Errors, *, what: str, ok: Iterable[int] = (0,)) -> None:
    proc = subprocess.run(
        argv, capture_output=True, text=True, timeout=120, check=False, stdin=subprocess.DEVNULL
    )
    if proc.returncode not in set(ok):
        tail = (proc.stdout + proc.stderr).strip()[-800:]
        errors.add(f"{what} exited with status {proc.returncode}: {tail}")


def wget_mirror(wget: str, base: str, address: str, into: Path, errors: Errors) -> None:
    """`wget --mirror` of the whole site from one address (it reads and obeys robots.txt)."""
    into.mkdir(parents=True, exist_ok=True)
    run_program(
        [
            wget,
            "--mirror",
            "--no-verbose",
            f"--bind-address={address}",
            "--tries=1",
            "--timeout=15",
            f"--directory-prefix={into}",
            base + "/",
        ],
        errors,
        what="wget --mirror",
        ok=(0, 8),  # 8: the server answered some requests with an error (a 404 page link)
    )


def curl_each(
    curl: str,
    paths: list[str],
    bases: list[str],
    address: str,
    clock: Clock,
    errors: Errors,
    *,
    pause: float,
) -> None:
    """A shell-style curl loop: one curl process per path, fetching it from every server."""
    for path in paths:
        argv = [curl, "--silent", "--show-error", "--interface", address]
        for base in bases:
            argv += ["--output", "/dev/null", base + path]
        run_program(argv, errors, what="curl")
        clock.pause(pause)


def scrapy_crawl(spider: Path, bases: list[str], address: str, errors: Errors) -> None:
    """A real Scrapy spider with Scrapy's default user agent and ROBOTSTXT_OBEY off."""
    run_program(
        [
            sys.executable,
            "-m",
            "scrapy",
            "runspider",
            str(spider),
            "-a",
            "targets=" + ",".join(bases),
            "-s",
            f"DOWNLOAD_BIND_ADDRESS={address}",
            "-s",
            "ROBOTSTXT_OBEY=False",
            "-s",
            "TELNETCONSOLE_ENABLED=False",
            "-s",
            "LOG_LEVEL=WARNING",
        ],
        errors,
        what="scrapy runspider",
    )
