"""Corpus stage: the small Mastodon-like static site the corpus servers serve.

`build_site(seed)` returns every file of the site (path relative to the document root ->
bytes) and a map of what is in it (accounts, statuses, tags, pages), which the clients use to
behave like the people and programs they stand for. Everything is deterministic for a seed.
The hand-written parts (robots.txt, stylesheet, scripts, manifest) live in corpus/site/.
"""

from __future__ import annotations

import html
import json
import random
import struct
import zlib
from pathlib import Path

from sitejson import api_files, federation_files
from sitemodel import (
    CANARY,
    CSS,
    DOMAIN,
    FAVICON,
    FONT,
    JS_COMMON,
    JS_PUBLIC,
    LOGO,
    MANIFEST,
    SITE_SOURCES,
    TAGS,
    TOUCH_ICON,
    Site,
    Status,
    make_model,
)


# --- small binary assets ---------------------------------------------------------------------
def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A valid one-colour PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = b"\x00" + bytes(rgb) * width
    raw = zlib.compress(row * height, 9)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def ico(image: bytes, size: int) -> bytes:
    """A Windows icon file holding one PNG image (what browsers fetch as /favicon.ico)."""
    header = struct.pack("<HHH", 0, 1, 1)
    entry = struct.pack("<BBBBHHII", size, size, 0, 0, 1, 32, len(image), 6 + 16)
    return header + entry + image


# --- HTML ------------------------------------------------------------------------------------
def _page(
    title: str,
    body: str,
    *,
    api: list[str],
    canonical: str,
    alternates: str = "",
    og_image: str | None = None,
) -> bytes:
    og = f'<meta property="og:image" content="https://{DOMAIN}{og_image}">\n' if og_image else ""
    props = html.escape(json.dumps({"api": api}), quote=True)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} - {DOMAIN}</title>
