"""Corpus stage: the clients the instance's terms allow: people, Lynx, federation, link
previews, verified search engines, monitoring and feed readers."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from clients import (
    Browser,
    browser_headers,
    crawl,
    parse_page,
    read_robots,
)
from scenario import AP_ACCEPT, BINGBOT, GOOGLEBOT, GOOGLEBOT_MOBILE, LYNX, WINDOW, Ctx
from sitemodel import CSS, DOMAIN, ID_BASE, JS_COMMON, JS_PUBLIC


def _session(
    ctx: Ctx,
    address: str,
    ua: str,
    *,
    start: float,
    entry: str,
    referer: str | None,
    steps: int,
) -> None:
    rng = ctx.rng(address)
    browser = Browser(
        ctx.agent(address, "browser", "person, browsing", headers=browser_headers(ua))
    )
    ctx.clock.at(start)
    page = browser.visit(entry, referer=referer)
    here = entry
    for _ in range(steps):
        if ctx.clock.now() > WINDOW - 2:
            break
        ctx.clock.pause(rng.uniform(2.0, 4.5))
        scroll = next((c for c in page.api if "/statuses?" in c or "timelines/public" in c), None)
        if scroll and rng.random() < 0.6:
            # Infinite scroll in the web UI: one or two older pages of the same list.
            for _ in range(rng.choice((1, 2))):
                resp = browser.xhr(scroll, referer=here)
                items = resp.json() if resp is not None and resp.status_code == 200 else []
                if not items:
                    break
                base = re.sub(r"&max_id=\d+", "", scroll)
                scroll = f"{base}&max_id={items[-1]['id']}"
                ctx.clock.pause(rng.uniform(1.0, 2.5))
        choices = [link for link in page.links if link not in (here, "/privacy-policy")]
        if not choices:
            break
        nxt = rng.choice(choices)
        page = browser.visit(nxt, referer=here)
        here = nxt


def people(ctx: Ctx, uas: list[str]) -> list[Callable[[], None]]:
    site = ctx.site
    newest = site.statuses[-1]
    alice = site.statuses_of("alice")
    plans = [
        ("127.10.1.23", 0.5, "/", None, 7),
        ("127.10.2.57", 2.0, "/@alice", "https://mastodon.example/@kim", 6),
        ("127.10.3.101", 4.5, alice[-3].path, "https://www.google.com/", 5),
        ("127.10.4.8", 7.0, "/explore", None, 6),
        ("127.10.5.77", 10.0, "/tags/cats", "https://fosstodon.example/tags/cats", 5),
        ("127.10.6.140", 14.0, "/about", "https://joinmastodon.org/", 4),
    ]
    jobs: list[Callable[[], None]] = []
    for i, (address, start, entry, referer, steps) in enumerate(plans):

        def job(
            a: str = address,
            u: str = uas[i],
            s: float = start,
            e: str = entry,
            r: str | None = referer,
            n: int = steps,
        ) -> None:
            _session(ctx, a, u, start=s, entry=e, referer=r, steps=n)

        jobs.append(job)
    # People who follow a link to the post that is being shared around (after the previews).
    rng = ctx.rng("single-visits")
    for j in range(12):
        address = f"127.12.{j + 1}.{rng.randrange(2, 250)}"
        start = rng.uniform(13.0, WINDOW - 4)
        referer = rng.choice([None, "https://mastodon.example/", "https://mstdn.example/home"])
        more = rng.random() < 0.4

        def single(
            a: str = address,
            u: str = uas[6 + j],
            s: float = start,
            r: str | None = referer,
            m: bool = more,
        ) -> None:
            browser = Browser(
                ctx.agent(a, "browser", "person, one link", headers=browser_headers(u))
            )
            ctx.clock.at(s)
            browser.visit(newest.path, referer=r)
            if m:
                ctx.clock.pause(ctx.rng(a).uniform(2.0, 4.0))
                browser.visit(newest.account.profile_path, referer=newest.path)

        jobs.append(single)
    return jobs


def lynx_user(ctx: Ctx) -> None:
    rng = ctx.rng("lynx")
    agent = ctx.agent(
        "127.11.0.7",
        "text-browser",
        "person in Lynx",
        headers={
            "User-Agent": LYNX,
            "Accept": "text/html, text/plain, text/sgml, text/css, */*;q=0.01",
            "Accept-Encoding": "gzip, compress, bzip2",
            "Accept-Language": "en",
        },
    )
    ctx.clock.at(3.0)
    here, referer = "/", None
    for _ in range(7):
        page = parse_page(agent.get(here, referer=referer))
        choices = [link for link in page.links if link != here]
        if not choices or ctx.clock.now() > WINDOW - 4:
            break
        ctx.clock.pause(rng.uniform(3.5, 5.5))
        here, referer = rng.choice(choices), here


def _activity(host: str, actor: str, rng: random.Random) -> bytes:
    kind = rng.choice(["Create", "Create", "Announce", "Like", "Update", "Delete"])
    n = rng.randrange(10**17, 10**18)
    obj: Any = (
        f"https://{DOMAIN}/users/alice/statuses/{ID_BASE}"
        if kind in ("Like", "Announce")
        else {
            "id": f"https://{host}/users/{actor}/statuses/{n}",
            "type": "Note",
            "content": "<p>Nice to see this here.</p>",
            "to": ["https://www.w3.org/ns/activitystreams#Public"],
        }
    )
    return json.dumps(
        {
            "@context": "https://www.w3.org/ns/activitystreams",
            "id": f"https://{host}/users/{actor}/statuses/{n}/activity",
            "type": kind,
            "actor": f"https://{host}/users/{actor}",
            "object": obj,
        }
    ).encode()


def _signed(host: str, actor: str, body: bytes, rng: random.Random) -> dict[str, str]:
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    signature = base64.b64encode(rng.randbytes(256)).decode()
    return {
        "Content-Type": "application/activity+json",
        "Date": formatdate(usegmt=True),
        "Digest": f"SHA-256={digest}",
        "Signature": f'keyId="https://{host}/users/{actor}#main-key",algorithm="rsa-sha256",'
        f'headers="(request-target) host date digest content-type",signature="{signature}"',
    }


@dataclass(frozen=True)
class Peer:
    address: str
    software: str
    user_agent: str
    host: str
    deliveries: int
    inbox: str
    start: float


def federation_peers() -> list[Peer]:
    return [
        Peer(
            "127.40.1.1",
            "Mastodon",
            "http.rb/5.2.0 (Mastodon/4.3.2; +https://mastodon.example/)",
            "mastodon.example",
            45,
            "/inbox",
            0.2,
        ),
        Peer(
            "127.40.2.1",
            "Mastodon",
            "http.rb/5.1.1 (Mastodon/4.2.8; +https://fosstodon.example/)",
            "fosstodon.example",
            12,
            "/inbox",
            1.5,
        ),
        Peer(
            "127.40.3.1",
            "Mastodon",
            "http.rb/4.4.1 (Mastodon/4.1.18; +https://chaos.example/)",
            "chaos.example",
            8,
            "/inbox",
            3.0,
        ),
        Peer(
            "127.40.4.1",
            "Pleroma",
            "Pleroma 2.7.0; https://pleroma.example.org <admin@pleroma.example.org>",
            "pleroma.example.org",
            6,
            "/users/alice/inbox",
            2.2,
        ),
        Peer(
            "127.40.5.1",
            "Akkoma",
            "Akkoma 3.13.2; https://akko.example.net <admin@akko.example.net>",
            "akko.example.net",
            6,
            "/inbox",
            5.0,
        ),
        Peer(
            "127.40.6.1",
            "Misskey",
            "Misskey/2024.11.0 (https://misskey.example.jp)",
            "misskey.example.jp",
            8,
            "/inbox",
            4.0,
        ),
        Peer(
            "127.40.7.1",
            "GoToSocial",
            "gotosocial/0.17.3 (+https://gts.example.org)",
            "gts.example.org",
            5,
            "/users/bob/inbox",
            6.0,
        ),
        Peer(
            "127.40.8.1",
            "Lemmy",
            "Lemmy/0.19.8; +https://lemmy.example.com",
            "lemmy.example.com",
            4,
            "/inbox",
            7.5,
        ),
    ]


def federation(ctx: Ctx, peer: Peer) -> None:
    rng = ctx.rng(peer.address)
    agent = ctx.agent(
        peer.address,
        "federation",
        f"{peer.software} server {peer.host}",
        headers={"User-Agent": peer.user_agent, "Accept-Encoding": "gzip"},
    )
    ap = {"Accept": AP_ACCEPT}
    users = [a.username for a in ctx.site.accounts]
    ctx.clock.at(peer.start)
    agent.get(
        f"/.well-known/webfinger?resource=acct:alice@{DOMAIN}",
        headers={"Accept": "application/jrd+json, application/json"},
    )
    agent.get("/users/alice", headers=ap)
    agent.get("/.well-known/nodeinfo", headers={"Accept": "application/json"})
    agent.get("/nodeinfo/2.0", headers={"Accept": "application/json"})
    if peer.software == "Mastodon":
        agent.get("/users/alice/collections/featured", headers=ap)
    if peer.deliveries > 20:
        agent.get("/users/alice/outbox", headers=ap)
        agent.get("/users/alice/outbox?page=true", headers=ap)
    times = sorted(rng.uniform(peer.start + 1.0, WINDOW) for _ in range(peer.deliveries))
    for t in times:
        ctx.clock.at(t)
        actor = rng.choice(["kim", "lou", "max", "nia", "oli"])
        body = _activity(peer.host, actor, rng)
        agent.request(
            peer.inbox, method="POST", data=body, headers=_signed(peer.host, actor, body, rng)
        )
        roll = rng.random()
        if roll < 0.25:
            status = rng.choice(ctx.site.statuses)
            agent.get(status.ap_path, headers=ap)
        elif roll < 0.35:
            name = rng.choice(users)
            agent.get(f"/users/{name}", headers=ap)


def link_previews(ctx: Ctx) -> None:
    rng = ctx.rng("previews")
    target = ctx.site.statuses_of("alice")[-1].path
    versions = [
        ("5.1.1", "4.2.8"),
        ("5.2.0", "4.3.2"),
        ("5.1.1", "4.2.13"),
        ("5.2.0", "4.3.1"),
        ("4.4.1", "4.1.18"),
    ]
    agents = []
    for i in range(20):
        host = f"{rng.choice(['social', 'mstdn', 'toot', 'masto', 'fedi'])}{i + 1}.example"
        if i % 10 == 9:
            ua = f"Pleroma 2.7.0; https://{host} <admin@{host}>; Bot"
            client = f"Pleroma link preview from {host}"
        else:
            httprb, version = versions[i % len(versions)]
            ua = f"http.rb/{httprb} (Mastodon/{version}; +https://{host}/) Bot"
            client = f"Mastodon link preview from {host}"
        agents.append(
            ctx.agent(
                f"127.41.{i + 1}.1",
                "link-preview",
                client,
                headers={
                    "User-Agent": ua,
                    "Accept": "text/html,application/xhtml+xml",
                    "Accept-Encoding": "gzip",
                },
            )
        )
    times = sorted(12.0 + rng.uniform(0.0, 3.0) for _ in agents)
    for t, agent in zip(times, agents, strict=True):
        ctx.clock.at(t)
        agent.get(target)


def googlebot(ctx: Ctx) -> None:
    headers = {
        "Accept": "text/html,application/xhtml+xml,application/signed-exchange;v=b3,"
        "application/xml;q=0.9,*/*;q=0.8",
        "Accept-Encoding": "gzip, deflate, br",
        "From": "googlebot(at)googlebot.com",
    }
    agents = [
        ctx.agent(
            f"127.20.0.{n}",
            "search-engine",
            "Googlebot (verified by declared range)",
            headers={"User-Agent": ua, **headers},
        )
        for n, ua in (
            (11, GOOGLEBOT),
            (12, GOOGLEBOT_MOBILE),
            (13, GOOGLEBOT_MOBILE),
            (14, GOOGLEBOT),
        )
    ]
    ctx.clock.at(1.0)
    robots = read_robots(agents[0], "Googlebot")
    # Google's renderer fetches what a page needs to be rendered (Googlebot ignores Crawl-delay).
    for asset in (CSS, JS_COMMON, JS_PUBLIC):
        agents[2].get(asset, headers={"Accept": "*/*"})
    crawl(agents, ctx.clock, ["/"], limit=35, delay=0.8, robots=robots, until=WINDOW)


def bingbot(ctx: Ctx) -> None:
    agents = [
        ctx.agent(
            f"127.21.0.{n}",
            "search-engine",
            "bingbot (verified by declared range)",
            headers={
                "User-Agent": BINGBOT,
                "Accept": "*/*",
                "Accept-Encoding": "gzip, deflate, br",
            },
        )
        for n in (5, 6)
    ]
    ctx.clock.at(5.0)
    robots = read_robots(agents[0], "bingbot")
    delay = (robots.crawl_delay() or 1.0) + 0.3  # bingbot honours Crawl-delay
    crawl(agents, ctx.clock, ["/"], limit=14, delay=delay, robots=robots, until=WINDOW)


def uptime_kuma(ctx: Ctx) -> None:
    agent = ctx.agent(
        "127.50.0.2",
        "monitoring",
        "Uptime Kuma (the admin's own)",
        headers={
            "User-Agent": "Uptime-Kuma/1.23.16",
            "Accept": "application/json, text/plain, */*",
            "Accept-Encoding": "gzip, compress, deflate, br",
        },
    )
    t = 0.3
    while t < WINDOW:
        ctx.clock.at(t)
        agent.get("/")
        t += 5.0


def uptime_robot(ctx: Ctx) -> None:
    agent = ctx.agent(
        "127.51.0.2",
        "monitoring",
        "UptimeRobot HEAD checks",
        headers={
            "User-Agent": "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
            "Accept": "*/*",
        },
    )
    t = 2.6
    while t < WINDOW:
        ctx.clock.at(t)
        agent.request("/", method="HEAD")
        t += 5.0


def feed_reader(
    ctx: Ctx, address: str, ua: str, feeds: list[str], start: float, period: float, client: str
) -> None:
    agent = ctx.agent(
        address,
        "feed-reader",
        client,
        headers={
            "User-Agent": ua,
            "Accept": "application/rss+xml, application/xml;q=0.9, */*;q=0.8",
            "Accept-Encoding": "gzip",
        },
    )
    last_modified: dict[str, str] = {}
    t = start
    while t < WINDOW:
        ctx.clock.at(t)
        for feed in feeds:
            h = {"If-Modified-Since": last_modified[feed]} if feed in last_modified else {}
            resp = agent.get(feed, headers=h)
            if resp is not None and "Last-Modified" in resp.headers:
                last_modified[feed] = resp.headers["Last-Modified"]
        t += period
