"""Every web-server export loaded by the real program: config check, then real requests.

Clients bind distinct 127.x source addresses, so one run plays blocked and allowed
clients; `allow_private=False` lets the exporters emit loopback addresses for that.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import polars as pl
import pytest
from export_frames import OPTIONS, SCAN, frame, hostile_frame, offender
from servers import (
    DEFAULT_NGINX_LOCATIONS,
    Server,
    caddy_validate,
    caddyfile,
    haproxy_check,
    haproxy_config,
    have_ipv6_loopback,
    http_get,
    nginx_config,
    nginx_test,
    requires,
    run_backend,
    run_caddy,
    run_haproxy,
    run_nginx,
    write_site,
)

from scraperwatch import schema
from scraperwatch.exporters import (
    ExportFormat,
    ExportOptions,
    NginxContext,
    haproxy_frontend,
    nginx_check_snippet,
    render_export,
)

pytestmark = pytest.mark.server

IPV6 = have_ipv6_loopback()
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
GPTBOT = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"

# Twenty addresses that do not collapse, so the loopback entries land beyond the first
# line of Caddy's remote_ip (16 per line): a test that every line counts.
FILLER = [offender(f"11.0.0.{2 * i + 1}") for i in range(20)]
LOCAL_FRAME = pl.concat(
    [
        frame(
            *FILLER,
            offender("127.0.0.5"),
            offender("127.0.1.0/24", **{schema.CATEGORY: "scraper"}),  # a prefix offender
            offender("127.0.0.7", **{schema.ACTION: "watch"}),
            offender("127.0.0.8", **{schema.ACTION: "allow"}),
            *([offender("::1")] if IPV6 else []),
        ),
        SCAN,
        hostile_frame(),  # valid addresses elsewhere, hostile strings in every other field
    ]
)


def local_options(status: int = 403, context: NginxContext = NginxContext.SERVER) -> ExportOptions:
    return ExportOptions(
        agent_tokens=("GPTBot", "CCBot", "Brightbot 1.0", "meta-externalagent"),
        never_block=("127.0.1.9",),  # the admin's monitoring host inside the blocked /24
        allow_private=False,
        status=status,
        context=context,
        ruleset_digest="sha256:test",
        expiry_days=7,
    )


# (source address, user agent, path, blocked by address, blocked by user agent)
CASES = [
    ("127.0.0.5", BROWSER, "/", True, False),
    ("127.0.0.5", BROWSER, "/robots.txt", False, False),
    ("127.0.1.77", BROWSER, "/page.html", True, False),
    ("127.0.1.9", BROWSER, "/", False, False),  # allowlisted inside the blocked prefix
    ("127.0.0.6", BROWSER, "/", False, False),
    ("127.0.0.7", BROWSER, "/", False, False),  # watch verdict: not blocked
    ("127.0.0.8", BROWSER, "/", False, False),  # allow verdict
    ("127.0.0.6", GPTBOT, "/", False, True),
    ("127.0.0.6", "gptbot/1.0", "/page.html", False, True),  # case-insensitive
    ("127.0.0.6", GPTBOT, "/robots.txt", False, False),  # robots.txt stays reachable
    ("127.0.0.6", "Brightbot 1.0", "/", False, True),  # a token with a space
    (
        "127.0.0.6",
        "meta-externalagent/1.1 (+https://developers.facebook.com/docs/sharing/webmasters/crawler)",
        "/",
        False,
        True,
    ),
    ("127.0.0.6", "NotGPTBotX/1.0", "/", False, False),  # word-bounded
    ("127.0.0.6", "CCBotanist", "/", False, False),
    ("127.0.0.6", None, "/", False, False),  # no user agent at all
    ("127.0.0.6", '"; } PWNED { $x \\ #', "/", False, False),  # hostile UA: no effect
    (
        "127.0.0.6",
        "http.rb/5.1.1 (Mastodon/4.2.8; +https://mastodon.example/)",
        "/users/alice",
        False,
        False,
    ),
]


@dataclass(frozen=True)
class Expect:
    status: int  # the status of a blocked request; 444 means the connection is closed
    addresses: bool = True  # the variant blocks addresses
    agents: bool = True  # the variant blocks user agents


def check_requests(srv: Server, expect: Expect) -> None:
    failures = []
    for source, agent, path, by_addr, by_agent in CASES:
        blocked = (by_addr and expect.addresses) or (by_agent and expect.agents)
        resp = http_get(srv.port, path, source=source, user_agent=agent)
        got = None if resp is None else resp.status
        want = (None if expect.status == 444 else expect.status) if blocked else 200
        if got != want:
            failures.append(f"{source} {agent!r} {path}: got {got}, want {want}")
    if IPV6 and expect.addresses and srv.name == "nginx":
        resp = http_get(srv.port, "/", host="::1", source="::1", user_agent=BROWSER)
        want = None if expect.status == 444 else expect.status
        if (resp.status if resp else None) != want:
            failures.append(f"::1: got {resp.status if resp else None}, want {want}")
    assert not failures, "\n".join(failures) + "\n" + srv.diagnostics()


# --- nginx -------------------------------------------------------------------------------
class NginxSnippets(TypedDict, total=False):
    http_snippet: str
    server_snippet: str
    locations: str


ROBOTS_ALLOW = "location = /robots.txt {\n    allow all;\n}\n"


@dataclass(frozen=True)
class NginxVariant:
    fmt: ExportFormat
    context: NginxContext
    status: int

    def snippets(self, include: Path) -> NginxSnippets:
        """Where the include goes, as docs/export.md tells users."""
        if self.fmt is ExportFormat.NGINX_MAP:
            return {
                "http_snippet": f"include {include};",
                "server_snippet": nginx_check_snippet(self.status),
            }
        if self.context is NginxContext.HTTP:
            return {
                "http_snippet": f"include {include};",
                "locations": ROBOTS_ALLOW + DEFAULT_NGINX_LOCATIONS,
            }
        if self.context is NginxContext.SERVER:
            return {
                "server_snippet": f"include {include};",
                "locations": ROBOTS_ALLOW + DEFAULT_NGINX_LOCATIONS,
            }
        return {
            "locations": (
                f"location / {{\n    include {include};\n    try_files $uri $uri/ @ok;\n}}\n"
                'location = /robots.txt {\n}\nlocation @ok {\n    return 200 "ok\\n";\n}'
            )
        }

    def expect(self) -> Expect:
        # `deny` always answers 403; the user-agent `if` uses the chosen status.
        if self.fmt is ExportFormat.NGINX_MAP:
            return Expect(self.status)
        if self.context is NginxContext.HTTP:
            return Expect(403, agents=False)
        return Expect(self.status, addresses=self.status != 444, agents=True)


NGINX_VARIANTS = [
    NginxVariant(ExportFormat.NGINX_MAP, NginxContext.HTTP, 403),
    NginxVariant(ExportFormat.NGINX_MAP, NginxContext.HTTP, 444),
    NginxVariant(ExportFormat.NGINX, NginxContext.HTTP, 403),
    NginxVariant(ExportFormat.NGINX, NginxContext.SERVER, 403),
    NginxVariant(ExportFormat.NGINX, NginxContext.LOCATION, 403),
]


def _id(v: NginxVariant) -> str:
    return f"{v.fmt.value}-{v.context.value}-{v.status}"


@requires("nginx")
@pytest.mark.parametrize("variant", NGINX_VARIANTS, ids=_id)
@pytest.mark.parametrize(
    ("name", "offenders", "options"),
    [
        ("scan", SCAN, OPTIONS),
        ("empty", schema.empty_offenders(), ExportOptions()),
        ("hostile", hostile_frame(), OPTIONS),
        ("local", LOCAL_FRAME, local_options()),
    ],
)
def test_nginx_t_accepts_every_output(
    tmp_path: Path,
    variant: NginxVariant,
    name: str,
    offenders: pl.DataFrame,
    options: ExportOptions,
) -> None:
    include = tmp_path / "scraperwatch.conf"
    opts = ExportOptions(
        **{**options.__dict__, "status": variant.status, "context": variant.context}
    )
    include.write_text(render_export(variant.fmt, offenders, opts))
    config = tmp_path / "nginx.conf"
    config.write_text(
        nginx_config(
            port=9,
            workdir=tmp_path,
            root=write_site(tmp_path / "html"),
            **variant.snippets(include),
        )
    )
    out = nginx_test(config, tmp_path)
    assert "test is successful" in out


@requires("nginx")
@pytest.mark.parametrize("variant", NGINX_VARIANTS, ids=_id)
def test_nginx_blocks_and_allows(tmp_path: Path, variant: NginxVariant) -> None:
    include = tmp_path / "scraperwatch.conf"
    include.write_text(
        render_export(variant.fmt, LOCAL_FRAME, local_options(variant.status, variant.context))
    )
    with run_nginx(tmp_path / "nginx", ipv6=IPV6, **variant.snippets(include)) as srv:
        check_requests(srv, variant.expect())
        # the access log shows what was refused, as the admin will see it
        assert (
            any(
                '"GET / HTTP/1.1" 403' in line and line.startswith("127.0.0.5 ")
                for line in srv.access_lines()
            )
            or variant.status == 444
        )


@requires("nginx")
def test_nginx_location_444_closes_for_user_agents(tmp_path: Path) -> None:
    variant = NginxVariant(ExportFormat.NGINX, NginxContext.LOCATION, 444)
    include = tmp_path / "scraperwatch.conf"
    include.write_text(
        render_export(variant.fmt, LOCAL_FRAME, local_options(444, NginxContext.LOCATION))
    )
    with run_nginx(tmp_path / "nginx", **variant.snippets(include)) as srv:
        assert http_get(srv.port, "/", source="127.0.0.6", user_agent=GPTBOT) is None
        resp = http_get(srv.port, "/", source="127.0.0.5", user_agent=BROWSER)
        assert resp is not None
        assert resp.status == 403


# --- Caddy -------------------------------------------------------------------------------
SITES = {
    # a plain static site
    "static": "import scraperwatch_block\ntry_files {path} /index.html\nfile_server",
    # Mastodon's usual shape: static files if they exist, everything else proxied
    "handle-blocks": (
        "import scraperwatch_block\n@static file\nhandle @static {\n\tfile_server\n}\n"
        'handle {\n\trespond "app" 200\n}'
    ),
}


@requires("caddy")
@pytest.mark.parametrize(
    ("name", "offenders", "options"),
    [
        ("scan", SCAN, OPTIONS),
        ("empty", schema.empty_offenders(), ExportOptions()),
        ("empty-with-tokens", schema.empty_offenders(), ExportOptions(agent_tokens=("GPTBot",))),
        ("hostile", hostile_frame(), OPTIONS),
        ("local-444", LOCAL_FRAME, local_options(444)),
    ],
)
def test_caddy_validate_accepts_every_output(
    tmp_path: Path, name: str, offenders: pl.DataFrame, options: ExportOptions
) -> None:
    snippet = tmp_path / "scraperwatch.caddy"
    snippet.write_text(render_export(ExportFormat.CADDY, offenders, options))
    config = tmp_path / "Caddyfile"
    config.write_text(
        caddyfile(
            port=9,
            root=write_site(tmp_path / "html"),
            access_log=tmp_path / "access.log",
            site_body=SITES["handle-blocks"],
            top=f"import {snippet}",
        )
    )
    caddy_validate(config, tmp_path)


@requires("caddy")
@pytest.mark.parametrize("site", list(SITES))
@pytest.mark.parametrize("status", [403, 444])
def test_caddy_blocks_and_allows(tmp_path: Path, site: str, status: int) -> None:
    snippet = tmp_path / "scraperwatch.caddy"
    snippet.write_text(render_export(ExportFormat.CADDY, LOCAL_FRAME, local_options(status)))
    with run_caddy(tmp_path / "caddy", site_body=SITES[site], top=f"import {snippet}") as srv:
        check_requests(srv, Expect(status))


# --- HAProxy -----------------------------------------------------------------------------
def _acl_files(tmp_path: Path, offenders: pl.DataFrame, options: ExportOptions) -> str:
    addr, ua = tmp_path / "scraperwatch-addr.acl", tmp_path / "scraperwatch-ua.acl"
    addr.write_text(render_export(ExportFormat.HAPROXY, offenders, options))
    ua.write_text(render_export(ExportFormat.HAPROXY_UA, offenders, options))
    return haproxy_frontend(str(addr), str(ua), status=options.status)


@requires("haproxy")
@pytest.mark.parametrize(
    ("name", "offenders", "options"),
    [
        ("scan", SCAN, OPTIONS),
        ("empty", schema.empty_offenders(), ExportOptions()),
        ("hostile", hostile_frame(), OPTIONS),
        ("local-444", LOCAL_FRAME, local_options(444)),
    ],
)
def test_haproxy_c_accepts_every_output(
    tmp_path: Path, name: str, offenders: pl.DataFrame, options: ExportOptions
) -> None:
    config = tmp_path / "haproxy.cfg"
    frontend = _acl_files(tmp_path, offenders, options)
    config.write_text(haproxy_config(port=9, backend_port=10, frontend=frontend, workdir=tmp_path))
    haproxy_check(config)


@requires("haproxy")
@pytest.mark.parametrize("status", [403, 444])
def test_haproxy_blocks_and_allows(tmp_path: Path, status: int) -> None:
    frontend = _acl_files(tmp_path, LOCAL_FRAME, local_options(status))
    with (
        run_backend() as backend,
        run_haproxy(tmp_path / "haproxy", backend_port=backend.port, frontend=frontend) as srv,
    ):
        check_requests(srv, Expect(status))
        resp = http_get(srv.port, "/robots.txt", source="127.0.0.5", user_agent=GPTBOT)
        assert resp is not None
        assert resp.body == b"backend /robots.txt\n"
        # blocked requests never reached the backend
        assert not any(
            client == "127.0.0.1" and path == "/" and "GPTBot" in h.get("User-Agent", "")
            for client, path, h in backend.requests
        )
