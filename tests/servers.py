"""Test helper: run real nginx, Caddy and HAProxy (and a tiny Python backend) on 127.0.0.1.

Every server binds 127.0.0.1 (and ::1 when asked) on a free port, runs as the current user
with all its files (config, pid, logs, temp dirs, document root) under a temporary
directory, and is always stopped when its `with` block ends, even on failure:

    with run_nginx(tmp_path, http_snippet="include /x/block.conf;") as srv:
        resp = http_get(srv.port, "/", source="127.0.0.5", user_agent="GPTBot/1.1")
        assert resp is not None and resp.status == 403
    srv.access_log.read_text()       # the server's own access log, for ingest round trips

Clients pick their source address inside 127.0.0.0/8 (Linux routes the whole /8 to lo), so
one test can play many clients. Nothing here sends traffic outside 127.0.0.0/8 or ::1.
Tests that use these helpers carry `@pytest.mark.server` and `requires("nginx")` etc.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

LOCALHOST = "127.0.0.1"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0

# Debian installs nginx and haproxy in /usr/sbin, which is not always on a user's PATH.
_SEARCH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/sbin"])


def program(name: str) -> str | None:
    """The path of an installed server program, or None."""
    return shutil.which(name, path=_SEARCH)


def requires(name: str) -> pytest.MarkDecorator:
    """Skip the test when a program is not installed (CI installs nginx and caddy)."""
    return pytest.mark.skipif(program(name) is None, reason=f"{name} is not installed")


def have_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_port(host: str = LOCALHOST) -> int:
    """A TCP port that is free on host right now (bind to port 0, read it, release it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class ServerError(RuntimeError):
    """A server did not pass its config check or did not start; carries its output."""


@dataclass
class Server:
    """A running server process: where it listens and where its files are."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    workdir: Path
    config: Path
    output: Path  # the process's stdout and stderr
    access_log: Path | None = None
    error_log: Path | None = None
    root: Path | None = None
    host: str = LOCALHOST

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def access_lines(self) -> list[str]:
        if self.access_log is None or not self.access_log.exists():
            return []
        return self.access_log.read_text(encoding="utf-8", errors="replace").splitlines()

    def diagnostics(self) -> str:
        parts = []
        for p in (self.output, self.error_log):
            if p is not None and p.exists():
                parts.append(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL of its own process group)."""
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)  # the group this helper created
            self.proc.wait(timeout=STOP_TIMEOUT)


def wait_for_port(host: str, port: int, proc: subprocess.Popen[bytes], *, what: str) -> None:
    """Wait until host:port accepts connections; fail early if the process exits."""
    deadline = time.monotonic() + START_TIMEOUT
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(f"{what} exited with status {proc.returncode} before listening")
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise ServerError(f"{what} did not listen on {host}:{port} within {START_TIMEOUT:.0f} s")


def _check(argv: list[str], *, what: str, env: Mapping[str, str] | None = None) -> str:
    proc = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        raise ServerError(f"{what} failed (exit {proc.returncode}): {' '.join(argv)}\n{out}")
    return out


@contextlib.contextmanager
def _running(
    argv: list[str],
    *,
    name: str,
    port: int,
    workdir: Path,
    config: Path,
    env: Mapping[str, str] | None = None,
    ready_hosts: tuple[str, ...] = (LOCALHOST,),
    **extra: Any,
) -> Iterator[Server]:
    output = workdir / f"{name}.out"
    with output.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own process group, so stop() can end all of it
        )
    server = Server(
        name=name, port=port, proc=proc, workdir=workdir, config=config, output=output, **extra
    )
    try:
        try:
            for host in ready_hosts:
                wait_for_port(host, port, proc, what=name)
        except ServerError as err:
            raise ServerError(f"{err}\n{server.diagnostics()}") from None
        yield server
    finally:
        server.stop()


def write_site(root: Path, files: Mapping[str, str | bytes] | None = None) -> Path:
    """A small document root: index.html, page.html, robots.txt, plus the given files."""
    site: dict[str, str | bytes] = {
        "index.html": "<!doctype html><title>home</title><p>hello</p>\n",
        "page.html": "<!doctype html><title>page</title><p>a page</p>\n",
        "robots.txt": "User-agent: *\nDisallow: /private/\n",
    }
    site.update(files or {})
    for rel, content in site.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    return root


# --- HTTP client -------------------------------------------------------------------------
@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes


def http_get(
    port: int,
    path: str = "/",
    *,
    host: str = LOCALHOST,
    source: str | None = None,
    user_agent: str | None = "scraperwatch-tests",
    headers: Mapping[str, str] | None = None,
    method: str = "GET",
    timeout: float = 5.0,
) -> Response | None:
    """One request from a chosen source address; None when the server closes the connection
    without answering (nginx 444, Caddy abort, HAProxy reject).

    user_agent None sends no User-Agent header; the path and header values go out as given
    (latin-1 bytes), so tests can send odd user agents.
    """
    conn = http.client.HTTPConnection(
        host, port, timeout=timeout, source_address=(source, 0) if source else None
    )
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        if user_agent is not None:
            conn.putheader("User-Agent", user_agent.encode("latin-1", errors="replace"))
        for key, value in (headers or {}).items():
            conn.putheader(key, value.encode("latin-1", errors="replace"))
        conn.endheaders()
        resp = conn.getresponse()
        body = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        return None
    finally:
        conn.close()


