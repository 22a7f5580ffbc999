"""Corpus stage: the cast: who visits the site, from which address, how, and whether the
instance's terms allow it.

Every client is a thread that sleeps until its start time, so that rates, pauses and bursts
are real; the whole scenario plays out in WINDOW seconds. Addresses: allowed clients live in
127.10-127.60, forbidden ones in 127.77 and above, each /24 holding one client (except the
crawlers that use several addresses of their own /24: Googlebot, bingbot, Bytespider and
the distributed crawl).
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable

import allowed
import forbidden
from scenario import UA_FILE, Ctx, browser_user_agents


# --- the whole cast --------------------------------------------------------------------------
def jobs(ctx: Ctx) -> list[tuple[str, Callable[[], None]]]:
    """Every client of the scenario as a named thread body."""
    uas = browser_user_agents()
    rng = ctx.rng("user-agents")
    rng.shuffle(uas)
    if len(uas) < 22:
        raise ValueError(f"{UA_FILE}: only {len(uas)} current browser user agents; need 22")
    people_uas, scraper_uas = uas[:19], uas[19:]
    out: list[tuple[str, Callable[[], None]]] = [
        (f"person-{i}", job) for i, job in enumerate(allowed.people(ctx, people_uas))
    ]
    out += [
        ("lynx", lambda: allowed.lynx_user(ctx)),
        *[
            (f"peer-{p.host}", lambda p=p: allowed.federation(ctx, p))
            for p in allowed.federation_peers()
        ],
        ("previews", lambda: allowed.link_previews(ctx)),
        ("googlebot", lambda: allowed.googlebot(ctx)),
        ("bingbot", lambda: allowed.bingbot(ctx)),
        ("uptime-kuma", lambda: allowed.uptime_kuma(ctx)),
        ("uptime-robot", lambda: allowed.uptime_robot(ctx)),
        (
            "miniflux",
            lambda: allowed.feed_reader(
                ctx,
                "127.60.1.3",
                "Mozilla/5.0 (compatible; Miniflux/2.2.4; +https://miniflux.app)",
                ["/@alice.rss"],
                1.0,
                10.0,
                "Miniflux",
            ),
        ),
        (
            "freshrss",
            lambda: allowed.feed_reader(
                ctx,
                "127.60.2.3",
                "FreshRSS/1.25.0 (Linux; https://freshrss.org)",
                ["/@bob.rss", "/tags/cats.rss"],
                3.0,
                12.0,
                "FreshRSS",
            ),
        ),
        (
            "newsblur",
            lambda: allowed.feed_reader(
                ctx,
                "127.60.3.3",
                "NewsBlur Feed Fetcher - 4 subscribers - "
                "https://www.newsblur.com/site/6120004/carol",
                ["/@carol.rss"],
                5.0,
                15.0,
                "NewsBlur",
            ),
        ),
        ("gptbot", lambda: forbidden.gptbot(ctx)),
        ("claudebot", lambda: forbidden.claudebot(ctx)),
        ("ccbot", lambda: forbidden.ccbot(ctx)),
        ("bytespider", lambda: forbidden.bytespider(ctx)),
        ("perplexitybot", lambda: forbidden.perplexitybot(ctx)),
        ("wget", lambda: forbidden.wget(ctx)),
        ("curl", lambda: forbidden.curl_loop(ctx)),
        ("requests", lambda: forbidden.requests_scraper(ctx)),
        ("scrapy", lambda: forbidden.scrapy_spider(ctx)),
        ("browser-ua-scraper", lambda: forbidden.browser_ua_scraper(ctx, scraper_uas[0])),
        ("api-harvester", lambda: forbidden.api_harvester(ctx, scraper_uas[1])),
        ("distributed", lambda: forbidden.distributed_crawl(ctx, scraper_uas[2])),
        ("fake-googlebot", lambda: forbidden.fake_googlebot(ctx)),
        ("robots-violator", lambda: forbidden.robots_violator(ctx)),
        ("canary", lambda: forbidden.canary_visitor(ctx, people_uas[18])),
    ]
    return out


def play(ctx: Ctx) -> dict[str, float]:
    """Run every client in its own thread and wait for all of them; returns when each ended
    (seconds into the scenario)."""
    threads = []
    ended: dict[str, float] = {}
    for name, body in jobs(ctx):

        def run(body: Callable[[], None] = body, name: str = name) -> None:
            try:
                body()
            except Exception:  # a client's failure voids the corpus; let the others finish
                ctx.errors.add(f"client {name} failed:\n{traceback.format_exc()}")
            finally:
                ended[name] = ctx.clock.now()

        threads.append(threading.Thread(target=run, name=name, daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return ended
