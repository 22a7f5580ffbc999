"""Test helper: a local HTTP mirror of the operators' range sources, on 127.0.0.1.

Serves tests/fixtures/ranges/mirror/<host>/<path> (the layout `ranges update --source-base`
expects) on a free port, answers 404 for missing files, and stalls on `slow` path prefixes so
that a client timeout can be tested. Always stopped when the `with` block ends.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

MIRROR = Path(__file__).parent / "fixtures" / "ranges" / "mirror"
SLOW_PREFIX = "/search.developer.apple.com/"
STALL_SECONDS = 2.0


class _Handler(SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.startswith(SLOW_PREFIX):
            time.sleep(STALL_SECONDS)
        with contextlib.suppress(OSError):  # the client may have given up (timeout case)
            super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out is expected here


@contextlib.contextmanager
def serve_mirror(root: Path = MIRROR) -> Iterator[str]:
    """Serve `root` on 127.0.0.1 and yield its base URL."""
    server = _Server(("127.0.0.1", 0), functools.partial(_Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
