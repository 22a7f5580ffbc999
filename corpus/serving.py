"""Corpus stage: serve the site with a real nginx (two log formats) and a real Caddy.

The servers come from tests/servers.py (shared with the test suite): each runs as the current
user on a free port of 127.0.0.1 with all its files in a work folder, and is always stopped.
Only the site's routing lives here: Mastodon's paths mapped onto static files.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from servers import Server, run_caddy, run_nginx

# The custom format of the corpus: combined plus the request time and the virtual host.
CUSTOM_LOG_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" $request_time $host'
)

# A hundred clients keep connections alive at once; with fewer worker connections nginx closes
# idle ones under the clients' feet ("worker_connections are not enough, reusing connections").
# Debian's nginx.conf has 768.
WORKER_CONNECTIONS = 1024

# Query arguments reach file names only through these maps, which let digits and `true`
# through and nothing else.
NGINX_HTTP = r"""
map $arg_max_id $corpus_max_id {
    "" "";
    "~^(?<id>[0-9]{1,20})$" $id;
    default "-invalid";
}
map $arg_page $corpus_page {
    "true" "true";
    default "";
}
map $arg_resource $corpus_acct {
    "~^acct(:|%3[Aa])(?<user>[a-z0-9_]{1,30})(@|%40)social\.example$" $user;
    default "-none";
}
"""

_TYPES = """types {
    text/html html;
    text/plain txt;
    text/css css;
    application/javascript js;
    application/json json;
    application/rss+xml rss;
    image/png png;
    image/svg+xml svg;
    image/x-icon ico;
    font/woff2 woff2;
}"""

NGINX_LOCATIONS = f"""
# ActivityPub deliveries: accepted for processing, as Mastodon answers them.
location = /inbox {{
    if ($request_method = POST) {{
        return 202;
    }}
    return 405;
}}
location ~ ^/users/[a-z0-9_]+/inbox$ {{
    if ($request_method = POST) {{
        return 202;
    }}
    return 405;
}}
# Actors, statuses and outboxes: ActivityPub JSON (outbox pages by ?page=true&max_id=).
location /users/ {{
    types {{ }}
    default_type "application/activity+json; charset=utf-8";
    try_files $uri.json $uri/$corpus_page-$corpus_max_id.json =404;
}}
# The REST API: one file per resource, max_id pages as p-<max_id>.json.
location ^~ /api/ {{
    types {{ }}
    default_type "application/json; charset=utf-8";
    try_files $uri/p-$corpus_max_id.json $uri.json =404;
}}
location = /.well-known/webfinger {{
    types {{ }}
    default_type "application/jrd+json; charset=utf-8";
    try_files /.well-known/webfinger/acct:$corpus_acct@social.example.json =404;
}}
location ^~ /media_proxy/ {{
    types {{ }}
    default_type image/png;
}}
location / {{
{_TYPES}
    try_files $uri $uri.html $uri/index.html $uri.json =404;
}}
"""

CADDY_SITE = """
encode gzip
@inbox {
	method POST
	path /inbox /users/*/inbox
}
handle @inbox {
	respond 202
}
handle /users/* {
	header Content-Type "application/activity+json; charset=utf-8"
	try_files {path}.json {path}/{query.page}-{query.max_id}.json
	file_server
}
handle /api/* {
	header Content-Type "application/json; charset=utf-8"
	try_files {path}/p-{query.max_id}.json {path}.json
	file_server
}
handle /.well-known/webfinger {
	header Content-Type "application/jrd+json; charset=utf-8"
	try_files /.well-known/webfinger/{query.resource}.json
	file_server
}
handle /media_proxy/* {
	header Content-Type image/png
	file_server
}
handle {
	try_files {path} {path}.html {path}/index.html {path}.json
	file_server
}
"""


@dataclass(frozen=True)
class Served:
    """One server of the corpus and the log file it writes."""

    log_name: str  # the file name in the corpus output
    server: Server

    @property
    def base_url(self) -> str:
        return str(self.server.base_url)


@contextlib.contextmanager
def serve(workdir: Path, files: dict[str, bytes]) -> Iterator[list[Served]]:
    """nginx with `combined`, nginx with the custom format, and Caddy with its JSON log, all
    serving the same files; every one of them is stopped when the block ends."""
    with contextlib.ExitStack() as stack:
        combined = stack.enter_context(
            run_nginx(
                workdir / "nginx-combined",
                http_snippet=NGINX_HTTP,
                locations=NGINX_LOCATIONS,
                files=files,
                worker_connections=WORKER_CONNECTIONS,
            )
        )
        custom = stack.enter_context(
            run_nginx(
                workdir / "nginx-custom",
                http_snippet=NGINX_HTTP,
                locations=NGINX_LOCATIONS,
                log_format=CUSTOM_LOG_FORMAT,
                files=files,
                worker_connections=WORKER_CONNECTIONS,
            )
        )
        caddy = stack.enter_context(run_caddy(workdir / "caddy", site_body=CADDY_SITE, files=files))
        yield [
            Served("nginx-combined.log", combined),
            Served("nginx-custom.log", custom),
            Served("caddy.json", caddy),
        ]