<link rel="icon" href="{FAVICON}" type="image/x-icon">
<link rel="apple-touch-icon" href="{TOUCH_ICON}" sizes="180x180">
<link rel="manifest" href="{MANIFEST}">
<link rel="stylesheet" href="{CSS}" media="all">
<script src="{JS_COMMON}" defer></script>
<script src="{JS_PUBLIC}" defer></script>
<link rel="canonical" href="https://{DOMAIN}{canonical}">
{alternates}<meta property="og:site_name" content="{DOMAIN}">
<meta property="og:title" content="{html.escape(title)}">
{og}</head>
<body class="app-body">
<div id="mastodon" data-props="{props}"></div>
<header class="header"><a href="/" class="brand"><img src="{LOGO}" alt="{DOMAIN}"></a>
<nav><a href="/explore">Explore</a> <a href="/about">About</a></nav></header>
<main>
{body}
</main>
<footer><a href="/about">About</a> <a href="/privacy-policy">Privacy policy</a>
<a href="https://joinmastodon.org" rel="noopener">Mastodon</a></footer>
</body>
</html>
""".encode()


def _article(s: Status, *, link: bool = True) -> str:
    a = s.account
    tags = " ".join(f'<a href="/tags/{t}" class="hashtag">#{t}</a>' for t in s.tags)
    media = f'<img class="media" src="{s.media_small}" alt="A photo.">' if s.media else ""
    when = s.created_at.strftime("%b %d, %Y, %H:%M")
    stamp = f'<a href="{s.path}"><time>{when}</time></a>' if link else f"<time>{when}</time>"
    return (
        f'<article class="status"><img class="avatar" src="{a.avatar}" alt="">'
        f'<a href="{a.profile_path}" class="display-name">{html.escape(a.display_name)}</a> '
        f"<p>{html.escape(s.text)} {tags}</p>{media}{stamp}</article>"
    )


def _html_files(site: Site) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    newest = list(reversed(site.statuses))
    people = "\n".join(
        f'<li><img class="avatar" src="{a.avatar}" alt=""><a href="{a.profile_path}">'
        f"{html.escape(a.display_name)}</a></li>"
        for a in site.accounts
    )
    tag_links = " ".join(f'<a href="/tags/{t}">#{t}</a>' for t in site.tags)
    files["index.html"] = _page(
        DOMAIN,
        f"<h1>{DOMAIN}</h1><p>A small Mastodon server.</p><ul>{people}</ul><p>{tag_links}</p>",
        api=["/api/v2/instance"],
        canonical="/",
    )
    files["about.html"] = _page(
        "About",
        "<h1>About</h1><p>Terms: no scraping, data mining, archiving or AI training. "
        "Browsers, search engines and federation are welcome.</p>",
        api=["/api/v2/instance", "/api/v1/instance/rules"],
        canonical="/about",
    )
    files["privacy-policy.html"] = _page(
        "Privacy policy",
        "<h1>Privacy policy</h1><p>We keep logs for 14 days.</p>",
        api=["/api/v1/instance/privacy_policy"],
        canonical="/privacy-policy",
    )
    files["explore.html"] = _page(
        "Explore",
        "<h1>Explore</h1>" + "\n".join(_article(s) for s in newest[:40]),
        api=[
            "/api/v1/trends/statuses",
            "/api/v1/trends/tags",
            "/api/v1/timelines/public?local=true",
        ],
        canonical="/explore",
    )
    for a in site.accounts:
        mine = [s for s in newest if s.account == a]
        files[f"@{a.username}.html"] = _page(
            f"{a.display_name} (@{a.username}@{DOMAIN})",
            f'<div class="profile"><img class="header" src="{a.header}" alt="">'
            f'<img class="avatar" src="{a.avatar}" alt=""><h1>{html.escape(a.display_name)}</h1>'
            f"<p>{html.escape(a.note)}</p></div>" + "\n".join(_article(s) for s in mine),
            api=[
                f"/api/v1/accounts/{a.acct_id}",
                f"/api/v1/accounts/{a.acct_id}/statuses?exclude_replies=true",
            ],
            canonical=a.profile_path,
            alternates=f'<link rel="alternate" type="application/rss+xml" href="/@{a.username}.rss">\n'
            f'<link rel="alternate" type="application/activity+json" '
            f'href="https://{DOMAIN}/users/{a.username}">\n',
            og_image=a.avatar,
        )
        files[f"@{a.username}.rss"] = _rss(a.display_name, a.profile_path, mine[:20])
        for i, s in enumerate(mine):
            nav = []
            if i + 1 < len(mine):
                nav.append(f'<a href="{mine[i + 1].path}" rel="prev">Older</a>')
            if i > 0:
                nav.append(f'<a href="{mine[i - 1].path}" rel="next">Newer</a>')
            files[f"@{a.username}/{s.id}.html"] = _page(
                f"{a.display_name}: {s.text[:40]}",
                _article(s, link=False) + f'<nav class="pager">{" ".join(nav)}</nav>',
                api=[f"/api/v1/statuses/{s.id}", f"/api/v1/statuses/{s.id}/context"],
                canonical=s.path,
                alternates=f'<link rel="alternate" type="application/activity+json" '
                f'href="https://{DOMAIN}{s.ap_path}">\n',
                og_image=s.media_small if s.media else a.avatar,
            )
    for t in site.tags:
        tagged = [s for s in newest if t in s.tags]
        files[f"tags/{t}.html"] = _page(
            f"#{t}",
            f"<h1>#{t}</h1>" + "\n".join(_article(s) for s in tagged),
            api=[f"/api/v1/timelines/tag/{t}"],
            canonical=f"/tags/{t}",
            alternates=f'<link rel="alternate" type="application/rss+xml" href="/tags/{t}.rss">\n',
        )
        files[f"tags/{t}.rss"] = _rss(f"#{t}", f"/tags/{t}", tagged[:20])
    files[CANARY.strip("/") + "/index.html"] = _page(
        "Archive", "<h1>Archive</h1><p>Nothing to see.</p>", api=[], canonical=CANARY
    )
    return files


def _rss(title: str, link: str, statuses: list[Status]) -> bytes:
    items = "\n".join(
        f'<item><guid isPermaLink="true">https://{DOMAIN}{s.path}</guid>'
        f"<link>https://{DOMAIN}{s.path}</link>"
        f"<pubDate>{s.created_at.strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
        f"<description>{html.escape(s.text)}</description></item>"
        for s in statuses
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0"><channel>'
        f"<title>{html.escape(title)}</title><link>https://{DOMAIN}{link}</link>"
        f"<description>Public posts</description>\n{items}\n</channel></rss>\n"
    ).encode()


# --- everything ------------------------------------------------------------------------------
def build_site(seed: int = 7) -> Site:
    """Every file of the site, and its map, for one seed."""
    rng = random.Random(seed)
    accounts, timeline = make_model(seed)
    local = [s for s in timeline if s.account.local]
    robots = (SITE_SOURCES / "robots.txt").read_text(encoding="utf-8")
    site = Site(
        files={},
        accounts=accounts,
        statuses=local,
        timeline=timeline,
        tags=TAGS,
        pages=[],
        robots_txt=robots,
    )
    files: dict[str, bytes] = {}
    for src in sorted(SITE_SOURCES.rglob("*")):
        if src.is_file():
            files[src.relative_to(SITE_SOURCES).as_posix()] = src.read_bytes()
    files.update(_html_files(site))
    files.update(api_files(accounts, local, timeline))
    files.update(federation_files(accounts, local))
    palette = [(92, 107, 192), (239, 108, 0), (67, 160, 71), (229, 57, 53), (142, 36, 170)]
    for i, a in enumerate(accounts):
        files[a.avatar.lstrip("/")] = png(46, 46, palette[i % len(palette)])
        files[a.header.lstrip("/")] = png(150, 50, palette[(i + 2) % len(palette)])
    for s in local:
        if s.media:
            files[s.media_small.lstrip("/")] = png(40, 30, palette[int(s.id) % 5])
            files[s.media_original.lstrip("/")] = png(160, 120, palette[int(s.id) % 5])
    for n in range(1, 13):
        # Remote media that the instance proxies (robots.txt keeps crawlers out of it).
        path = f"media_proxy/{108_500_000_000_000_000 + n * 31}/original"
        files[path] = png(64, 48, palette[n % 5])
        site.media_proxy.append("/" + path)
    files[TOUCH_ICON.lstrip("/")] = png(180, 180, palette[0])
    files[FAVICON.lstrip("/")] = ico(png(16, 16, palette[0]), 16)
    files[FONT.lstrip("/")] = bytes(rng.randrange(256) for _ in range(1500))
    files["emoji/blobcat.png"] = png(32, 32, palette[1])
    site.files = files
    site.pages = sorted(
        "/" + p.removesuffix(".html").removesuffix("index") if p != "index.html" else "/"
        for p in files
        if p.endswith(".html") and not p.startswith(CANARY.strip("/"))
    )
    return site


def write_site(site: Site, root: Path) -> None:
    """Write the site's files under root (for looking at it, or serving it by hand)."""
    for rel, data in site.files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