# --- nginx -------------------------------------------------------------------------------
DEFAULT_NGINX_LOCATIONS = """\
location / {
    try_files $uri $uri/ @ok;
}
location @ok {
    return 200 "ok\\n";
}"""


def nginx_config(
    *,
    port: int,
    workdir: Path,
    root: Path,
    http_snippet: str = "",
    server_snippet: str = "",
    locations: str = DEFAULT_NGINX_LOCATIONS,
    log_format: str | None = None,
    log_escape: str | None = None,
    ipv6: bool = False,
    worker_connections: int = 64,
) -> str:
    """A minimal nginx.conf with everything under workdir; the access log is workdir/access.log.

    log_format is the format string as it would appear in nginx.conf (without quotes); when
    None the log uses nginx's predefined `combined`. Every path that is not a file in root
    answers 200 "ok" unless `locations` replaces the default location blocks.
    """
    tmp = workdir / "tmp"
    for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / sub).mkdir(parents=True, exist_ok=True)
    # As root, workers would switch to `nobody` and could not read the private temp dir.
    user = "user root root;\n" if os.geteuid() == 0 else ""
    if log_format is None:
        fmt_lines, fmt_name = "", "combined"
    else:
        escaped = log_format.replace("\\", "\\\\").replace("'", "\\'")
        escape = f" escape={log_escape}" if log_escape else ""
        fmt_lines, fmt_name = (
            f"log_format scraperwatch_test{escape} '{escaped}';\n",
            "scraperwatch_test",
        )
    listen_v6 = f"        listen [::1]:{port};\n" if ipv6 else ""
    return f"""\
{user}daemon off;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log notice;
events {{
    worker_connections {worker_connections};
}}
http {{
    types {{
        text/html html;
        text/plain txt;
        text/css css;
        application/javascript js;
        application/json json;
        image/png png;
    }}
    default_type application/octet-stream;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    {fmt_lines}
    access_log {workdir}/access.log {fmt_name};
{_indent(http_snippet, 4)}
    server {{
        listen {LOCALHOST}:{port};
{listen_v6}        server_name localhost;
        root {root};
{_indent(server_snippet, 8)}
{_indent(locations, 8)}
    }}
}}
"""


def _indent(text: str, n: int, pad_char: str = " ") -> str:
    pad = pad_char * n
    return "\n".join(pad + line if line.strip() else "" for line in text.splitlines())


def nginx_argv(workdir: Path, config: Path) -> list[str]:
    nginx = program("nginx")
    if nginx is None:
        raise ServerError("nginx is not installed")
    return [nginx, "-p", f"{workdir}/", "-c", str(config), "-e", str(workdir / "error.log")]


def nginx_test(config: Path, workdir: Path) -> str:
    """`nginx -t` on a config; raises ServerError with nginx's message when it fails."""
    return _check([*nginx_argv(workdir, config), "-t"], what="nginx -t")


@contextlib.contextmanager
def run_nginx(
    workdir: Path,
    *,
    http_snippet: str = "",
    server_snippet: str = "",
    locations: str = DEFAULT_NGINX_LOCATIONS,
    log_format: str | None = None,
    log_escape: str | None = None,
    files: Mapping[str, str | bytes] | None = None,
    ipv6: bool = False,
    worker_connections: int = 64,
) -> Iterator[Server]:
    """Check (`nginx -t`) and run nginx with the given snippets; stopped when the block ends."""
    workdir.mkdir(parents=True, exist_ok=True)
    root = write_site(workdir / "html", files)
    port = free_port()
    config = workdir / "nginx.conf"
    config.write_text(
        nginx_config(
            port=port,
            workdir=workdir,
            root=root,
            http_snippet=http_snippet,
            server_snippet=server_snippet,
            locations=locations,
            log_format=log_format,
            log_escape=log_escape,
            ipv6=ipv6,
            worker_connections=worker_connections,
        )
    )
    nginx_test(config, workdir)
    with _running(
        nginx_argv(workdir, config),
        name="nginx",
        port=port,
        workdir=workdir,
        config=config,
        ready_hosts=(LOCALHOST, "::1") if ipv6 else (LOCALHOST,),
        access_log=workdir / "access.log",
        error_log=workdir / "error.log",
        root=root,
    ) as server:
        yield server


# --- Caddy -------------------------------------------------------------------------------
def caddy_env(workdir: Path) -> dict[str, str]:
    """Keep Caddy's data and config directories (certificates, autosave) in workdir."""
    env = dict(os.environ)
    env.update(
        HOME=str(workdir),
        XDG_DATA_HOME=str(workdir / "data"),
        XDG_CONFIG_HOME=str(workdir / "config"),
    )
    return env


