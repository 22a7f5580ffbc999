"""Corpus stage: the clients the instance's terms forbid: AI crawlers, wget, curl, requests,
Scrapy, disguised scrapers, an API harvester, a distributed crawl, a fake Googlebot, a
robots.txt violator and a canary hit."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from clients import (
    Browser,
    browser_headers,
    crawl,
    curl_each,
    read_robots,
    scrapy_crawl,
    wget_mirror,
)
from scenario import GOOGLEBOT, WINDOW, Ctx
from sitemodel import CANARY, ID_STEP


def _bot_headers(ua: str) -> dict[str, str]:
    return {"User-Agent": ua, "Accept": "*/*", "Accept-Encoding": "gzip, deflate, br"}


AI_CRAWLERS = {
    "GPTBot": "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; GPTBot/1.2; "
    "+https://openai.com/gptbot",
    "ClaudeBot": "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; "
    "+claudebot@anthropic.com)",
    "CCBot": "CCBot/2.0 (https://commoncrawl.org/faq/)",
    "Bytespider": "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)",
    "PerplexityBot": "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; "
    "PerplexityBot/1.0; +https://perplexity.ai/perplexitybot)",
}


def gptbot(ctx: Ctx) -> None:
    agent = ctx.agent(
        "127.101.0.4",
        "ai-crawler",
        "GPTBot: reads robots.txt, crawls anyway",
        headers=_bot_headers(AI_CRAWLERS["GPTBot"]),
    )
    ctx.clock.at(3.0)
    read_robots(agent, "GPTBot")  # Disallow: / for GPTBot; it crawls all the same
    crawl([agent], ctx.clock, ["/"], limit=60, delay=0.5, until=WINDOW)


def claudebot(ctx: Ctx) -> None:
    agent = ctx.agent(
        "127.102.0.4",
        "ai-crawler",
        "ClaudeBot: obeys robots.txt and Crawl-delay",
        headers=_bot_headers(AI_CRAWLERS["ClaudeBot"]),
    )
    ctx.clock.at(6.0)
    robots = read_robots(agent, "ClaudeBot")
    delay = (robots.crawl_delay() or 1.0) + 0.1
    crawl([agent], ctx.clock, ["/"], limit=20, delay=delay, robots=robots, until=WINDOW)


def ccbot(ctx: Ctx) -> None:
    agent = ctx.agent(
        "127.103.0.4",
        "ai-crawler",
        "CCBot: never reads robots.txt",
        headers=_bot_headers(AI_CRAWLERS["CCBot"]),
    )
    ctx.clock.at(8.0)
    crawl([agent], ctx.clock, ["/explore"], limit=50, delay=0.5, until=WINDOW)


def bytespider(ctx: Ctx) -> None:
    agents = [
        ctx.agent(
            f"127.104.0.{n}",
            "ai-crawler",
            "Bytespider: fast, two addresses, no robots.txt",
            headers=_bot_headers(AI_CRAWLERS["Bytespider"]),
        )
        for n in (4, 5)
    ]
    ctx.clock.at(20.0)
    crawl(agents, ctx.clock, ["/"], limit=120, delay=0.04, until=WINDOW)


def perplexitybot(ctx: Ctx) -> None:
    agent = ctx.agent(
        "127.105.0.4",
        "ai-crawler",
        "PerplexityBot: obeys Disallow, ignores Crawl-delay",
        headers=_bot_headers(AI_CRAWLERS["PerplexityBot"]),
    )
    ctx.clock.at(5.0)
    robots = read_robots(agent, "PerplexityBot")
    crawl([agent], ctx.clock, ["/"], limit=28, delay=1.0, robots=robots, until=WINDOW)


def wget(ctx: Ctx) -> None:
    program = shutil.which("wget")
    if program is None:
        ctx.errors.add("wget is not installed (Debian package wget)")
        return
    address = "127.110.0.9"
    ctx.label(address, "wget-mirror", "wget --mirror (obeys robots.txt)")
    ctx.clock.at(8.0)
    threads = [
        threading.Thread(
            target=wget_mirror,
            args=(program, base, address, ctx.workdir / f"wget-{i}", ctx.errors),
        )
        for i, base in enumerate(ctx.targets)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def curl_loop(ctx: Ctx) -> None:
    program = shutil.which("curl")
    if program is None:
        ctx.errors.add("curl is not installed (Debian package curl)")
        return
    address = "127.111.0.9"
    ctx.label(address, "curl-loop", "curl in a shell loop over sequential status IDs")
    first = int(ctx.site.statuses[len(ctx.site.statuses) // 2].id)
    paths = [f"/api/v1/statuses/{first + k * ID_STEP}" for k in range(90)]
    ctx.clock.at(14.0)
    curl_each(program, paths, ctx.targets, address, ctx.clock, ctx.errors, pause=0.05)


def requests_scraper(ctx: Ctx) -> None:
    agent = ctx.agent("127.112.0.9", "python-requests", "python-requests with its default headers")
    ctx.clock.at(6.0)
    crawl([agent], ctx.clock, ["/explore"], limit=120, delay=0.1, until=WINDOW)


def scrapy_spider(ctx: Ctx) -> None:
    address = "127.113.0.9"
    ctx.label(address, "scrapy", "Scrapy spider, default user agent, ROBOTSTXT_OBEY off")
    ctx.clock.at(10.0)
    scrapy_crawl(Path(__file__).parent / "spider.py", ctx.targets, address, ctx.errors)


def browser_ua_scraper(ctx: Ctx, ua: str) -> None:
    agent = ctx.agent(
        "127.114.0.9",
        "browser-ua-scraper",
        "browser user agent, pages only, no pauses",
        headers={
            "User-Agent": ua,
            "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
            "Accept-Language": "en-US,en;q=0.5",
            "Accept-Encoding": "gzip, deflate",
        },
    )
    ctx.clock.at(18.0)
    crawl([agent], ctx.clock, ["/"], limit=150, delay=0.0, until=WINDOW)


def api_harvester(ctx: Ctx, ua: str) -> None:
    agent = ctx.agent(
        "127.115.0.9",
        "api-harvester",
        "walks max_id over the public timeline, then every account",
        headers={"User-Agent": ua, "Accept": "application/json", "Accept-Encoding": "gzip"},
    )
    ctx.clock.at(4.0)
    accounts: list[str] = []

    def walk(base: str) -> None:
        path = base
        while ctx.clock.now() < WINDOW:
            resp = agent.get(path)
            items = resp.json() if resp is not None and resp.status_code == 200 else []
            if not items:
                return
            for item in items:
                acct = item["account"]
                if "@" not in acct["acct"] and acct["id"] not in accounts:
                    accounts.append(acct["id"])
            path = f"{base}&max_id={items[-1]['id']}"
            ctx.clock.pause(0.15)

    walk("/api/v1/timelines/public?local=true&limit=40")
    for acct_id in list(accounts):
        walk(f"/api/v1/accounts/{acct_id}/statuses?limit=40")


def distributed_crawl(ctx: Ctx, ua: str) -> None:
    rng = ctx.rng("distributed")
    headers = {
        "User-Agent": ua,
        "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "Accept-Language": "en-US,en;q=0.9",
        "Accept-Encoding": "gzip, deflate, br",
    }
    agents = [
        ctx.agent(
            f"127.77.1.{n}",
            "distributed-crawl",
            "one crawl over 40 addresses of a /24",
            headers=headers,
        )
        for n in range(1, 41)
    ]
    order = list(range(len(agents)))
    rng.shuffle(order)
    paths = [s.path for s in ctx.site.statuses]
    rng.shuffle(paths)
    paths = paths[:160]
    step = (WINDOW - 5.0) / len(paths)
    for j, path in enumerate(paths):
        ctx.clock.at(3.0 + j * step)
        agents[order[j % len(agents)]].get(path)


def fake_googlebot(ctx: Ctx) -> None:
    agent = ctx.agent(
        "127.88.0.9",
        "fake-googlebot",
        "Googlebot user agent, undeclared address",
        headers={"User-Agent": GOOGLEBOT, "Accept": "*/*", "Accept-Encoding": "gzip, deflate"},
    )
    ctx.clock.at(22.0)
    read_robots(agent, "Googlebot")
    crawl([agent], ctx.clock, ["/"], limit=40, delay=0.25, until=WINDOW)


def robots_violator(ctx: Ctx) -> None:
    ua = "Mozilla/5.0 (compatible; FediIndexer/0.3; +https://fediindex.example/about)"
    agent = ctx.agent(
        "127.116.0.9",
        "robots-violator",
        "reads robots.txt, then /api/ and /media_proxy/",
        headers=_bot_headers(ua),
    )
    ctx.clock.at(9.0)
    read_robots(agent, "FediIndexer")
    paths = ["/", "/explore", "/api/v1/instance", "/api/v1/timelines/public?local=true"]
    paths += [f"/api/v1/accounts/{a.acct_id}/statuses" for a in ctx.site.accounts]
    paths += ctx.site.media_proxy[:4]
    for path in paths:
        agent.get(path)
        ctx.clock.pause(0.4)


def canary_visitor(ctx: Ctx, ua: str) -> None:
    browser = Browser(
        ctx.agent(
            "127.117.0.9",
            "canary",
            "browses like a person, then the canary",
            headers=browser_headers(ua),
        )
    )
    ctx.clock.at(25.0)
    browser.visit("/")
    ctx.clock.pause(1.5)
    browser.visit("/about", referer="/")
    ctx.clock.pause(1.0)
    browser.visit(CANARY)
    ctx.clock.pause(1.0)
    browser.visit("/explore", referer="/")
