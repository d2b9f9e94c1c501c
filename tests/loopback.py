"""A throw-away HTTP server on 127.0.0.1 (an ephemeral port) for tests: fake LLM endpoints, listeners that
record whether anything reached them. Only the lifecycle lives here; each test brings its own handler."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class LoopbackServer:
    """Serves ``handler`` while used as a context manager; ``port`` and ``url`` (``/v1`` for endpoints) are known
    from construction on."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