def caddyfile(
    *,
    port: int,
    root: Path,
    access_log: Path,
    site_body: str = "file_server",
    top: str = "",
    global_options: str = "",
) -> str:
    """A Caddyfile with one plain-HTTP site on 127.0.0.1:port logging JSON to access_log.

    top goes between the global options and the site (snippets, `import FILE`).
    """
    return f"""\
{{
\tadmin off
\tauto_https off
{_indent(global_options, 1, chr(9))}
}}
{top}
http://:{port} {{
\tbind {LOCALHOST}
\troot * {root}
\tlog {{
\t\toutput file {access_log}
\t\tformat json
\t}}
{_indent(site_body, 1, chr(9))}
}}
"""


def caddy_validate(config: Path, workdir: Path, *, adapter: str | None = "caddyfile") -> str:
    caddy = program("caddy")
    if caddy is None:
        raise ServerError("caddy is not installed")
    argv = [caddy, "validate", "--config", str(config)]
    if adapter:
        argv += ["--adapter", adapter]
    return _check(argv, what="caddy validate", env=caddy_env(workdir))


@contextlib.contextmanager
def run_caddy(
    workdir: Path,
    *,
    site_body: str = "file_server",
    top: str = "",
    global_options: str = "",
    config_text: str | None = None,
    json_config: Mapping[str, Any] | None = None,
    port: int | None = None,
    files: Mapping[str, str | bytes] | None = None,
) -> Iterator[Server]:
    """Validate and run Caddy; stopped when the block ends.

    By default the Caddyfile comes from caddyfile(site_body=..., top=...). config_text (a
    whole Caddyfile) or json_config (native JSON) replace it; pass the port they listen on.
    """
    caddy = program("caddy")
    if caddy is None:
        raise ServerError("caddy is not installed")
    workdir.mkdir(parents=True, exist_ok=True)
    root = write_site(workdir / "html", files)
    access_log = workdir / "access.log"
    if json_config is not None:
        if port is None:
            raise ValueError("json_config needs the port it listens on")
        config, adapter = workdir / "caddy.json", None
        config.write_text(json.dumps(json_config, indent=2))
    else:
        if config_text is None:
            port = free_port()
            config_text = caddyfile(
                port=port,
                root=root,
                access_log=access_log,
                site_body=site_body,
                top=top,
                global_options=global_options,
            )
        elif port is None:
            raise ValueError("config_text needs the port it listens on")
        config, adapter = workdir / "Caddyfile", "caddyfile"
        config.write_text(config_text)
    caddy_validate(config, workdir, adapter=adapter)
    argv = [caddy, "run", "--config", str(config)]
    if adapter:
        argv += ["--adapter", adapter]
    with _running(
        argv,
        name="caddy",
        port=port,
        workdir=workdir,
        config=config,
        env=caddy_env(workdir),
        access_log=access_log,
        root=root,
    ) as server:
        yield server


# --- HAProxy -----------------------------------------------------------------------------
def haproxy_config(*, port: int, backend_port: int, frontend: str = "", workdir: Path) -> str:
    """A minimal HTTP-mode HAProxy: frontend on 127.0.0.1:port, one backend server."""
    return f"""\
global
    maxconn 256
    pidfile {workdir}/haproxy.pid

defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s

frontend fe
    bind {LOCALHOST}:{port}
{_indent(frontend, 4)}
    default_backend be

backend be
    server app {LOCALHOST}:{backend_port}
"""


def haproxy_check(config: Path) -> str:
    haproxy = program("haproxy")
    if haproxy is None:
        raise ServerError("haproxy is not installed")
    return _check([haproxy, "-c", "-f", str(config)], what="haproxy -c")


@contextlib.contextmanager
def run_haproxy(workdir: Path, *, backend_port: int, frontend: str = "") -> Iterator[Server]:
    """Check (`haproxy -c`) and run HAProxy in the foreground in front of backend_port."""
    haproxy = program("haproxy")
    if haproxy is None:
        raise ServerError("haproxy is not installed")
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = workdir / "haproxy.cfg"
    config.write_text(
        haproxy_config(port=port, backend_port=backend_port, frontend=frontend, workdir=workdir)
    )
    haproxy_check(config)
    with _running(
        [haproxy, "-db", "-f", str(config)],
        name="haproxy",
        port=port,
        workdir=workdir,
        config=config,
    ) as server:
        yield server


# --- a tiny backend ----------------------------------------------------------------------
@dataclass
class Backend:
    port: int
    requests: list[tuple[str, str, dict[str, str]]] = field(
        default_factory=list
    )  # client, path, headers


@contextlib.contextmanager
def run_backend() -> Iterator[Backend]:
    """A threaded Python HTTP server on 127.0.0.1 answering 200 `backend <path>` to everything."""
    backend = Backend(port=0)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                backend.requests.append(
                    (self.client_address[0], self.path, dict(self.headers.items()))
                )
            body = f"backend {self.path}\n".encode("utf-8", errors="replace")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_HEAD = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            return

    httpd = ThreadingHTTPServer((LOCALHOST, 0), Handler)
    httpd.daemon_threads = True
    backend.port = int(httpd.server_address[1])
    thread = threading.Thread(target=httpd.serve_forever, name="test-backend", daemon=True)
    thread.start()
    try:
        yield backend
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=STOP_TIMEOUT)
